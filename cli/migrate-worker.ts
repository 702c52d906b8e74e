/**
 * A worker thread of `onex migrate`: reads the NDJSON lines it is handed (exactly as the
 * command's own reader would), validates and migrates them, and hands back the pieces of
 * output in order. Started by MigratePool (cli/migrate-pool.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { migrateBatch, type MigrateFn } from "./migrate-batch.js";
import { readNdjsonLines } from "./message-input.js";
import type { MigrateJob, MigrateJobResult, MigrateWorkerSetup } from "./migrate-pool.js";

const setup = workerData as MigrateWorkerSetup;
// The same generated transforms the command opened; jobs posted meanwhile wait in the port.
const { migrate } = (await import(setup.transforms)) as { migrate: MigrateFn };

parentPort!.on("message", (job: MigrateJob) => {
  let result: MigrateJobResult;
  try {
    const items = readNdjsonLines(splitLines(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength)), job.firstLine, setup.file, "bigint");
    // Handed over only when the output is NDJSON: every message is written on a line of its own.
    result = { id: job.id, read: items.length, pieces: migrateBatch(items, setup.from, setup.to, "ndjson", 0, migrate) };
  } catch (error) {
    result = { id: job.id, read: 0, pieces: [], failure: (error as Error).stack ?? String(error) };
  }
  parentPort!.postMessage(result);
});

/** The lines the pool joined with "\n" (none of them holds one). */
function splitLines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = bytes.indexOf(0x0a, start); nl !== -1; nl = bytes.indexOf(0x0a, start)) {
    lines.push(bytes.subarray(start, nl));
    start = nl + 1;
  }
  lines.push(bytes.subarray(start));
  return lines;
}
