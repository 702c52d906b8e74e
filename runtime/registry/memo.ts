import { forgetOldest } from "../forget-oldest.js";

/**
 * Bounded memos of pure functions of strings. The registry turns the same keys and addresses
 * into each other on every read, write and watch event, and the subject-token codec under them
 * costs 5-15 µs a call (a per-character check, a UTF-8 round trip, a canonical re-encoding).
 * What throws is not remembered.
 */
export class Memo<T> {
  readonly #cache = new Map<string, T>();

  constructor(readonly size = 4_096) {}

  /** What `make` returns for `key`, made once while remembered. */
  get(key: string, make: () => T): T {
    if (this.#cache.has(key)) return this.#cache.get(key) as T;
    const value = make();
    // Oldest first out.
    if (this.#cache.size >= this.size) forgetOldest(this.#cache);
    this.#cache.set(key, value);
    return value;
  }
}

/** The memo key of an address's parts, each length-prefixed so that no two parts run together. */
export function partsKey(parts: { zone: string; entityType: string; id: string }): string {
  return `${parts.zone.length}:${parts.zone}${parts.entityType.length}:${parts.entityType}${parts.id}`;
}
