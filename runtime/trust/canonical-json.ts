/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form signatures and trace
 * hashes cover. Sender and receiver must derive identical bytes from the same data, so
 * anything JSON cannot carry unambiguously is rejected instead of silently coerced.
 * Canonicalization runs twice per signed message (sign and verify), so it is written for speed.
 */
import { ErrorCode, OnexError } from "../errors.js";

// Node 20 ships String.prototype.isWellFormed; the ES2023 lib does not declare it yet.
export type WellFormedString = string & { isWellFormed(): boolean };


/** Deepest nesting accepted: deeper input would exhaust the stack, and no protocol message needs it. */
export const MAX_CANONICAL_DEPTH = 1000;

/** Thrown inside the recursion and turned into an OnexError with the path at the top. */
class CanonicalFailure {
  constructor(readonly reason: string) {}
}

/** The containers being serialized and the member keys leading to the current value. */
interface Walk {
  ancestors: object[];
  path: string[];
}

/** The RFC 8785 canonical form of `value`; throws ONEX_E_CANONICAL_JSON for what JSON cannot represent. */
export function canonicalize(value: unknown): string {
  // The path is pushed and popped as the walk goes; after a throw it still holds the failing location.
  const walk: Walk = { ancestors: [], path: [] };
  try {
    return serialize(value, walk);
  } catch (error) {
    if (!(error instanceof CanonicalFailure)) throw error;
    const path = "/" + walk.path.map(printableSegment).join("/");
    throw new OnexError(ErrorCode.CanonicalJson, `cannot canonicalize ${path}: ${error.reason}`, { instancePath: path });
  }
}

/** The UTF-8 bytes of `canonicalize(value)`: what signatures and hashes cover. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), "utf8");
}

function serialize(value: unknown, walk: Walk): string {
  switch (typeof value) {
    case "string":
      return serializeString(value);
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalFailure(`${String(value)} is not a JSON number`);
      // ECMAScript Number-to-String is exactly the number format RFC 8785 prescribes (and gives "0" for -0).
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? serializeArray(value, walk) : serializeObject(value, walk);
    default:
      throw new CanonicalFailure(`a ${typeof value} is not a JSON value`);
  }
}

function serializeString(value: string): string {
  if (isVerbatim(value)) return '"' + value + '"';
  if (!(value as WellFormedString).isWellFormed()) throw new CanonicalFailure("string holds a lone UTF-16 surrogate");
  // JSON.stringify's escaping (short escapes for \b\t\n\f\r, \u00xx for other controls) is RFC 8785's.
  return JSON.stringify(value);
}

function enter(value: object, walk: Walk): void {
  // Ancestors rather than a visited set: the same object may legitimately appear twice side by side.
  if (walk.ancestors.includes(value)) throw new CanonicalFailure("value contains a cycle");
  if (walk.ancestors.length >= MAX_CANONICAL_DEPTH) throw new CanonicalFailure(`nesting is deeper than ${MAX_CANONICAL_DEPTH}`);
  walk.ancestors.push(value);
}

function serializeArray(value: unknown[], walk: Walk): string {
  enter(value, walk);
  let out = "[";
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    walk.path.push(String(i));
    if (item === undefined) throw new CanonicalFailure("arrays may not hold undefined");
    out += i === 0 ? serialize(item, walk) : "," + serialize(item, walk);
    walk.path.pop();
  }
  walk.ancestors.pop();
  return out + "]";
}

/**
 * The prototype of every generated message (runtime/message.ts, OnexMessage), registered by
 * that module: an object of it holds its data as its own members, so one held inside other
 * data is written as that data, as `parse()` and `create()` copy it, and a value they accept
 * always canonicalizes. Known by its prototype, as the copy knows it (`instanceof`), never by a
 * member the object answers for: a proxy or any class may answer for one.
 */
let messagePrototype: object | undefined;

/** Registers the prototype generated messages share (done once, by runtime/message.ts). */
export function registerMessagePrototype(proto: object): void {
  messagePrototype = proto;
}

function isMessageObject(proto: unknown): boolean {
  for (let p = proto; messagePrototype !== undefined && p !== null && p !== undefined; p = Object.getPrototypeOf(p) as unknown) {
    if (p === messagePrototype) return true;
  }
  return false;
}

function serializeObject(value: object, walk: Walk): string {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null && !isMessageObject(proto)) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "non-plain";
    throw new CanonicalFailure(`a ${name} object is not a JSON object; pass plain data (toJSON() first)`);
  }
  enter(value, walk);
  const keys = sortKeys(Object.keys(value));
  const record = value as Record<string, unknown>;
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const member = record[key];
    // Undefined members are dropped as JSON.stringify drops them, so the bytes a sender signs
    // match what a receiver canonicalizes after the message crossed the wire.
    if (member === undefined) continue;
    walk.path.push(key);
    out += (out.length === 1 ? "" : ",") + serializeString(key) + ":" + serialize(member, walk);
    walk.path.pop();
  }
  walk.ancestors.pop();
  return out + "}";
}

/**
 * True when a string needs no escaping and holds no surrogate, so it serializes verbatim.
 * A plain loop: on the short strings of an envelope it is about twice as fast as a regex test.
 */
function isVerbatim(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/**
 * Sorts keys by UTF-16 code units, the order RFC 8785 prescribes (what `<` on strings and
 * the default sort compare). Envelope objects have a handful of keys, where an insertion
 * sort is several times faster than Array.prototype.sort.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** A JSON Pointer segment; a key with a lone surrogate is shown escaped so the error message stays well-formed. */
export function printableSegment(segment: string): string {
  const printable = (segment as WellFormedString).isWellFormed() ? segment : JSON.stringify(segment).slice(1, -1);
  return printable.replace(/~/g, "~0").replace(/\//g, "~1");
}
