/**
 * Ed25519 verification ahead of the receive pipeline, on worker threads: a signature check
 * costs more than everything else a received message needs, and one core checks only so
 * many per second. A subscription hands each message's bytes to a worker as soon as it
 * arrives; the worker parses them, builds the canonical bytes a message signature covers
 * (the envelope without `trust.signature`) and verifies them with the signer's key, if it
 * was told that key. The answer is only ever a hint for the same check on the main thread:
 * the pipeline runs every step as it does without workers, in the same order, and when it
 * reaches the signature it takes the worker's verdict only if the key, the bytes it
 * canonicalized itself and the signature are byte for byte the ones the worker checked
 * (see `withVerifiedAhead` in trust/signature.ts). Anything else — a key the worker was not
 * told, another envelope layout, an integer JSON.parse rounds, a worker that died — is
 * verified on the main thread. So the verdicts, the refusals and their order are those of
 * the single-threaded pipeline; only the time differs.
 *
 * Neither side idles while the other has work: while the pipeline waits for a thread's
 * verdict on the message it has reached, it verifies, itself, the newest messages no thread
 * has started on (a slot per job in shared memory says who has it, claimed by
 * compare-and-swap), working from the other end of the queue, so on two cores both threads
 * verify. Its own verdicts are taken under the same byte-for-byte rule as a thread's.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { canonicalBytes } from "../trust/canonical-json.js";
import { smallOrderR, sodiumNativePath, verifyEd25519 } from "../trust/ed25519-verify.js";
import type { KeyResolver } from "../trust/keys.js";
import type { VerifiedAhead } from "../trust/signature.js";

/**
 * The worker's source: node:crypto and JSON only (and sodium-native when the pipeline's thread
 * found it), so it runs from any build of onex (or none). It verifies by verifyEd25519's rule:
 * R of small order refused (the same function's source), then libsodium or OpenSSL.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createPublicKey, verify: opensslVerify } = require("node:crypto");
const smallOrderR = ${smallOrderR.toString()};
const sodium = workerData.sodium === undefined ? undefined : require(workerData.sodium);
const verify = (message, key, signature) => !smallOrderR(signature) && (sodium === undefined ? opensslVerify(null, message, key.object, signature) : sodium.crypto_sign_verify_detached(signature, message, key.raw));
const ANSWER_EVERY = 8;
const keys = new Map();
const decoder = new TextDecoder();
const encoder = new TextEncoder();
// Who has each job (see SLOT_* below): a job the pipeline's thread stole is not verified here.
const slots = new Int32Array(workerData.slots);
const SLOT_MASK = workerData.mask;
// Set while the pipeline waits for an answer: then each answer goes back as soon as it is reached.
const waiting = new Int32Array(workerData.waiting);
// RFC 8785 for parsed JSON values (what trust/canonical-json.ts produces for them).
function canon(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "string": return JSON.stringify(value);
    case "number": return String(value);
    case "boolean": return value ? "true" : "false";
  }
  if (Array.isArray(value)) return "[" + value.map(canon).join(",") + "]";
  const names = Object.keys(value).sort();
  let out = "{";
  for (const name of names) out += (out.length === 1 ? "" : ",") + JSON.stringify(name) + ":" + canon(value[name]);
  return out + "}";
}
parentPort.on("message", (m) => {
  if (m.keys) {
    for (const [id, raw] of m.keys) keys.set(id, { raw, object: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" }) });
    return;
  }
  let out = [];
  for (const job of m.jobs) {
    // Answers go back a few at a time, so the pipeline starts on the first while the rest are
    // checked, and at once when the pipeline is waiting for one.
    if (out.length === ANSWER_EVERY || (out.length > 0 && Atomics.load(waiting, 0) === 1)) {
      parentPort.postMessage(out);
      out = [];
    }
    if (Atomics.compareExchange(slots, job.id & SLOT_MASK, 0, 1) !== 0) {
      out.push({ id: job.id });
      continue;
    }
    try {
      const value = JSON.parse(decoder.decode(job.data));
      const trust = value !== null && typeof value === "object" ? value.trust : undefined;
      if (trust === null || typeof trust !== "object" || typeof trust.signer !== "string" || typeof trust.signature !== "string" || !trust.signature.startsWith("ed25519:")) {
        out.push({ id: job.id });
        continue;
      }
      const key = keys.get(trust.signer);
      if (key === undefined) {
        out.push({ id: job.id, signer: trust.signer });
        continue;
      }
      const { signature, ...unsigned } = trust;
      const sig = Buffer.from(signature.slice(8), "base64url");
      // Not a signature the pipeline would check: it refuses it itself.
      if (sig.length !== 64) {
        out.push({ id: job.id });
        continue;
      }
      const text = canon({ ...value, trust: unsigned });
      // One array per answer, of its own (a small Buffer is a view of a shared 8 KiB slab, all
      // of which a postMessage would copy): the key, the signature, the canonical bytes.
      const packed = new Uint8Array(96 + Buffer.byteLength(text));
      packed.set(key.raw, 0);
      packed.set(sig, 32);
      encoder.encodeInto(text, packed.subarray(96));
      out.push({ id: job.id, packed, valid: verify(packed.subarray(96), key, sig) });
    } catch {
      out.push({ id: job.id });
    }
  }
  parentPort.postMessage(out);
});
`;

/** Jobs per message to a thread. */
const SLICE = 32;

