/**
 * The helpers ajv's standalone validators call at run time. ajv emits `require()` for
 * them even in ESM mode; the generator rewrites those calls to these imports so the
 * generated validators load in a pure ESM consumer. The package build bundles these
 * helpers into the runtime (runtime/bundle.mjs), so a service installs neither ajv nor
 * ajv-formats; the types below are written out for the same reason.
 */
import equal from "ajv/dist/runtime/equal.js";
import ucs2length from "ajv/dist/runtime/ucs2length.js";
import { fullFormats } from "ajv-formats/dist/formats.js";
import { commonJsDefault } from "./commonjs.js";
import { MAX_JSON_DEPTH } from "./json-text.js";
import { isJsonData, isJsonObject, jsonDataKnown, jsonMembersBesides } from "./message.js";
import type { WellFormedString } from "./trust/canonical-json.js";

/**
 * A format check as ajv-formats defines one: a pattern, a predicate, or both with a comparison
 * (number formats check numbers, hence `never` for what they take: any predicate fits).
 */
export type FormatCheck = boolean | string | RegExp | ((value: never) => boolean) | { type?: string; validate: string | RegExp | ((value: never) => boolean | Promise<boolean>); compare?: (a: never, b: never) => number | undefined; async?: boolean };

/**
 * The JSON-data checks generated validators call on what their schema leaves free (see
 * generator/json-checks.ts): a message is JSON data the schema accepts, as `parse()` and
 * signing take it, so a validator refuses a `Date`, `NaN`, a function, `undefined` in an
 * array or a lone surrogate wherever the schema would let any value through.
 */
export interface JsonDataChecks {
  /** Any value: JSON data throughout. */
  jsonData: (value: unknown, path?: string, level?: number) => boolean;
  /** A plain object (checked apart): every member but those `known` JSON data under a well-formed name. */
  jsonMembers: (value: object, known: readonly string[], path?: string, level?: number) => boolean;
  /** An object whose members are each judged by a subschema: plain (or a generated message), under well-formed names. */
  jsonKeys: (value: object) => boolean;
  /** An object: plain (of Object.prototype, checked inline first, or of none), or a generated message. */
  plainObject: (value: object) => boolean;
  /** An array: every element from `from` on JSON data (none undefined, no hole). */
  jsonItems: (value: readonly unknown[], from: number, path?: string, level?: number) => boolean;
  /** Set while the data validated is known to be JSON (see message.ts): the inline checks read it too. */
  jsonDataKnown: { readonly now: boolean };
}

// Each check but the inline ones (a plain prototype, a well-formed string) answers at once when the
// data is known to be JSON (jsonDataKnown): walking a free part is what costs.

function jsonKeys(value: object): boolean {
  if (jsonDataKnown.now) return true;
  if (!isJsonObject(value)) return false;
  for (const key of Object.keys(value)) if (!(key as WellFormedString).isWellFormed() && (value as Record<string, unknown>)[key] !== undefined) return false;
  return true;
}

function jsonItems(value: readonly unknown[], from: number, path?: string, level?: number): boolean {
  if (jsonDataKnown.now) return true;
  const depth = depthAt(path, level);
  if (depth >= MAX_JSON_DEPTH) return false;
  for (let i = from; i < value.length; i++) {
    const item = value[i];
    if (item === undefined || !isJsonData(item, depth + 1)) return false;
  }
  return true;
}

/**
 * How deep in the message validated a value is: the segments of the instance path of the
 * validating function (`/payload`, a `/` each; a `/` inside a name is written `~1`) and
 * `level`, how many levels below it the value is. The nesting a message may hold is counted
 * from its root, as parse() copies it and signing writes it, not from the free part.
 */
function depthAt(path: string | undefined, level: number | undefined): number {
  let depth = level ?? 0;
  if (path !== undefined) for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) depth++;
  return depth;
}

function jsonData(value: unknown, path?: string, level?: number): boolean {
  if (jsonDataKnown.now) return true;
  // Only a container's depth matters: a scalar is JSON data at any depth.
  return value === null || typeof value !== "object" ? isJsonData(value) : isJsonData(value, depthAt(path, level));
}

function jsonMembers(value: object, known: readonly string[], path?: string, level?: number): boolean {
  if (jsonDataKnown.now) return true;
  const depth = depthAt(path, level);
  return depth < MAX_JSON_DEPTH && jsonMembersBesides(value, known, depth);
}

/**
 * Runtime helper modules by the name ajv's standalone code uses for them: its keywords call
 * only `equal` and `ucs2length` (ajv's `uri` helper resolves schema ids while compiling, never
 * in emitted code, and would bring a URI library into every service's start-up), and onex's
 * `onexJson` keyword calls the JSON-data checks.
 */
export const ajvRuntime: { equal: (a: unknown, b: unknown) => boolean; ucs2length: (s: string) => number } & JsonDataChecks = {
  equal: commonJsDefault(equal) as unknown as (a: unknown, b: unknown) => boolean,
  ucs2length: commonJsDefault(ucs2length),
  jsonData,
  jsonMembers,
  jsonKeys,
  plainObject: isJsonObject,
  jsonItems,
  jsonDataKnown,
};

