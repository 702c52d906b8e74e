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
  const moved: ArrayBuffer[] = [];
  try {
    const items = readNdjsonBytes(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), job.firstLine, setup.file, "bigint");
    // Handed over only when the output is NDJSON: every message is written on a line of its own.
    const pieces = migrateBatch(items, setup.from, setup.to, "ndjson", 0, migrate).map((piece) => {
      if (!("text" in piece) || typeof piece.text !== "string") return piece;
      // Encoded here, on a worker, and moved: the command's thread only writes the bytes.
      const bytes = utf8.encode(piece.text);
      moved.push(bytes.buffer as ArrayBuffer);
      return { ...piece, text: bytes };
    });
    result = { id: job.id, pieces };
  } catch (error) {
    result = { id: job.id, pieces: [], failure: (error as Error).stack ?? String(error) };
    moved.length = 0;
  }
  parentPort!.postMessage(result, moved);
});
