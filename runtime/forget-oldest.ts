/**
 * Forgetting the oldest entry of a bounded Map in constant time.
 *
 * The runtime's memories (replay ids, acknowledged messages, verified entries, imported keys)
 * are Maps kept in insertion order and trimmed by deleting their first entry. Read as
 * `map.delete(map.keys().next().value)`, that is linear: V8 leaves a deleted entry's slot
 * empty until the table is rebuilt, and a fresh iterator walks every empty slot from the
 * start. A Map trimmed from the front therefore fills its start with empty slots, and each
 * trim walked them all: 1.7 µs a trim at 4,096 entries, 18 µs at 65,536; a subscription that
 * had accepted more than 100,000 message ids spent 10 µs a message on it, 67 µs after
 * 300,000 (it had cost 1.6 µs).
 *
 * Here each Map keeps one iterator, which stays where the last trim left it: the entries it
 * passed are deleted, and every later insertion (a re-insertion too) comes after it, so the
 * next entry it yields is the oldest one left, and each empty slot is walked once. A Map
 * iterator stays valid while its Map changes (ECMAScript requires it; V8 follows its table
 * through rebuilds).
 */

/** Each trimmed Map's iterator, positioned after the entries trimmed so far. */
const cursors = new WeakMap<Map<unknown, unknown>, Iterator<[unknown, unknown]>>();

/** Deletes the first entry of `map` in insertion order (the oldest, or the longest since re-inserted) and returns it; undefined when the map is empty. */
export function forgetOldest<K, V>(map: Map<K, V>): [K, V] | undefined {
  let cursor = cursors.get(map as Map<unknown, unknown>) as Iterator<[K, V]> | undefined;
  let next = cursor?.next();
  // A finished iterator stays finished (even once entries are added again): start another.
  if (next === undefined || next.done === true) {
    cursor = map.entries();
    cursors.set(map as Map<unknown, unknown>, cursor as Iterator<[unknown, unknown]>);
    next = cursor.next();
    if (next.done === true) return undefined;
  }
  map.delete(next.value[0]);
  return next.value;
}
