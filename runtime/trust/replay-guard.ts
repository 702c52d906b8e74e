/**
 * Replay protection with bounded memory. A message is remembered, by its signer and id, until
 * the end of its validity window: the earlier of `trust.expires_at` and its creation time plus
 * `windowMs`. Messages created longer ago than `windowMs` are refused outright, so ids never
 * need to be remembered longer than that. When memory is full the id whose window ends first is
 * forgotten and a low-water mark rises to its window end: messages whose window ends at or
 * before the mark are refused as well, so forgetting an id can never let its replay through.
 * Forgetting the earliest end first keeps the mark below messages created now: ids dated ahead
 * (up to `skewMs`) by the thousand end later than any of them and are forgotten last.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { createdAtOf, envelopeData, MAX_DATE_MS, toMillis, type EnvelopeInput } from "./envelope.js";
import { parseRfc3339 } from "./rfc3339-time.js";
import { checkObject, checkPositive, checkWhole } from "../option-check.js";

/** Replay guard bounds. */
export interface ReplayGuardOptions {
  /** How long after creation a message is accepted, and so remembered at most (default 5 minutes). */
  windowMs?: number;
  /** Clock skew tolerated for messages from the future (default 30 s). */
  skewMs?: number;
  /** Message ids remembered at most (default 100 000). */
  maxEntries?: number;
}

/** Remembers accepted message ids for their validity window. */
export class ReplayGuard {
  readonly windowMs: number;
  readonly skewMs: number;
  readonly maxEntries: number;
  /** Signer and id → end of its window (ms). */
  readonly #seen = new Map<string, number>();
  /** The same, earliest end first: what is forgotten next. Pairs of a key since renewed are skipped. */
  readonly #byEnd = new EndHeap();
  #lowWater = Number.NEGATIVE_INFINITY;

  constructor(options: ReplayGuardOptions = {}) {
    checkObject("ReplayGuard", "options", options);
    this.windowMs = options.windowMs ?? 5 * 60_000;
    this.skewMs = options.skewMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 100_000;
    // A window of NaN accepted the same message twice (every comparison with NaN is false), one a
    // Date cannot hold broke every subscription that reads the stream's history, and one of "5000"
    // (from a config file) was concatenated rather than added, and let a day-old message through.
    checkPositive("ReplayGuard", "windowMs", this.windowMs, { max: MAX_DATE_MS });
    checkPositive("ReplayGuard", "skewMs", this.skewMs, { zero: true, max: MAX_DATE_MS });
    checkWhole("ReplayGuard", "maxEntries", this.maxEntries);
  }

  /**
   * Accepts a message the first time and records its id; throws ONEX_E_REPLAY when the id was
   * already accepted inside its window, or the message is outside the replay window.
   */
  accept(message: EnvelopeInput, now?: Date | number): void {
    const { key, end } = this.#judge(message, now);
    this.#remember(key, end);
  }

  /**
   * Refuses what `accept` refuses and remembers nothing: for a message judged and not delivered
   * (a version its subscription does not read), which must not take its id from the message that is.
   */
  check(message: EnvelopeInput, now?: Date | number): void {
    this.#judge(message, now);
  }

  /** Throws ONEX_E_REPLAY for a message `accept` refuses; its key and the end of its window otherwise. */
  #judge(message: EnvelopeInput, now: Date | number | undefined): { key: string; end: number } {
    const data = envelopeData(message);
    const id = data.id;
    if (typeof id !== "string" || id === "") throw replay("the message has no id to check for replay", "no-id", undefined);
    const at = toMillis(now, "now");
    const created = createdAtOf(data);
    if (Number.isNaN(created)) throw replay(`message ${id} has no readable creation time`, "no-time", id);
    if (created > at + this.skewMs) throw replay(`message ${id} claims to be created in the future (${new Date(created).toISOString()})`, "future", id);
    if (created + this.windowMs <= at) throw replay(`message ${id} is older than the ${this.windowMs} ms replay window`, "stale", id);
    const expires = parseRfc3339(data.trust.expires_at);
    const end = Math.min(created + this.windowMs, Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires);
    // An expired message is refused here too, so forgetting expired ids stays safe without the expiry policy.
    if (end <= at) throw replay(`message ${id} is past its validity window`, "expired", id);
    // Another signer's message under this id is another message (its signer is signed): were ids
    // remembered alone, one trusted member could use up another's ids before they arrive.
    const key = replayKeyOf(data);
    const seenEnd = this.#seen.get(key);
    if (seenEnd !== undefined && seenEnd > at) throw replay(`message ${id} was already received`, "duplicate", id);
    if (end <= this.#lowWater) throw replay(`message ${id} is older than what the saturated replay window still remembers`, "saturated", id);
    return { key, end };
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  #remember(key: string, end: number): void {
    this.#seen.set(key, end);
    this.#byEnd.push(end, key);
    // Ended windows go first: forgetting them raises the mark to no message still accepted. The
    // message just accepted may go too, when every other ends later: its replay then meets the mark.
    while (this.#seen.size > this.maxEntries) {
      const [firstEnd, firstKey] = this.#byEnd.pop()!;
      if (this.#seen.get(firstKey) !== firstEnd) continue;
      this.#seen.delete(firstKey);
      this.#lowWater = Math.max(this.#lowWater, firstEnd);
    }
    // Renewed keys leave pairs behind: rebuilt from what is remembered before they outnumber it.
    if (this.#byEnd.size > 2 * this.maxEntries + 1_024) this.#byEnd.rebuild(this.#seen);
  }
}

/** A binary min-heap of [end, key] pairs. */
class EndHeap {
  #ends: number[] = [];
  #keys: string[] = [];

  get size(): number {
    return this.#ends.length;
  }

  push(end: number, key: string): void {
    let i = this.#ends.length;
    this.#ends.push(end);
    this.#keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#ends[parent]! <= end) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#ends[i] = end;
    this.#keys[i] = key;
  }

  /** The pair with the earliest end, taken out; undefined when empty. */
  pop(): [number, string] | undefined {
    if (this.#ends.length === 0) return undefined;
    const top: [number, string] = [this.#ends[0]!, this.#keys[0]!];
    const end = this.#ends.pop()!;
    const key = this.#keys.pop()!;
    const n = this.#ends.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.#ends[child + 1]! < this.#ends[child]!) child++;
      if (this.#ends[child]! >= end) break;
      this.#move(child, i);
      i = child;
    }
    this.#ends[i] = end;
    this.#keys[i] = key;
    return top;
  }

  /** Only the pairs of `remembered`. */
  rebuild(remembered: Map<string, number>): void {
    this.#ends = [];
    this.#keys = [];
    for (const [key, end] of remembered) this.push(end, key);
  }

  #move(from: number, to: number): void {
    this.#ends[to] = this.#ends[from]!;
    this.#keys[to] = this.#keys[from]!;
  }
}

/** What a message is remembered by: its signer (a key id, which holds no line break) and its id (a message without a string id is never remembered). */
export function replayKeyOf(message: { id?: unknown; trust?: { signer?: unknown } }): string {
  const signer = message.trust?.signer;
  // Not String(id): a message judged before its schema may hold an object there whose own
  // `toString` is no function, and String() of it threw a TypeError (ONEX_E_INTERNAL).
  const id = message.id;
  return `${typeof signer === "string" ? signer : ""}\n${typeof id === "string" ? id : ""}`;
}

function replay(message: string, reason: string, id: string | undefined): OnexError {
  return new OnexError(ErrorCode.Replay, message, { reason, ...(id === undefined ? {} : { messageId: id }) });
}
