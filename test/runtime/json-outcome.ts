/**
 * What the parseJson property tests compare between the fast path and the exact reader: the
 * value, as text that tells apart everything the two could disagree on, or the error.
 */
import type { JsonParseOptions } from "../../runtime/json-text.js";
import { OnexError } from "../../runtime/errors.js";

/** A value as text that tells apart everything the two paths could disagree on: -0, BigInt, key order, prototypes. */
function describeValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(describeValue).join(",")}]`;
  const proto = Object.getPrototypeOf(value) === Object.prototype ? "" : "(proto!)";
  return `${proto}{${Object.keys(value)
    .map((key) => `${JSON.stringify(key)}:${describeValue((value as Record<string, unknown>)[key])}`)
    .join(",")}}`;
}

/** `parse`'s value of `text` as describeValue gives it, or its OnexError (code, message, details). */
export function outcome(parse: (text: string, options: JsonParseOptions) => unknown, text: string, options: JsonParseOptions): string {
  try {
    return `value ${describeValue(parse(text, options))}`;
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    return `error ${error.code} ${error.message} ${JSON.stringify(error.details)}`;
  }
}