const fullDateTime = fullFormats["date-time"] as { validate: (value: string) => boolean; compare: (a: string, b: string) => number | undefined };

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The two-digit number at `at`, or -1 when either character is not an ASCII digit. */
function twoDigits(value: string, at: number): number {
  const tens = value.charCodeAt(at) - 48;
  const ones = value.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

/**
 * ajv-formats' `full` "date-time" (strict time zone), answering exactly as it does. Strings of
 * the shape nearly every date-time has, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, are judged
 * here, character by character; ajv-formats splits any such string into exactly that date and
 * time, and the numbers are judged below by its very rules. Every other string goes to
 * ajv-formats itself. A `toISOString()` timestamp: 0.08–0.09 µs, against 1.1 µs in ajv-formats
 * and 0.27–0.44 µs for the regular expression with captures this replaced (a message holds two
 * or more: migrate and every receive validate them).
 */
export function dateTimeFormat(value: string): boolean {
  const length = value.length;
  // 84 | 32 = 116: "T" or "t".
  if (length < 20 || value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45 || (value.charCodeAt(10) | 32) !== 116 || value.charCodeAt(13) !== 58 || value.charCodeAt(16) !== 58) return fullDateTime.validate(value);
  const century = twoDigits(value, 0);
  const yearOfCentury = twoDigits(value, 2);
  const month = twoDigits(value, 5);
  const day = twoDigits(value, 8);
  const hr = twoDigits(value, 11);
  const min = twoDigits(value, 14);
  const wholeSec = twoDigits(value, 17);
  if (century < 0 || yearOfCentury < 0 || month < 0 || day < 0 || hr < 0 || min < 0 || wholeSec < 0) return fullDateTime.validate(value);
  let at = 19;
  if (value.charCodeAt(at) === 46) {
    const first = ++at;
    while (at < length && value.charCodeAt(at) >= 48 && value.charCodeAt(at) <= 57) at++;
    if (at === first) return fullDateTime.validate(value);
  }
  const fractionEnd = at;
  let tzSign = 1;
  let tzH = 0;
  let tzM = 0;
  const zone = value.charCodeAt(at);
  if ((zone | 32) === 122) {
    // "Z" or "z"
    if (at + 1 !== length) return fullDateTime.validate(value);
  } else if ((zone === 43 || zone === 45) && at + 6 === length && value.charCodeAt(at + 3) === 58) {
    tzH = twoDigits(value, at + 1);
    tzM = twoDigits(value, at + 4);
    if (tzH < 0 || tzM < 0) return fullDateTime.validate(value);
    if (zone === 45) tzSign = -1;
  } else return fullDateTime.validate(value);

  const year = century * 100 + yearOfCentury;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && leap ? 29 : DAYS[month]!))) return false;
  if (tzH > 23 || tzM > 59) return false;
  // ajv-formats reads the seconds with their fraction as one number, so "59.99999999999999999"
  // is 60: only 59 and 60 can round across the limits below, so only they are read that way.
  const sec = fractionEnd > 19 && (wholeSec === 59 || wholeSec === 60) ? +value.slice(17, fractionEnd) : wholeSec;
  if (hr <= 23 && min <= 59 && sec < 60) return true;
  // A leap second: 23:59:60 in UTC only.
  const utcMin = min - tzM * tzSign;
  const utcHr = hr - tzH * tzSign - (utcMin < 0 ? 1 : 0);
  return (utcHr === 23 || utcHr === -1) && (utcMin === 59 || utcMin === -1) && sec < 61;
}

const fullUri = fullFormats.uri as (value: string) => boolean;

/**
 * The URIs nearly every message holds: `scheme://host[:port][/path]` with a host and path of
 * letters, digits and `.-_~` alone. Each part is one of ajv-formats' `uri` pattern's own
 * alternatives narrowed (its scheme; `//` and a reg-name host; a port; path segments), and the
 * string holds the `/` and `:` its fragment check asks for, so what matches here matches there.
 */
const PLAIN_URI = /^[a-z][a-z0-9+.-]*:\/\/[a-z0-9.-]*(?::[0-9]*)?(?:\/[a-z0-9._~-]*)*$/i;

/**
 * ajv-formats' `full` "uri", answering exactly as it does: a plain URI (above) is one at once,
 * and every other string goes to ajv-formats. 0.12-0.15 µs here against 0.42-0.50 µs for its
 * pattern of every URI form (a message's protocol block holds one, and migrate validates each
 * message on both sides).
 */
export function uriFormat(value: string): boolean {
  return PLAIN_URI.test(value) || fullUri(value);
}

/** The format checks of ajv-formats' `full` mode ("date-time" and "uri" answered by `dateTimeFormat` and `uriFormat`, to the same effect). */
export const ajvFormats: Record<string, FormatCheck> = { ...fullFormats, "date-time": { ...fullDateTime, validate: dateTimeFormat }, uri: uriFormat };
