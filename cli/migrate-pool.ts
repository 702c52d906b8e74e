/**
 * Worker threads for `onex migrate` on NDJSON: reading, validating and migrating lines is
 * the whole cost of a large migration, and each line is independent, so batches of lines go
 * to workers round-robin and their results come back in input order. At most two batches per
 * worker are in flight, so memory stays flat however long the input is.
 */
import { Worker } from "node:worker_threads";
import { ErrorCode, OnexError } from "@onex/runtime";
import type { MigratedPiece } from "./migrate-batch.js";
import type { LineBatch } from "./message-input.js";

/** What every worker is told once. */
export interface MigrateWorkerSetup {
  file: string;
  from: string;
  to: string;
  /** URL of the generated transforms module to migrate with (cli/sdk.ts). */
  transforms: string;
}

/** One batch of NDJSON lines, joined with "\n". */
export interface MigrateJob {
  id: number;
  bytes: Uint8Array;
  firstLine: number;
}

export interface MigrateJobResult {
  id: number;
  /** Messages read from the batch. */
  read: number;
  pieces: MigratedPiece[];
  /** A fault of the worker itself (not a bad message): the run stops with it. */
  failure?: string;
}

const IN_FLIGHT_PER_WORKER = 2;

/** A pool of migrate workers that hands back results in the order batches were submitted. */
export class MigratePool {
  readonly #workers: Worker[];
  readonly #waiting = new Map<number, { resolve: (result: MigrateJobResult) => void; reject: (error: Error) => void }>();
  readonly #order: Promise<MigrateJobResult>[] = [];
  #next = 0;

  constructor(size: number, setup: MigrateWorkerSetup) {
    this.#workers = Array.from({ length: size }, () => {
      const worker = new Worker(new URL("./migrate-worker.js", import.meta.url), { workerData: setup });
      worker.on("message", (result: MigrateJobResult) => {
        const waiting = this.#waiting.get(result.id);
        this.#waiting.delete(result.id);
        if (result.failure !== undefined) waiting?.reject(new OnexError(ErrorCode.Internal, `a migrate worker failed: ${result.failure}`));
        else waiting?.resolve(result);
      });
      worker.on("error", (error) => {
        for (const waiting of this.#waiting.values()) waiting.reject(error);
        this.#waiting.clear();
      });
      return worker;
    });
  }

  /** Whether the caller should take a result before submitting more. */
  get full(): boolean {
    return this.#order.length >= this.#workers.length * IN_FLIGHT_PER_WORKER;
  }

  get pending(): boolean {
    return this.#order.length > 0;
  }

  submit(batch: LineBatch): void {
    const id = this.#next++;
    let size = 0;
    for (const line of batch.lines) size += line.length + 1;
    // One buffer of its own, moved (not copied) to the worker.
    const bytes = new Uint8Array(new ArrayBuffer(Math.max(0, size - 1)));
    let at = 0;
    for (const [i, line] of batch.lines.entries()) {
      if (i > 0) bytes[at++] = 0x0a;
      bytes.set(line, at);
      at += line.length;
    }
    const result = new Promise<MigrateJobResult>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    // A rejection is taken by whoever awaits this batch's turn; until then it must not count as unhandled.
    result.catch(() => undefined);
    this.#order.push(result);
    const job: MigrateJob = { id, bytes, firstLine: batch.firstLine };
    this.#workers[id % this.#workers.length]!.postMessage(job, [bytes.buffer]);
  }

  /** The oldest batch's result. */
  async take(): Promise<MigrateJobResult> {
    return this.#order.shift()!;
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}
