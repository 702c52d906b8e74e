/**
 * Bounded memos of pure functions of strings. The registry turns the same keys and addresses
 * into each other on every read, write and watch event, and the subject-token codec under them
 * costs 5-15 µs a call (a per-character check, a UTF-8 round trip, a canonical re-encoding).
 * What throws is not remembered.
 *
 * Kept in two generations, not trimmed from the front: a Map whose oldest entries are deleted
 * leaves their slots empty until V8 rebuilds the table, and those rebuilds came to about 1 µs of
 * every miss of a full memo (a new node's first event misses three of them). A value is made
 * in the newer generation; once that holds half the bound it becomes the older one, and the
 * previous older one is dropped whole. A value found in the older generation moves to the newer.
 */
export class Memo<T> {
  #newer = new Map<string, T>();
  #older = new Map<string, T>();

  constructor(readonly size = 4_096) {}

  /** What `make` returns for `key`, made once while remembered. */
  get(key: string, make: () => T): T {
    if (this.#newer.has(key)) return this.#newer.get(key) as T;
    const value = this.#older.has(key) ? (this.#older.get(key) as T) : make();
    if (this.#newer.size >= this.size >> 1) {
      this.#older = this.#newer;
      this.#newer = new Map();
    }
    this.#newer.set(key, value);
    return value;
  }
}

/** The memo key of an address's parts, each length-prefixed so that no two parts run together. */
export function partsKey(parts: { zone: string; entityType: string; id: string }): string {
  return `${parts.zone.length}:${parts.zone}${parts.entityType.length}:${parts.entityType}${parts.id}`;
}
