import { setJsonMember } from "../json-member.js";

/**
 * Deep copies of parsed JSON. A registry hands out fresh entry and identity objects on every read
 * (a caller changing what it was handed must change neither what was verified nor what the next
 * caller gets); copying the objects verified from the same bytes costs a fraction of parsing them
 * again (JSON.parse of a ~1 KB registration took ~10 µs a read where the registry runs it).
 */
export function copyJson<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const member = copyJson((value as Record<string, unknown>)[key]);
    setJsonMember(copy, key, member);
  }
  return copy as T;
}