/**
 * One slot per job in flight, in a ring shared with the threads: free (the job is nobody's
 * yet), a thread's, or stolen by the pipeline's thread. A slot is freed when the thread's answer
 * for its job arrives, so it is reused only once the thread is done with it.
 */
const SLOTS = 1 << 16;
const SLOT_MASK = SLOTS - 1;
const SLOT_FREE = 0;
const SLOT_PIPELINE = 2;

/** A message handed to the threads. */
export interface AheadJob {
  readonly id: number;
  /** Settles with a verdict, or undefined when the pipeline must verify it itself. */
  readonly result: Promise<VerifiedAhead | undefined>;
}

/** A job not yet answered by its thread. */
interface Entry {
  data: Uint8Array;
  resolve: (result: VerifiedAhead | undefined) => void;
  /** Its verdict is out; for a job this thread stole, the thread's answer only frees the slot. */
  done: boolean;
}

const decoder = new TextDecoder();

interface Job {
  id: number;
  data: Uint8Array;
}

interface JobResult {
  id: number;
  signer?: string;
  /** The 32 bytes of the key, the 64 of the signature, then the canonical bytes checked. */
  packed?: Uint8Array;
  valid?: boolean;
}

/** How many verification threads to start by default: one per core but the one the pipeline runs on. */
export function defaultVerifyThreads(): number {
  return Math.max(0, availableParallelism() - 1);
}

/** A pool of verification threads for one key ring. */
export class VerifyAhead {
  readonly #keys: KeyResolver;
  readonly #workers: Worker[];
  /** Jobs submitted and not yet answered by their thread, oldest first. */
  readonly #pending = new Map<number, Entry>();
  readonly #slots = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  /** 1 while the pipeline waits for a thread's answer (to the job #awaited), so threads send answers one by one. */
  readonly #waiting = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  #awaited = -1;
  /** Key ids every worker was told (and the raw key told), so a key is sent once. */
  readonly #told = new Map<string, Uint8Array>();
  #queued: Job[] = [];
  /** Ids of pending jobs in the order submitted: `steal` takes from the end. */
  #stealable: number[] = [];
  #next = 0;
  #turn = 0;
  #dead = false;

