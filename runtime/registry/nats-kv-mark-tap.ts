/**
 * The marks of a NATS KV registry as they are published, for a watch on a single server.
 *
 * A lone server hands a published message to its subscribers as it reads it, before the stream
 * stores it, and sends a connection what it has for it in order. Subscribed on the connection
 * the watch's consumer delivers to, every mark stored before an entry therefore arrives ahead
 * of that entry. An entry whose bytes are the last mark published at its key may be reported
 * without reading the stored mark first; the watch reads it after (nats-kv.ts `#onEntry`). A
 * published mark may still lose its compare-and-set, or never be meant to win: a key whose
 * stored mark once turned out otherwise is read first for the rest of the watch, so a store
 * writer announcing old entries gains the early reports of one round trip per address, not a
 * stream of them.
 * Not for a cluster, where a publish reaches other servers' clients over routes.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { CanonicalAddress } from "./address.js";
import { MAX_REGISTRATION_CHARS, type MarkPublished } from "./registry.js";
import { forgetOldest } from "../forget-oldest.js";
import { readableHeaders } from "../jetstream/headers.js";

/** Keys whose last published mark is kept, waiting for their entries; and keys read first. */
const KEYS_KEPT = 1_024;
/**
 * Characters of published marks kept in all: anyone who may publish on the marks' subjects can
 * publish marks of a megabyte that are never stored (a compare-and-set that fails), and 1,024 of
 * them held a gigabyte in every watch. A mark longer than a registration can be is not kept at all.
 */
const CHARS_KEPT = 4 * 1_024 * 1_024;

export class MarkTap {
  /** The last mark published at each key, oldest first out: one whose entry never comes is not kept for long. */
  readonly #published = new Map<string, string>();
  /** Characters of the marks in #published. */
  #chars = 0;
  /** Keys whose stored mark once differed from the published one. */
  readonly #distrusted = new Set<string>();
  /** Set once more keys were distrusted than are kept: then every entry is read first. */
  #off = false;

  /**
   * Subscribes to the marks under `subjectPrefix` + `filter` until `signal` aborts. `parse` gives
   * the address of a key (undefined for a foreign one, or another spelling of an address's key);
   * `onMarkPublished` hears each mark as it arrives.
   */
  constructor(nc: NatsConnection, subjectPrefix: string, filter: string, parse: (key: string) => CanonicalAddress | undefined, signal: AbortSignal, onMarkPublished?: MarkPublished) {
    const sub = nc.subscribe(subjectPrefix + filter, {
      callback: (error, msg) => {
        if (error !== null) return;
        const k = msg.subject.slice(subjectPrefix.length);
        const key = parse(k);
        if (key === undefined) return;
        this.#forget(k);
        // A mark whose headers cannot be read (readableHeaders) is not taken early: it is read as stored.
        const headers = readableHeaders(() => msg.headers);
        if (headers === null || (headers?.get("KV-Operation") || "PUT") !== "PUT") return;
        // Bytes, not yet characters: a mark too long for a registration is neither decoded nor kept (its entry is read first).
        if (msg.data.length > 3 * MAX_REGISTRATION_CHARS) return;
        const value = msg.string();
        if (value.length > MAX_REGISTRATION_CHARS) return;
        while (this.#published.size > 0 && (this.#published.size >= KEYS_KEPT || this.#chars + value.length > CHARS_KEPT)) {
          for (const [, forgotten] of forgetOldest(this.#published)) this.#chars -= forgotten.length;
        }
        this.#published.set(k, value);
        this.#chars += value.length;
        onMarkPublished?.(key, value);
      },
    });
    signal.addEventListener("abort", () => sub.unsubscribe(), { once: true });
  }

  /** Whether an entry at `k` holding `value` may be reported before its stored mark is read; it then uses up that published mark. */
  take(k: string, value: string): boolean {
    if (this.#off || this.#distrusted.has(k) || this.#published.get(k) !== value) return false;
    this.#forget(k);
    return true;
  }

  #forget(k: string): void {
    const value = this.#published.get(k);
    if (value === undefined) return;
    this.#published.delete(k);
    this.#chars -= value.length;
  }

  /** The stored mark at `k` was not the published one: its entries are read first from now on. */
  distrust(k: string): void {
    if (this.#distrusted.size >= KEYS_KEPT) this.#off = true;
    else this.#distrusted.add(k);
  }
}
