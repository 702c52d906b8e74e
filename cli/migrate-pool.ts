/**
 * Worker threads for `onex migrate` on NDJSON: reading, validating and migrating lines is
 * the whole cost of a large migration, and each line is independent, so batches of lines go
 * to workers and their results come back in input order. A batch's bytes are moved to the
 * worker, not copied, and its output comes back as bytes moved the same way, so this thread
 * only counts lines and writes. At most two batches per worker are in flight, so memory stays
 * flat however long the input is.
 */
import { Worker } from "node:worker_threads";
import { ErrorCode, OnexError } from "@onex/runtime";
import type { MigratedPiece } from "./migrate-batch.js";
import type { ByteBatch } from "./message-input.js";

/** What every worker is told once. */
export interface MigrateWorkerSetup {
  file: string;
  from: string;
  to: string;
  /** URL of the generated transforms module to migrate with (cli/sdk.ts). */
  transforms: string;
}

/** One batch of NDJSON lines (whole lines, as `readInputLineBatches` hands them over). */
export interface MigrateJob {
  id: number;
  bytes: Uint8Array;
  firstLine: number;
  /** A spare buffer to write the output into, when one has come back. */
  out?: ArrayBuffer;
}

export interface MigrateJobResult {
  id: number;
  /** Output text as UTF-8 bytes (moved, not copied), and bad messages, in input order. */
  pieces: MigratedPiece[];
  /** The job's input buffer, moved back for the next batch. */
  input?: ArrayBuffer;
  /** A fault of the worker itself (not a bad message): the run stops with it. */
  failure?: string;
}

/** Of the buffers the command's thread would otherwise allocate per batch, how many are kept for reuse, and their least size. */
const SPARES = 8;
const SPARE_BYTES = 1 << 19;

/**
 * Batch buffers that went to a worker and came back, for later batches. Allocating a fresh
 * ArrayBuffer per batch and direction made V8 run a full collection of the command's thread
 * every ~200 ms (for "external memory pressure"), most of what that thread spent.
 */
export class BatchBuffers {
  readonly #inputs: ArrayBuffer[] = [];
  readonly #outputs: ArrayBuffer[] = [];

  /** A buffer of `size` bytes for a batch's lines, in a spare ArrayBuffer when one is large enough. */
  input(size: number): Buffer {
    const spare = this.#inputs.findIndex((buffer) => buffer.byteLength >= size);
    const buffer = spare === -1 ? new ArrayBuffer(Math.max(size, SPARE_BYTES)) : this.#inputs.splice(spare, 1)[0]!;
    return Buffer.from(buffer, 0, size);
  }

  /** A spare buffer for a worker to write a batch's output into, if any. */
  output(): ArrayBuffer | undefined {
    return this.#outputs.pop();
  }

  returnInput(buffer: ArrayBuffer): void {
    if (this.#inputs.length < SPARES) this.#inputs.push(buffer);
  }

  /** Only once its bytes are written. */
  returnOutput(buffer: ArrayBuffer): void {
    if (this.#outputs.length < SPARES) this.#outputs.push(buffer);
  }
}

const IN_FLIGHT_PER_WORKER = 2;
/**
 * A worker's young generation: every message is garbage once written, so a smaller nursery
 * costs no measurable time and keeps each worker's heap from growing with the run (peak RSS
 * at 400,000 messages 258 -> 214 MiB). Large messages go to V8's large-object space, not here.
 */
const YOUNG_GENERATION_MB = 8;

/** A pool of migrate workers that hands back results in the order batches were submitted. */
export class MigratePool {
  readonly #workers: { worker: Worker; busy: number; ready: boolean }[];
  #ready: { worker: Worker; busy: number; ready: boolean }[] = [];
  readonly #waiting = new Map<number, { resolve: (result: MigrateJobResult) => void; reject: (error: Error) => void }>();
  readonly #order: Promise<MigrateJobResult>[] = [];
  #next = 0;

  constructor(
    size: number,
    setup: MigrateWorkerSetup,
    readonly buffers = new BatchBuffers(),
  ) {
    this.#workers = Array.from({ length: size }, () => {
      const slot = { worker: new Worker(new URL("./migrate-worker.js", import.meta.url), { workerData: setup, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }), busy: 0, ready: false };
      slot.worker.on("message", (result: MigrateJobResult | "ready") => {
        if (result === "ready") {
          slot.ready = true;
          this.#ready = this.#workers.filter((w) => w.ready);
          return;
        }
        slot.busy--;
        if (result.input !== undefined) this.buffers.returnInput(result.input);
        const waiting = this.#waiting.get(result.id);
        this.#waiting.delete(result.id);
        if (result.failure !== undefined) waiting?.reject(new OnexError(ErrorCode.Internal, `a migrate worker failed: ${result.failure}`));
        else waiting?.resolve(result);
      });
      slot.worker.on("error", (error) => {
        for (const waiting of this.#waiting.values()) waiting.reject(error);
        this.#waiting.clear();
      });
      return slot;
    });
  }

  /** Whether some worker has loaded the adapters and takes batches. */
  get ready(): boolean {
    return this.#ready.length > 0;
  }

  /** Whether the caller should take a result before submitting more. */
  get full(): boolean {
    return this.#order.length >= this.#ready.length * IN_FLIGHT_PER_WORKER;
  }

  get pending(): boolean {
    return this.#order.length > 0;
  }

  /** Moves `batch.bytes` (which must own its ArrayBuffer) to the least busy ready worker; only once `ready`. */
  submit(batch: ByteBatch): void {
    const id = this.#next++;
    const result = new Promise<MigrateJobResult>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    // A rejection is taken by whoever awaits this batch's turn; until then it must not count as unhandled.
    result.catch(() => undefined);
    this.#order.push(result);
    // Least busy rather than round-robin: a worker slowed by other work on the machine would hold up every turn after its own.
    const slot = this.#ready.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    const bytes = new Uint8Array(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
    const out = this.buffers.output();
    const job: MigrateJob = { id, bytes, firstLine: batch.firstLine, ...(out === undefined ? {} : { out }) };
    slot.worker.postMessage(job, out === undefined ? [bytes.buffer as ArrayBuffer] : [bytes.buffer as ArrayBuffer, out]);
  }

  /** The oldest batch's result. */
  async take(): Promise<MigrateJobResult> {
    return this.#order.shift()!;
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map(({ worker }) => worker.terminate()));
  }
}
