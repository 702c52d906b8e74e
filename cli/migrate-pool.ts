/**
 * Worker threads for `onex migrate` on NDJSON: reading, validating and migrating lines is
 * the whole cost of a large migration, and each line is independent, so batches of lines go
 * to workers and their results come back in input order. A batch's bytes are read into memory
 * shared with the workers (BatchBuffers) and its output is written by the worker into shared
 * memory too, so nothing is copied and this thread only counts lines and writes. At most four
 * batches per worker, and about 64 MiB of input, are in flight, so memory stays flat however
 * long the input is and however long its lines.
 */
import { Worker } from "node:worker_threads";
import { ErrorCode, OnexError } from "@onex/runtime";
import type { MigratedPiece } from "./migrate-batch.js";
import type { ByteBatch, InputItem, InputShape, ItemOrigin } from "./message-input.js";

/** What every worker is told once. */
export interface MigrateWorkerSetup {
  file: string;
  from: string;
  to: string;
  /** URL of the generated transforms module to migrate with (cli/sdk.ts). */
  transforms: string;
}

/** What a worker is started with: the setup and the batch memory it shares with the command's thread. */
export interface MigrateWorkerData extends MigrateWorkerSetup {
  inputs: SharedArrayBuffer[];
  outputs: SharedArrayBuffer[];
  /** Int32 fields (PROGRESS_*) the worker updates around each message's migration, for the pool's watchdog. */
  progress: SharedArrayBuffer;
  /** The message time limit, in the stopped message's report. */
  messageTimeoutMs: number;
}

/** Incremented as a message's migration starts and as it ends: odd while one runs. */
export const PROGRESS_CALLS = 0;
/** The job the running message is in. */
export const PROGRESS_JOB = 1;
/** The running message's place among the job's migrate calls (0 is its first). */
export const PROGRESS_CALL = 2;

/** One batch of NDJSON lines (whole lines, as `readInputLineBatches` hands them over). */
export interface MigrateLinesJob {
  id: number;
  /** The lines: the first `length` bytes of shared input slot `input`, or bytes of their own (moved). */
  input: number | Uint8Array;
  length: number;
  firstLine: number;
  /** The shared output slot to write the output into, when one is free. */
  output?: number;
  /** Migrate calls (by place in the job) that ran past the time limit on a worker now ended: reported, not run again. */
  timedOut?: number[];
}

/** An InputItem as it crosses to a worker: an error as its code, message and details (a cloned OnexError would be a plain Error). */
export type PostedItem = ItemOrigin & ({ value: unknown } | { error: { code: string; message: string; details: unknown } });

/**
 * Messages read on the command's thread (the first lines, a JSON document or array, YAML):
 * migrated on a worker too, so the command's thread never runs a transform. An escape
 * function that never returns would otherwise hold that thread, and with it the signal
 * handlers that end the run and remove its temporary files (SIGTERM and SIGINT were ignored).
 */
export interface MigrateItemsJob {
  id: number;
  items: PostedItem[];
  shape: InputShape;
  writtenBefore: number;
  timedOut?: number[];
}

export type MigrateJob = MigrateLinesJob | MigrateItemsJob;

/** Output text in the job's shared output slot: bytes `start` to `end`. */
export interface SharedTextPiece {
  shared: [start: number, end: number];
  written: number;
}

/** A result as a worker posts it. */
export interface MigrateJobMessage {
  id: number;
  pieces: (MigratedPiece | SharedTextPiece)[];
  failure?: string;
}

export interface MigrateJobResult {
  id: number;
  /** Output text as UTF-8 bytes and bad messages, in input order. */
  pieces: MigratedPiece[];
  /** To call once the output text is written: the memory it is in serves a later batch. */
  written: () => void;
  /** A fault of the worker itself (not a bad message): the run stops with it. */
  failure?: string;
}

/** Batches being read into or written from besides those in flight: slots beyond IN_FLIGHT_PER_WORKER per worker. */
const SPARE_SLOTS = 4;
/**
 * Batches a worker is given before its first comes back: up to three wait queued (~12 ms of
 * work), so a worker does not sit idle while the command's thread, sharing the cores, waits to
 * run (with two, on a machine busy with other work, 1,000,000 messages took 7.5-12.4 s against
 * 6.3-8.2 s with four).
 */
const IN_FLIGHT_PER_WORKER = 4;
/**
 * Bytes of input in flight past which no more is submitted until a batch comes back (one batch
 * always may be). Batches of small lines never reach it; lines near the 64 MiB a line may hold
 * would otherwise go to every worker at once, each holding its line several times over while
 * it parses and writes it: 12 lines of 60 MB on 12 workers peaked at 2.5 GB, 1.5 GB with this bound.
 */
const MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
/** Input batches are a little over 256 KiB (LINE_BATCH_BYTES in message-input.ts); a larger one gets memory of its own. */
const INPUT_SLOT_BYTES = 1 << 19;
/** A batch's output is about the size of its input; when larger, the rest goes to memory of its own. */
const OUTPUT_SLOT_BYTES = (1 << 19) + (1 << 17);

/**
 * The memory batches are read into and their output written into: a few slots of
 * SharedArrayBuffer, shared with every worker once when it starts, so a batch is handed over
 * and its output handed back by slot number. Moving a new or returned ArrayBuffer to a thread
 * counts as external memory there: for the ~1.3 GB that came back from its workers the
 * command's thread ran a full collection every ~100 ms, marking and sweeping on V8's helper
 * threads too (its collector's time per million messages 0.63 s, now 0.13). A batch larger than
 * a slot, or one read while every slot is in use, gets an ArrayBuffer of its own, moved as before.
 */
export class BatchBuffers {
  readonly inputs: SharedArrayBuffer[];
  readonly outputs: SharedArrayBuffer[];
  // Free slots are taken last in, first out, so a run touches (and the process maps) only as many as it keeps busy.
  readonly #freeInputs: number[];
  readonly #freeOutputs: number[];

  /** Slots enough for `workers` workers' batches in flight (or the command's own thread alone). */
  constructor(workers = 1) {
    const slots = Math.max(workers, 1) * IN_FLIGHT_PER_WORKER + SPARE_SLOTS;
    this.inputs = Array.from({ length: slots }, () => new SharedArrayBuffer(INPUT_SLOT_BYTES));
    this.outputs = Array.from({ length: slots }, () => new SharedArrayBuffer(OUTPUT_SLOT_BYTES));
    this.#freeInputs = this.inputs.map((_, slot) => slot).reverse();
    this.#freeOutputs = this.outputs.map((_, slot) => slot).reverse();
  }

  /** A buffer of `size` bytes for a batch's lines: the start of a free input slot when it fits. */
  input(size: number): Buffer {
    const slot = size <= INPUT_SLOT_BYTES ? this.#freeInputs.pop() : undefined;
    return slot === undefined ? Buffer.from(new ArrayBuffer(size)) : Buffer.from(this.inputs[slot]!, 0, size);
  }

  /** The input slot `bytes` are in, if any. */
  inputSlot(bytes: Uint8Array): number | undefined {
    const slot = this.inputs.indexOf(bytes.buffer as SharedArrayBuffer);
    return slot === -1 ? undefined : slot;
  }

