/**
 * The `retiredKeys` option of registry readers and chain verifiers: key ids of keys that no
 * longer speak for their nodes (stolen, or rotated away). Read here, once, so both refuse the
 * same mistakes, each of which would retire nothing and say nothing: a string (iterable too, as
 * its letters), an iterator (read up by the first check, empty for every later one), and an id
 * spelt otherwise than a key id ("KEY-AB…", " key-ab…"), which no key's id equals.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { isKeyId } from "./keys.js";

/** The key ids of `value` (undefined: none); ONEX_E_USAGE, naming `owner`, for anything but an array or Set of key ids. */
export function retiredKeySet(owner: string, value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  const iterable = typeof value === "object" && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] === "function";
  // An iterator is its own iterable: asking it for an iterator hands back the one that is used up.
  if (!iterable || (value as Iterable<unknown>)[Symbol.iterator]() === value) {
    throw new OnexError(ErrorCode.Usage, `${owner}: retiredKeys must be an array or Set of key ids, not ${iterable ? "an iterator" : JSON.stringify(value)}`);
  }
  const ids = [...(value as Iterable<unknown>)];
  const wrong = ids.findIndex((id) => !isKeyId(id));
  if (wrong >= 0) {
    throw new OnexError(ErrorCode.Usage, `${owner}: retiredKeys holds ${JSON.stringify(ids[wrong]) ?? String(ids[wrong])}, which is no key id (key- and 32 lower-case hex digits, as keyIdOf spells it)`);
  }
  return new Set(ids as string[]);
}
