/**
 * A worker thread of `onex migrate`: reads the NDJSON lines it is handed (exactly as the
 * command's own reader would), validates and migrates them, and hands back the pieces of
 * output in order, the output text as UTF-8 bytes moved back to the command's thread. Started
 * by MigratePool (cli/migrate-pool.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { migrateBatch, type MigrateFn } from "./migrate-batch.js";
import { OutputBytes } from "./migrate-output-bytes.js";
import { readNdjsonBytes } from "./message-input.js";
import type { MigrateJob, MigrateJobResult, MigrateWorkerSetup } from "./migrate-pool.js";

const setup = workerData as MigrateWorkerSetup;
// The same generated transforms the command opened; jobs posted meanwhile wait in the port.
const { migrate } = (await import(setup.transforms)) as { migrate: MigrateFn };
// Told once the adapters are loaded: until then the command migrates batches on its own thread.
parentPort!.postMessage("ready");

parentPort!.on("message", (job: MigrateJob) => {
  let result: MigrateJobResult;
  let moved: ArrayBuffer[];
  try {
    const items = readNdjsonBytes(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), job.firstLine, setup.file, "bigint");
    // Encoded here, on a worker, into the spare buffer (or one about the size of the input: v0.1 messages are a little
    // smaller than v0.2's), and moved: the command's thread only writes the bytes.
    const output = new OutputBytes(job.out, Math.max(job.bytes.byteLength + (job.bytes.byteLength >> 3), 1 << 16));
    // Handed over only when the output is NDJSON: every message is written on a line of its own.
    const pieces = migrateBatch(items, setup.from, setup.to, "ndjson", 0, migrate, output);
    // Every line has been read (the items hold copies), so the input buffer can go back too.
    moved = [...output.buffers, job.bytes.buffer as ArrayBuffer];
    result = { id: job.id, pieces, input: job.bytes.buffer as ArrayBuffer };
  } catch (error) {
    result = { id: job.id, pieces: [], failure: (error as Error).stack ?? String(error) };
    moved = [];
  }
  parentPort!.postMessage(result, moved);
});