  /** Once a batch's lines are read: their slot serves a later batch. */
  returnInput(bytes: Uint8Array): void {
    const slot = this.inputSlot(bytes);
    if (slot !== undefined && !this.#freeInputs.includes(slot)) this.#freeInputs.push(slot);
  }

  /** A free output slot, if any. */
  outputSlot(): number | undefined {
    return this.#freeOutputs.pop();
  }

  /** Output slot `slot` as bytes, to write a batch's output into on this thread. */
  outputBytes(slot: number): Uint8Array {
    return new Uint8Array(this.outputs[slot]!);
  }

  /** Only once the output text in it is written: the output slot `buffer` is (other memory is left to the collector). */
  returnOutput(buffer: ArrayBufferLike): void {
    const slot = this.outputs.indexOf(buffer as SharedArrayBuffer);
    if (slot !== -1 && !this.#freeOutputs.includes(slot)) this.#freeOutputs.push(slot);
  }
}

/**
 * A worker's young generation: every message is garbage once written, so a smaller nursery
 * costs no measurable time and keeps each worker's heap from growing with the run (peak RSS
 * at 400,000 messages 258 -> 214 MiB). Large messages go to V8's large-object space, not here.
 */
const YOUNG_GENERATION_MB = 8;

/** How long one message's migration may run by default (`onex migrate --message-timeout`). */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 10_000;

/** A worker of the pool, and what the command's thread knows of it. */
interface WorkerSlot {
  worker: Worker;
  busy: number;
  ready: boolean;
  /** Jobs given to it whose result has not come back, to give to its replacement when it is ended. */
  jobs: Map<number, MigrateJob>;
  /** Its PROGRESS_* fields, and when PROGRESS_CALLS was last seen to change. */
  progress: Int32Array;
  seenCalls: number;
  seenAt: number;
  /** Ended by the watchdog: its exit is no failure. */
  replaced: boolean;
}

/** A pool of migrate workers that hands back results in the order batches were submitted. */
export class MigratePool {
  readonly #workers: WorkerSlot[] = [];
  #ready: WorkerSlot[] = [];
  readonly #waiting = new Map<number, { resolve: (result: MigrateJobResult) => void; reject: (error: Error) => void; bytes: Uint8Array | undefined; output: number | undefined }>();
  readonly #order: { result: Promise<MigrateJobResult>; bytes: number }[] = [];
  #bytesInFlight = 0;
  #next = 0;
  /** Why the pool stopped: a worker failed or exited on its own. Every waiting and later batch fails with it. */
  #failure: OnexError | undefined;
  #closing = false;
  #rejectFailed!: (error: OnexError) => void;
  /** Rejected with the pool's failure when it fails (never resolved), so a caller waiting on something else can stop at once. */
  readonly failed = new Promise<never>((_, reject) => (this.#rejectFailed = reject));
  #resolveReady!: () => void;
  /** Resolved once some worker has loaded the adapters; the command waits for it rather than migrate on its own thread. */
  readonly whenReady = new Promise<void>((resolve) => (this.#resolveReady = resolve));
  readonly #workerData: Omit<MigrateWorkerData, "progress">;
  readonly #watchdog: NodeJS.Timeout | undefined;

  constructor(
    size: number,
    setup: MigrateWorkerSetup,
    readonly buffers = new BatchBuffers(),
    /** How long one message's migration may run before its worker is ended and the message reported (ONEX_E_TRANSFORM_UNSOUND). */
    readonly messageTimeoutMs = DEFAULT_MESSAGE_TIMEOUT_MS,
  ) {
    // Not an unhandled rejection when nobody is waiting on it: submit and take throw the failure too.
    this.failed.catch(() => undefined);
    this.#workerData = { ...setup, inputs: buffers.inputs, outputs: buffers.outputs, messageTimeoutMs };
    for (let i = 0; i < size; i++) this.#workers.push(this.#start());
    // A transform (an escape function) that never returns cannot be interrupted on its own thread:
    // its worker is ended and replaced, and the message reported; the rest of its batches go on.
    this.#watchdog = setInterval(() => this.#watch(), Math.max(Math.min(messageTimeoutMs / 4, 1_000), 10));
    this.#watchdog.unref();
  }

  #start(jobs = new Map<number, MigrateJob>()): WorkerSlot {
    const progress = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
    const workerData: MigrateWorkerData = { ...this.#workerData, progress: progress.buffer as SharedArrayBuffer };
    const slot: WorkerSlot = { worker: new Worker(new URL("./migrate-worker.js", import.meta.url), { workerData, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }), busy: jobs.size, ready: false, jobs, progress, seenCalls: 0, seenAt: Date.now(), replaced: false };
    slot.worker.on("message", (message: MigrateJobMessage | "ready") => {
      // A result the worker posted as the watchdog ended it: its replacement runs the job again,
      // and settling it here too would hand its input and output slots back while the replacement writes to them.
      if (slot.replaced) return;
      if (message === "ready") {
        slot.ready = true;
        this.#ready = this.#workers.filter((w) => w.ready);
        this.#resolveReady();
        return;
      }
      slot.busy--;
      slot.jobs.delete(message.id);
      const waiting = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (waiting === undefined) return;
      // The worker has read every line: the batch's slot serves a later batch.
      if (waiting.bytes !== undefined) this.buffers.returnInput(waiting.bytes);
      const output = waiting.output === undefined ? undefined : this.buffers.outputs[waiting.output]!;
      const written = () => output && this.buffers.returnOutput(output);
      if (message.failure !== undefined) {
        written();
        waiting.reject(new OnexError(ErrorCode.Internal, `a migrate worker failed: ${message.failure}`));
        return;
      }
      // Output in the shared slot is read where it is: a view, not a copy.
      const pieces = message.pieces.map((piece) => ("shared" in piece ? { text: new Uint8Array(output!, piece.shared[0], piece.shared[1] - piece.shared[0]), written: piece.written } : piece));
      waiting.resolve({ id: message.id, pieces, written });
    });
    // A worker that throws outside a job, or exits, takes no more batches: were it left in the ready list, the
    // batches given to it would be lost (a message to a gone worker is dropped) and the run would wait for them forever.
    slot.worker.on("error", (error) => slot.replaced || this.#fail(`a migrate worker failed: ${String(error)}`));
    slot.worker.on("messageerror", (error) => slot.replaced || this.#fail(`a migrate worker's message could not be read: ${String(error)}`));
    slot.worker.on("exit", (code) => slot.replaced || this.#fail(`a migrate worker exited (code ${code})${slot.ready ? "" : " before loading the adapters"}`));
    // Jobs of a worker it replaces wait in its port until it has loaded the adapters.
    for (const job of jobs.values()) slot.worker.postMessage(job);
    return slot;
  }

  /** Ends a worker whose message has run past the time limit; its replacement takes its jobs, the stuck message reported, not run again. */
  #watch(): void {
    if (this.#closing || this.#failure !== undefined) return;
    const now = Date.now();
    for (const [i, slot] of this.#workers.entries()) {
      const calls = Atomics.load(slot.progress, PROGRESS_CALLS);
      if (calls !== slot.seenCalls || slot.busy === 0) {
        slot.seenCalls = calls;
        slot.seenAt = now;
        continue;
      }
      // Even: between messages (reading or encoding a batch), which no escape function runs in.
      if (calls % 2 === 0 || now - slot.seenAt < this.messageTimeoutMs) continue;
      const job = slot.jobs.get(Atomics.load(slot.progress, PROGRESS_JOB));
      if (job === undefined) continue;
      job.timedOut = [...(job.timedOut ?? []), Atomics.load(slot.progress, PROGRESS_CALL)];
      slot.replaced = true;
      void slot.worker.terminate();
      const replacement = this.#start(slot.jobs);
      replacement.ready = true;
      this.#workers[i] = replacement;
      this.#ready = this.#workers.filter((w) => w.ready);
    }
  }

  /** Whether some worker has loaded the adapters and takes batches; throws once the pool has failed (even before any was ready). */
  get ready(): boolean {
    if (this.#failure !== undefined) throw this.#failure;
    return this.#ready.length > 0;
  }

  /**
   * Stops the pool for good (not while closing: workers then exit as asked): every waiting batch
   * and every later submit and take fails with an internal error, and the other workers are
   * ended so they do not keep the process running.
   */
  #fail(message: string): void {
    if (this.#closing || this.#failure !== undefined) return;
    this.#failure = new OnexError(ErrorCode.Internal, message);
    this.#rejectFailed(this.#failure);
    for (const waiting of this.#waiting.values()) waiting.reject(this.#failure);
    this.#waiting.clear();
    this.#ready = [];
    clearInterval(this.#watchdog);
    for (const { worker } of this.#workers) void worker.terminate();
  }

  /** Whether the caller should take a result before submitting more. */
  get full(): boolean {
    return this.#order.length >= this.#ready.length * IN_FLIGHT_PER_WORKER || this.#bytesInFlight >= MAX_BYTES_IN_FLIGHT;
  }

  get pending(): boolean {
    return this.#order.length > 0;
  }

  /**
   * Hands `batch.bytes` to the least busy ready worker, by slot number when they are in an input
   * slot (else they are moved: they must own their ArrayBuffer); only once `ready`.
   */
  submit(batch: ByteBatch): void {
    if (this.#failure !== undefined) throw this.#failure;
    const id = this.#next++;
    const bytes = batch.bytes;
    const output = this.buffers.outputSlot();
    const result = new Promise<MigrateJobResult>((resolve, reject) => this.#waiting.set(id, { resolve, reject, bytes, output }));
    // A rejection is taken by whoever awaits this batch's turn; until then it must not count as unhandled.
    result.catch(() => undefined);
    this.#order.push({ result, bytes: bytes.byteLength });
    this.#bytesInFlight += bytes.byteLength;
    // Least busy rather than round-robin: a worker slowed by other work on the machine would hold up every turn after its own.
    const slot = this.#ready.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    const shared = this.buffers.inputSlot(bytes);
    const input = shared ?? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const job: MigrateJob = { id, input, length: bytes.byteLength, firstLine: batch.firstLine, ...(output === undefined ? {} : { output }) };
    slot.jobs.set(id, job);
    // Copied, not moved, when not in a shared slot: a worker ended by the watchdog leaves its jobs to be posted again.
    slot.worker.postMessage(job);
  }

  /** Hands messages read on the command's thread to the least busy ready worker (see MigrateItemsJob); only once `ready`. */
  submitItems(items: readonly InputItem[], shape: InputShape, writtenBefore: number): void {
    if (this.#failure !== undefined) throw this.#failure;
    const id = this.#next++;
    const result = new Promise<MigrateJobResult>((resolve, reject) => this.#waiting.set(id, { resolve, reject, bytes: undefined, output: undefined }));
    result.catch(() => undefined);
    this.#order.push({ result, bytes: 0 });
    const slot = this.#ready.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    const posted = items.map((item): PostedItem => ("error" in item ? { ...item, error: { code: item.error.code, message: item.error.message, details: item.error.details } } : item));
    const job: MigrateItemsJob = { id, items: posted, shape, writtenBefore };
    slot.jobs.set(id, job);
    slot.worker.postMessage(job);
  }

  /** The oldest batch's result. */
  async take(): Promise<MigrateJobResult> {
    if (this.#failure !== undefined) throw this.#failure;
    const oldest = this.#order.shift()!;
    this.#bytesInFlight -= oldest.bytes;
    return oldest.result;
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#watchdog);
    await Promise.all(this.#workers.map(({ worker }) => worker.terminate()));
  }
}
