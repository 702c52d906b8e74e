/**
 * A worker thread of `onex migrate`: reads the NDJSON lines it is handed (exactly as the
 * command's own reader would), validates and migrates them, and hands back the pieces of
 * output in order, the output text as bytes moved back to the command's thread. Started by
 * MigratePool (cli/migrate-pool.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { migrateBatch, type MigrateFn } from "./migrate-batch.js";
import { readNdjsonBytes } from "./message-input.js";
import type { MigrateJob, MigrateJobResult, MigrateWorkerSetup } from "./migrate-pool.js";

const setup = workerData as MigrateWorkerSetup;
// The same generated transforms the command opened; jobs posted meanwhile wait in the port.
const { migrate } = (await import(setup.transforms)) as { migrate: MigrateFn };
const utf8 = new TextEncoder();
// Told once the adapters are loaded: until then the command migrates batches on its own thread.
parentPort!.postMessage("ready");

parentPort!.on("message", (job: MigrateJob) => {
  let result: MigrateJobResult;
  const moved = new Set<ArrayBuffer>();
  try {
    const items = readNdjsonBytes(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), job.firstLine, setup.file, "bigint");
    // Handed over only when the output is NDJSON: every message is written on a line of its own.
    const pieces = migrateBatch(items, setup.from, setup.to, "ndjson", 0, migrate);
    // Encoded here, on a worker, into the spare buffer when it has room, and moved: the command's thread only writes the bytes.
    const spare = job.out === undefined ? undefined : new Uint8Array(job.out);
    let used = 0;
    for (const piece of pieces) {
      if (!("text" in piece) || typeof piece.text !== "string") continue;
      const into = spare === undefined ? undefined : utf8.encodeInto(piece.text, spare.subarray(used));
      if (into !== undefined && into.read === piece.text.length) {
        piece.text = spare!.subarray(used, used + into.written);
        used += into.written;
      } else {
        piece.text = utf8.encode(piece.text);
      }
      moved.add(piece.text.buffer as ArrayBuffer);
    }
    // Every line has been read (the items hold copies), so the input buffer can go back too.
    moved.add(job.bytes.buffer as ArrayBuffer);
    result = { id: job.id, pieces, input: job.bytes.buffer as ArrayBuffer };
  } catch (error) {
    result = { id: job.id, pieces: [], failure: (error as Error).stack ?? String(error) };
    moved.clear();
  }
  parentPort!.postMessage(result, [...moved]);
});
