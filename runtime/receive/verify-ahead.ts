/**
 * Ed25519 verification on worker threads, ahead of the receive pipeline: the arithmetic of a
 * signature check costs more than everything else a received message needs, and one core does
 * only so many a second. A subscription prepares each message as it arrives (`prepare` in
 * receive/pipeline.ts: decoding, validation, the signer's key, the canonical bytes its signature
 * covers) and hands that check — key, bytes, signature — to a thread, which answers with the
 * verdict of `verifyEd25519` on exactly those bytes, by the same rule (R of small order refused,
 * then libsodium or OpenSSL). The pipeline then finishes the messages one by one, in order, with
 * those verdicts. A thread parses nothing and knows no key ring: it does the arithmetic alone,
 * so the verdicts, the refusals and their order are those of the single-threaded pipeline; only
 * the time differs.
 *
 * Neither side idles while the other has work: while the pipeline waits for a thread's
 * verdict on the message it has reached, it verifies, itself, the newest checks no thread has
 * started on (a slot per job in shared memory says who has it, claimed by compare-and-swap),
 * working from the other end of the queue, so on two cores both threads verify.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { smallOrderR, sodiumNativePath, verifyEd25519 } from "../trust/ed25519-verify.js";
import type { SignatureCheck } from "../trust/sign-message.js";

/**
 * The worker's source: node:crypto only (and sodium-native when the pipeline's thread found
 * it), so it runs from any build of onex (or none). It verifies by verifyEd25519's rule: R of
 * small order refused (the same function's source), then libsodium or OpenSSL. A job is one
 * array: the key's 32 bytes, the signature's 64, then the bytes signed.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createPublicKey, verify: opensslVerify } = require("node:crypto");
const smallOrderR = ${smallOrderR.toString()};
const sodium = workerData.sodium === undefined ? undefined : require(workerData.sodium);
// OpenSSL's key objects, by the key's bytes: a subscription's signers recur.
const keyObjects = new Map();
function keyObjectOf(raw) {
  const x = Buffer.from(raw).toString("base64url");
  let key = keyObjects.get(x);
  if (key === undefined) {
    if (keyObjects.size >= 4096) keyObjects.clear();
    key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
    keyObjects.set(x, key);
  }
  return key;
}
const verify = (key, message, signature) => !smallOrderR(signature) && (sodium === undefined ? opensslVerify(null, message, keyObjectOf(key), signature) : sodium.crypto_sign_verify_detached(signature, message, key));
const ANSWER_EVERY = 8;
// Who has each job (see SLOT_* below): a job the pipeline's thread stole is not verified here.
const slots = new Int32Array(workerData.slots);
const SLOT_MASK = workerData.mask;
// Set while the pipeline waits for an answer: then each answer goes back as soon as it is reached.
const waiting = new Int32Array(workerData.waiting);
parentPort.on("message", (jobs) => {
  // [id, verdict] pairs: 1 valid, 0 not, -1 stolen (verified by the pipeline's thread).
  let out = [];
  for (const job of jobs) {
    // Answers go back a few at a time, so the pipeline starts on the first while the rest are
    // checked, and at once when the pipeline is waiting for one.
    if (out.length === 2 * ANSWER_EVERY || (out.length > 0 && Atomics.load(waiting, 0) === 1)) {
      parentPort.postMessage(out);
      out = [];
    }
    if (Atomics.compareExchange(slots, job.id & SLOT_MASK, 0, 1) !== 0) {
      out.push(job.id, -1);
      continue;
    }
    let valid = false;
    try {
      valid = verify(job.packed.subarray(0, 32), job.packed.subarray(96), job.packed.subarray(32, 96));
    } catch {
      valid = undefined;
    }
    out.push(job.id, valid === undefined ? -1 : valid ? 1 : 0);
  }
  parentPort.postMessage(out);
});
`;

/** Jobs per message to a thread: a burst goes out in slices as it is prepared, so a thread starts on it early. */
const SLICE = 8;

/**
 * One slot per job in flight, in a ring shared with the threads: free (the job is nobody's
 * yet), a thread's, or stolen by the pipeline's thread. A slot is freed when the thread's answer
 * for its job arrives, so it is reused only once the thread is done with it.
 */
const SLOTS = 1 << 16;
const SLOT_MASK = SLOTS - 1;
const SLOT_FREE = 0;
const SLOT_PIPELINE = 2;

/** A signature check handed to the threads. */
export interface AheadJob {
  readonly id: number;
  /** Settles with the verdict, or undefined when the pipeline must verify it itself. */
  readonly result: Promise<boolean | undefined>;
}

/** A job not yet answered by its thread. */
interface Entry {
  check: SignatureCheck;
  resolve: (valid: boolean | undefined) => void;
  /** Its verdict is out; for a job this thread stole, the thread's answer only frees the slot. */
  done: boolean;
}

interface Job {
  id: number;
  /** The key's 32 bytes, the signature's 64, then the bytes signed. */
  packed: Uint8Array;
}

/** How many verification threads to start by default: one per core but the one the pipeline runs on. */
export function defaultVerifyThreads(): number {
  return Math.max(0, availableParallelism() - 1);
}

/** A pool of verification threads. */
export class VerifyAhead {
  readonly #workers: Worker[];
  /** Jobs submitted and not yet answered by their thread, oldest first. */
  readonly #pending = new Map<number, Entry>();
  readonly #slots = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  /** 1 while the pipeline waits for a thread's answer (to the job #awaited), so threads send answers one by one. */
  readonly #waiting = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  #awaited = -1;
  #queued: Job[] = [];
  /** Ids of pending jobs in the order submitted: `steal` takes from the end. */
  #stealable: number[] = [];
  #next = 0;
  #turn = 0;
  #dead = false;

