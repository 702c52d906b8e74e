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
}

export interface MigrateJobResult {
  id: number;
  /** Output text as UTF-8 bytes (moved, not copied), and bad messages, in input order. */
  pieces: MigratedPiece[];
  /** A fault of the worker itself (not a bad message): the run stops with it. */
  failure?: string;
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

  constructor(size: number, setup: MigrateWorkerSetup) {
    this.#workers = Array.from({ length: size }, () => {
      const slot = { worker: new Worker(new URL("./migrate-worker.js", import.meta.url), { workerData: setup, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }), busy: 0, ready: false };
      slot.worker.on("message", (result: MigrateJobResult | "ready") => {
        if (result === "ready") {
          slot.ready = true;
          this.#ready = this.#workers.filter((w) => w.ready);
          return;
        }
        slot.busy--;
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
    const job: MigrateJob = { id, bytes, firstLine: batch.firstLine };
    slot.worker.postMessage(job, [bytes.buffer as ArrayBuffer]);
  }

  /** The oldest batch's result. */
  async take(): Promise<MigrateJobResult> {
    return this.#order.shift()!;
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map(({ worker }) => worker.terminate()));
  }
}