  constructor(keys: KeyResolver, threads = defaultVerifyThreads()) {
    this.#keys = keys;
    this.#workers = Array.from({ length: Math.max(0, threads) }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { slots: this.#slots.buffer, mask: SLOT_MASK, waiting: this.#waiting.buffer, sodium: sodiumNativePath() } });
      // Never what keeps a process alive: a client not closed still lets it exit.
      worker.unref();
      worker.on("message", (results: JobResult[]) => {
        for (const result of results) this.#settle(result);
      });
      // A worker that fails is a worker whose answers are not waited for: everything is verified in the pipeline.
      const fail = () => this.#fail();
      worker.on("error", fail);
      worker.on("exit", fail);
      return worker;
    });
    if (this.#workers.length === 0) this.#dead = true;
  }

  /** Whether messages are verified ahead at all (threads were started and none failed). */
  get active(): boolean {
    return !this.#dead;
  }

  /** Starts checking one message's signature. */
  submit(data: Uint8Array): AheadJob {
    const id = this.#next++;
    // A slot still held by the job SLOTS before this one (a thread far behind): verified in the pipeline.
    if (this.#dead || Atomics.load(this.#slots, id & SLOT_MASK) !== SLOT_FREE || this.#pending.has(id - SLOTS)) return { id, result: Promise.resolve(undefined) };
    // Copied: the bytes are a view into the connection's read buffer, and posting a view to a
    // thread copies the whole buffer under it.
    const own = data.slice();
    const result = new Promise<VerifiedAhead | undefined>((resolve) => this.#pending.set(id, { data: own, resolve, done: false }));
    this.#queued.push({ id, data: own });
    this.#stealable.push(id);
    // Ids of jobs long answered are dropped now and then, so the stack stays the size of the queue.
    if (this.#stealable.length > 2 * this.#pending.size + 64) this.#stealable = this.#stealable.filter((at) => this.#pending.get(at)?.done === false);
    // Messages that arrive in one turn of the event loop go to a worker together, at its end:
    // a postMessage costs ~20 µs, and the subscription hands messages over one microtask apart.
    if (this.#queued.length === 1) setImmediate(() => this.#flush());
    return { id, result };
  }

  /**
   * The verdict on `job` when the pipeline reaches it. Until it is settled (`settled`), the
   * pipeline's thread should `steal()`: threads answer one by one meanwhile.
   */
  take(job: AheadJob): Promise<VerifiedAhead | undefined> {
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

  /**
   * Verifies here the newest job no thread has started on, as a thread would (its verdict is
   * taken under the same byte-for-byte rule); false when there is none.
   */
  steal(): boolean {
    // Newest first; an id a thread has (or has answered) is dropped on the way.
    for (let id = this.#stealable.pop(); id !== undefined; id = this.#stealable.pop()) {
      const entry = this.#pending.get(id);
      if (entry === undefined || entry.done || Atomics.compareExchange(this.#slots, id & SLOT_MASK, SLOT_FREE, SLOT_PIPELINE) !== SLOT_FREE) continue;
      entry.done = true;
      if (id === this.#awaited) Atomics.store(this.#waiting, 0, 0);
      entry.resolve(this.#verifyHere(entry.data));
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
      for (const job of jobs) this.#settle({ id: job.id });
      return;
    }
    // Spread over the threads in slices, so a burst is checked by all of them at once.
    for (let i = 0; i < jobs.length; i += SLICE) this.#workers[this.#turn++ % this.#workers.length]!.postMessage({ jobs: jobs.slice(i, i + SLICE) });
  }

  #settle(result: JobResult): void {
    const entry = this.#pending.get(result.id);
    if (entry === undefined) return;
    this.#pending.delete(result.id);
    // The thread is done with the job's slot (it verified it, or found it stolen).
    Atomics.store(this.#slots, result.id & SLOT_MASK, SLOT_FREE);
    if (result.id === this.#awaited) Atomics.store(this.#waiting, 0, 0);
    if (result.signer !== undefined) this.#tell(result.signer);
    if (entry.done) return;
    entry.done = true;
    const { packed, valid } = result;
    entry.resolve(valid === undefined || packed === undefined ? undefined : { keyRaw: packed.subarray(0, 32), signature: packed.subarray(32, 96), bytes: packed.subarray(96), valid });
  }

  /** What a thread does with a job, done on this thread (see WORKER_SOURCE); undefined where a thread would give no verdict. */
  #verifyHere(data: Uint8Array): VerifiedAhead | undefined {
    try {
      const value = JSON.parse(decoder.decode(data)) as { trust?: Record<string, unknown> } | null;
      const trust = value !== null && typeof value === "object" ? value.trust : undefined;
      if (trust === null || typeof trust !== "object" || typeof trust.signer !== "string" || typeof trust.signature !== "string" || !trust.signature.startsWith("ed25519:")) return undefined;
      const key = this.#keys(trust.signer);
      if (key === undefined || key.keyId !== trust.signer) return undefined;
      const { signature, ...unsigned } = trust;
      const sig = Buffer.from((signature as string).slice(8), "base64url");
      if (sig.length !== 64) return undefined;
      const bytes = canonicalBytes({ ...value, trust: unsigned });
      return { keyRaw: key.raw, bytes, signature: sig, valid: verifyEd25519(key, bytes, sig) };
    } catch {
      return undefined;
    }
  }

  /** Tells every worker the key of a signer it asked about, when the key ring holds one; later messages of that signer are verified ahead. */
  #tell(signer: string): void {
    const key = this.#keys(signer);
    if (key === undefined || key.keyId !== signer) return;
    const told = this.#told.get(signer);
    if (told !== undefined && Buffer.compare(told, key.raw) === 0) return;
    const raw = new Uint8Array(key.raw);
    this.#told.set(signer, raw);
    for (const worker of this.#workers) worker.postMessage({ keys: [[signer, raw]] });
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
