/**
 * The `retiredKeys` option of registry readers and chain verifiers: key ids of keys that no
 * longer speak for their nodes (stolen, or rotated away). Read here, once, so both refuse the
 * same mistakes: a string is iterable too, as its letters, and "key-ab…" would retire nothing.
 */
import { ErrorCode, OnexError } from "../errors.js";

/** The key ids of `value` (undefined: none); ONEX_E_USAGE, naming `owner`, for anything but a list of strings. */
export function retiredKeySet(owner: string, value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (typeof value === "string" || value === null || typeof (value as Iterable<unknown>)[Symbol.iterator] !== "function") {
    throw new OnexError(ErrorCode.Usage, `${owner}: retiredKeys must be a list of key ids, not ${JSON.stringify(value)}`);
  }
  const ids = [...(value as Iterable<unknown>)];
  if (!ids.every((id) => typeof id === "string")) throw new OnexError(ErrorCode.Usage, `${owner}: retiredKeys must be a list of key ids, not ${JSON.stringify(ids)}`);
  return new Set(ids as string[]);
}