  /** `library` "OpenSSL" makes the threads verify with node:crypto even where libsodium is loaded (the two give the same verdicts: tested). */
  constructor(threads = defaultVerifyThreads(), library?: "OpenSSL") {
    const sodium = library === "OpenSSL" ? undefined : sodiumNativePath();
    this.#workers = Array.from({ length: Math.max(0, threads) }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { slots: this.#slots.buffer, mask: SLOT_MASK, waiting: this.#waiting.buffer, sodium } });
      // Never what keeps a process alive: a client not closed still lets it exit.
      worker.unref();
      worker.on("message", (answers: number[]) => {
        for (let i = 0; i < answers.length; i += 2) this.#settle(answers[i]!, answers[i + 1]!);
      });
      // A worker that fails is a worker whose answers are not waited for: everything is verified in the pipeline.
      const fail = () => this.#fail();
      worker.on("error", fail);
      worker.on("exit", fail);
      return worker;
    });
    if (this.#workers.length === 0) this.#dead = true;
  }

  /** Whether checks are verified ahead at all (threads were started and none failed). */
  get active(): boolean {
    return !this.#dead;
  }

  /** Starts verifying one prepared signature check. */
  submit(check: SignatureCheck): AheadJob {
    const id = this.#next++;
    // A slot still held by the job SLOTS before this one (a thread far behind): verified in the pipeline.
    if (this.#dead || Atomics.load(this.#slots, id & SLOT_MASK) !== SLOT_FREE || this.#pending.has(id - SLOTS)) return { id, result: Promise.resolve(undefined) };
    // One array of its own per job: a small Buffer is a view of a shared 8 KiB slab, all of
    // which a postMessage would copy.
    const packed = new Uint8Array(96 + check.bytes.length);
    packed.set(check.key.raw, 0);
    packed.set(check.signature, 32);
    packed.set(check.bytes, 96);
    const result = new Promise<boolean | undefined>((resolve) => this.#pending.set(id, { check, resolve, done: false }));
    this.#queued.push({ id, packed });
    this.#stealable.push(id);
    // Ids of jobs long answered are dropped now and then, so the stack stays the size of the queue.
    if (this.#stealable.length > 2 * this.#pending.size + 64) this.#stealable = this.#stealable.filter((at) => this.#pending.get(at)?.done === false);
    // Checks prepared in one turn of the event loop go to a thread a slice at a time, the last
    // at the turn's end: a postMessage costs ~20 µs, and the subscription prepares messages
    // one microtask apart.
    if (this.#queued.length >= SLICE) this.#flush();
    else if (this.#queued.length === 1) setImmediate(() => this.#flush());
    return { id, result };
  }

  /**
   * The verdict on `job` when the pipeline reaches it. Until it is settled (`settled`), the
   * pipeline's thread should `steal()`: threads answer one by one meanwhile.
   */
  take(job: AheadJob): Promise<boolean | undefined> {
    if (!this.settled(job)) {
      // Jobs still waiting for the end of the event-loop turn go to the threads now.
      this.#flush();
      this.#awaited = job.id;
      Atomics.store(this.#waiting, 0, 1);
    }
    return job.result;
  }

  /** Whether `job` has its verdict (or its answer that there is none). */
  settled(job: AheadJob): boolean {
    return this.#pending.get(job.id)?.done ?? true;
  }

  /** Verifies here the newest check no thread has started on; false when there is none. */
  steal(): boolean {
    // Newest first; an id a thread has (or has answered) is dropped on the way.
    for (let id = this.#stealable.pop(); id !== undefined; id = this.#stealable.pop()) {
      const entry = this.#pending.get(id);
      if (entry === undefined || entry.done || Atomics.compareExchange(this.#slots, id & SLOT_MASK, SLOT_FREE, SLOT_PIPELINE) !== SLOT_FREE) continue;
      entry.done = true;
      if (id === this.#awaited) Atomics.store(this.#waiting, 0, 0);
      const { key, bytes, signature } = entry.check;
      entry.resolve(verifyEd25519(key, bytes, signature));
      return true;
    }
    return false;
  }

  async close(): Promise<void> {
    this.#fail();
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }

  #flush(): void {
    const jobs = this.#queued;
    if (jobs.length === 0) return;
    this.#queued = [];
    if (this.#dead) {
      for (const job of jobs) this.#settle(job.id, -1);
      return;
    }
    this.#workers[this.#turn++ % this.#workers.length]!.postMessage(jobs);
  }

  /** A thread's answer on job `id`: 1 valid, 0 not, -1 no verdict (the job was stolen, or the thread could not verify it). */
  #settle(id: number, verdict: number): void {
    const entry = this.#pending.get(id);
    if (entry === undefined) return;
    this.#pending.delete(id);
    // The thread is done with the job's slot (it verified it, or found it stolen).
    Atomics.store(this.#slots, id & SLOT_MASK, SLOT_FREE);
    if (id === this.#awaited) Atomics.store(this.#waiting, 0, 0);
    if (entry.done) return;
    entry.done = true;
    entry.resolve(verdict === -1 ? undefined : verdict === 1);
  }

  #fail(): void {
    this.#dead = true;
    for (const entry of this.#pending.values()) if (!entry.done) entry.resolve(undefined);
    this.#pending.clear();
    this.#stealable = [];
    // The main thread verifies everything from now on: the other threads would only idle.
    for (const worker of this.#workers) void worker.terminate().catch(() => undefined);
  }
}
