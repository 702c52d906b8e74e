/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form signatures and trace
 * hashes cover. Sender and receiver must derive identical bytes from the same data, so
 * anything JSON cannot carry unambiguously is rejected instead of silently coerced.
 */
import { ErrorCode, OnexError } from "../errors.js";

// Node 20 ships String.prototype.isWellFormed; the ES2023 lib does not declare it yet.
type WellFormedString = string & { isWellFormed(): boolean };

// Strings without a quote, backslash, control character or surrogate serialize verbatim;
// testing for that first skips JSON.stringify's allocation on most keys and values.
const NEEDS_ESCAPE_OR_CHECK = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Deepest nesting accepted: deeper input would exhaust the stack, and no protocol message needs it. */
export const MAX_CANONICAL_DEPTH = 1000;

/** Thrown inside the recursion; collects the path on the way out so the hot path builds no strings. */
class CanonicalFailure {
  readonly segments: string[] = [];
  constructor(readonly reason: string) {}
}

/** The RFC 8785 canonical form of `value`; throws ONEX_E_CANONICAL_JSON for what JSON cannot represent. */
export function canonicalize(value: unknown): string {
  try {
    return serialize(value, []);
  } catch (error) {
    if (!(error instanceof CanonicalFailure)) throw error;
    const path = "/" + error.segments.reverse().join("/");
    throw new OnexError(ErrorCode.CanonicalJson, `cannot canonicalize ${path}: ${error.reason}`, { instancePath: path });
  }
}

/** The UTF-8 bytes of `canonicalize(value)`: what signatures and hashes cover. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), "utf8");
}

function serialize(value: unknown, ancestors: object[]): string {
  switch (typeof value) {
    case "string":
      return serializeString(value);
    case "number":
      if (!Number.isFinite(value)) fail(`${String(value)} is not a JSON number`);
      // ECMAScript Number-to-String is exactly the number format RFC 8785 prescribes (and gives "0" for -0).
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return "null";
      return serializeContainer(value, ancestors);
    default:
      return fail(`a ${typeof value} is not a JSON value`);
  }
}

function serializeString(value: string): string {
  if (!NEEDS_ESCAPE_OR_CHECK.test(value)) return `"${value}"`;
  if (!(value as WellFormedString).isWellFormed()) fail("string holds a lone UTF-16 surrogate");
  // JSON.stringify's escaping (short escapes for \b\t\n\f\r, \u00xx for other controls) is RFC 8785's.
  return JSON.stringify(value);
}

function serializeContainer(value: object, ancestors: object[]): string {
  // Ancestors rather than a visited set: the same object may legitimately appear twice side by side.
  if (ancestors.includes(value)) fail("value contains a cycle");
  if (ancestors.length >= MAX_CANONICAL_DEPTH) fail(`nesting is deeper than ${MAX_CANONICAL_DEPTH}`);
  if (Array.isArray(value)) {
    ancestors.push(value);
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      try {
        if (item === undefined) fail("arrays may not hold undefined");
        out += (i === 0 ? "" : ",") + serialize(item, ancestors);
      } catch (error) {
        throw withSegment(error, String(i));
      }
    }
    ancestors.pop();
    return out + "]";
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    fail(`a ${(value as { constructor?: { name?: string } }).constructor?.name ?? "non-plain"} object is not a JSON object; pass plain data (toJSON() first)`);
  }
  ancestors.push(value);
  // Default sort compares UTF-16 code units, which is the order RFC 8785 prescribes.
  const keys = Object.keys(value).sort();
  const record = value as Record<string, unknown>;
  let out = "{";
  let first = true;
  for (const key of keys) {
    const member = record[key];
    // Undefined members are dropped as JSON.stringify drops them, so the bytes a sender signs
    // match what a receiver canonicalizes after the message crossed the wire.
    if (member === undefined) continue;
    try {
      out += (first ? "" : ",") + serializeString(key) + ":" + serialize(member, ancestors);
    } catch (error) {
      throw withSegment(error, key);
    }
    first = false;
  }
  ancestors.pop();
  return out + "}";
}

function fail(reason: string): never {
  throw new CanonicalFailure(reason);
}

function withSegment(error: unknown, segment: string): unknown {
  if (error instanceof CanonicalFailure) {
    // A key with a lone surrogate is shown escaped, so the error message itself stays well-formed.
    const printable = (segment as WellFormedString).isWellFormed() ? segment : JSON.stringify(segment).slice(1, -1);
    error.segments.push(printable.replace(/~/g, "~0").replace(/\//g, "~1"));
  }
  return error;
}
