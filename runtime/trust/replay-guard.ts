/**
 * Replay protection with bounded memory. A message is remembered until the end of its
 * validity window: the earlier of `trust.expires_at` and its creation time plus `windowMs`.
 * Messages created longer ago than `windowMs` are refused outright, so ids never need to be
 * remembered longer than that. When memory is full the oldest id is forgotten and a
 * low-water mark rises to its window end: messages whose window ends at or before the mark
 * are refused as well, so forgetting an id can never let its replay through.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { createdAtOf, envelopeData, MAX_DATE_MS, toMillis, type EnvelopeInput } from "./envelope.js";
import { parseRfc3339 } from "./rfc3339-time.js";
import { forgetOldest } from "../forget-oldest.js";
import { checkPositive, checkWhole } from "../option-check.js";

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
  /** id → end of its window (ms), in insertion order. */
  readonly #seen = new Map<string, number>();
  #lowWater = Number.NEGATIVE_INFINITY;
  #nextSweep = Number.NEGATIVE_INFINITY;

  constructor(options: ReplayGuardOptions = {}) {
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
    const seenEnd = this.#seen.get(id);
    if (seenEnd !== undefined && seenEnd > at) throw replay(`message ${id} was already received`, "duplicate", id);
    if (end <= this.#lowWater) throw replay(`message ${id} is older than what the saturated replay window still remembers`, "saturated", id);
    this.#seen.delete(id);
    this.#remember(id, end, at);
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  #remember(id: string, end: number, now: number): void {
    // Sweeping is O(n), so under sustained saturation it runs at most a few times per window.
    if (this.#seen.size >= this.maxEntries && now >= this.#nextSweep) {
      for (const [seenId, seenEnd] of this.#seen) if (seenEnd <= now) this.#seen.delete(seenId);
      this.#nextSweep = now + this.windowMs / 16;
    }
    while (this.#seen.size >= this.maxEntries) {
      for (const [, end] of forgetOldest(this.#seen)) this.#lowWater = Math.max(this.#lowWater, end);
    }
    this.#seen.set(id, end);
  }
}

function replay(message: string, reason: string, id: string | undefined): OnexError {
  return new OnexError(ErrorCode.Replay, message, { reason, ...(id === undefined ? {} : { messageId: id }) });
}
