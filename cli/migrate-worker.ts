/**
 * A worker thread of `onex migrate`: reads the NDJSON lines it is handed (exactly as the
 * command's own reader would), validates and migrates them, and hands back the pieces of
 * output in order, the output text as UTF-8 bytes in memory shared with the command's thread.
 * Started by MigratePool (cli/migrate-pool.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { ErrorCode, OnexError } from "@onex/runtime";
import { migrateBatch, type MigrateFn } from "./migrate-batch.js";
import { OutputBytes } from "./migrate-output-bytes.js";
import { readNdjsonBytes, type InputItem } from "./message-input.js";
import { PROGRESS_CALL, PROGRESS_CALLS, PROGRESS_JOB, type MigrateItemsJob, type MigrateJob, type MigrateJobMessage, type MigrateWorkerData, type PostedItem } from "./migrate-pool.js";

const setup = workerData as MigrateWorkerData;
// The same generated transforms the command opened; jobs posted meanwhile wait in the port.
const { migrate: migrateOne } = (await import(setup.transforms)) as { migrate: MigrateFn };

/**
 * For the pool's watchdog (MigratePool in migrate-pool.ts): PROGRESS_CALLS is odd while a
 * message is migrated, with the job and the call's place in it beside it. A message that
 * runs past the time limit has its worker ended; the job comes back to the replacement with
 * that call's place in `timedOut`, reported here instead of being run again.
 */
const progress = new Int32Array(setup.progress);
let job: { id: number; call: number; timedOut: readonly number[] } = { id: 0, call: 0, timedOut: [] };
const migrate: MigrateFn = (message, from, to) => {
  const call = job.call++;
  if (job.timedOut.includes(call)) {
    const type = message !== null && typeof message === "object" ? String((message as { type?: unknown }).type) : "-";
    throw new OnexError(ErrorCode.TransformUnsound, `the transform v${from} -> v${to} of ${type} did not finish within ${setup.messageTimeoutMs} ms on this message (an escape function that never returns?); it was stopped and the message not migrated`);
  }
  Atomics.store(progress, PROGRESS_JOB, job.id);
  Atomics.store(progress, PROGRESS_CALL, call);
  Atomics.add(progress, PROGRESS_CALLS, 1);
  try {
    return migrateOne(message, from, to);
  } finally {
    Atomics.add(progress, PROGRESS_CALLS, 1);
  }
};
// Told once the adapters are loaded: until then the command migrates batches on its own thread.
parentPort!.postMessage("ready");

parentPort!.on("message", migrateJob);

/** Starts counting `next`'s migrate calls: just before its messages are migrated, synchronously. */
function begin(next: MigrateJob): void {
  job = { id: next.id, call: 0, timedOut: next.timedOut ?? [] };
}

function migrateJob(job: MigrateJob): void {
  if ("items" in job) {
    parentPort!.postMessage(migrateItems(job));
    return;
  }
  let result: MigrateJobMessage;
  let moved: ArrayBuffer[] = [];
  try {
    const lines = typeof job.input === "number" ? Buffer.from(setup.inputs[job.input]!, 0, job.length) : Buffer.from(job.input.buffer, job.input.byteOffset, job.length);
    const items = readNdjsonBytes(lines, job.firstLine, setup.file, "bigint");
    // Encoded here, on a worker, into the shared output slot (or memory of its own about the size of the input: v0.1
    // messages are a little smaller than v0.2's): the command's thread only writes the bytes.
    const slot = job.output === undefined ? undefined : setup.outputs[job.output]!;
    const output = new OutputBytes(slot && new Uint8Array(slot), Math.max(job.length + (job.length >> 3), 1 << 16));
    // Handed over only when the output is NDJSON: every message is written on a line of its own.
    begin(job);
    const pieces = migrateBatch(items, setup.from, setup.to, "ndjson", 0, migrate, output);
    // Text in the shared slot goes back as where it is; text that outgrew it, in memory moved with the message.
    result = { id: job.id, pieces: pieces.map((piece) => ("text" in piece && typeof piece.text !== "string" && piece.text.buffer === slot ? { shared: [piece.text.byteOffset, piece.text.byteOffset + piece.text.byteLength], written: piece.written } : piece)) };
    moved = [...output.buffers].filter((buffer): buffer is ArrayBuffer => buffer !== slot);
  } catch (error) {
    result = { id: job.id, pieces: [], failure: (error as Error).stack ?? String(error) };
  }
  parentPort!.postMessage(result, moved);
}

/** Messages the command's thread read (see MigrateItemsJob): migrated here, their output as text. */
function migrateItems(job: MigrateItemsJob): MigrateJobMessage {
  try {
    const items = job.items.map(receivedItem);
    begin(job);
    return { id: job.id, pieces: migrateBatch(items, setup.from, setup.to, job.shape, job.writtenBefore, migrate) };
  } catch (error) {
    return { id: job.id, pieces: [], failure: (error as Error).stack ?? String(error) };
  }
}

/** An item as the command's thread read it: its error an OnexError again, its raw bytes a Buffer (a clone is a plain Uint8Array). */
function receivedItem(item: PostedItem): InputItem {
  const origin = item.rawBytes === undefined ? item : { ...item, rawBytes: Buffer.from(item.rawBytes.buffer, item.rawBytes.byteOffset, item.rawBytes.byteLength) };
  if (!("error" in origin)) return origin;
  const { code, message, details } = origin.error;
  return { ...origin, error: new OnexError(code as ErrorCode, message, details as OnexError["details"]) };
}
