/**
 * Forgetting the oldest entries of a bounded Map at a constant cost each.
 *
 * The runtime's memories (replay ids, acknowledged messages, verified entries, imported keys)
 * are Maps kept in insertion order and trimmed from the front once full. Read as
 * `map.delete(map.keys().next().value)`, one entry a time, that is linear: V8 leaves a deleted
 * entry's slot empty until it rebuilds the table, and a fresh iterator walks every empty slot
 * from the start, so each trim walked all those before it had emptied: 1.7 µs a trim at 4,096
 * entries, 18 µs at 65,536; a subscription that had accepted more than 100,000 message ids spent
 * 10 µs a message on it, 67–128 µs after 300,000 (it had cost 1.6 µs).
 *
 * Here a trim forgets the oldest 1/64 of the map (at least one entry), so a walk over the empty
 * slots is shared by that many entries, and a full memory holds between 63/64 of its bound and
 * its bound. (An iterator kept from one trim to the next walks each empty slot once, but holds
 * every table V8 has replaced since it last moved: a memory that changed without being trimmed,
 * as a replay guard's does once its sweep has made room, kept growing.)
 */

/** Forgets the oldest entries of `map` (the first in insertion order: 1/64 of them, at least one) and returns them, oldest first. */
export function forgetOldest<K, V>(map: Map<K, V>): [K, V][] {
  const count = Math.max(1, map.size >> 6);
  const forgotten: [K, V][] = [];
  for (const entry of map) {
    if (forgotten.length === count) break;
    forgotten.push(entry);
  }
  for (const [key] of forgotten) map.delete(key);
  return forgotten;
}
