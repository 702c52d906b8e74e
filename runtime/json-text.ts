/**
 * The one JSON text parser of onex. JSON.parse keeps the last of duplicate member names and
 * rounds integers beyond 2^53 silently; a signed message must mean one thing to every reader
 * (RFC 8785 assumes I-JSON), so this parser refuses duplicates and never changes a number.
 * It runs in time linear in its input and reports errors with line and column.
 */
import { ErrorCode, OnexError } from "./errors.js";
import { checkObject, describeValue } from "./option-check.js";

/** What to do with an integer beyond ±(2^53 - 1), which a double cannot hold exactly. */
export type BigIntegerMode = "bigint" | "refuse";

/** How a text is parsed. */
export interface JsonParseOptions {
  /** `bigint` carries such integers as BigInt (write them back with `stringifyJson`); `refuse` (default) throws ONEX_E_NUMBER_RANGE unless the double writes back as the same digits. */
  bigIntegers?: BigIntegerMode;
  /** Named in errors. */
  file?: string;
  /** The line the text starts on in its file (default 1), so errors point into the file. */
  firstLine?: number;
}

/** A parsed document and, when it is an array, the line each element starts on. */
export interface ParsedJson {
  value: unknown;
  elementLines?: number[];
}

/** Deepest nesting accepted: deeper input would exhaust the stack. */
export const MAX_JSON_DEPTH = 1000;

/** Parses one JSON value; throws ONEX_E_JSON_SYNTAX, ONEX_E_JSON_DUPLICATE_KEY or ONEX_E_NUMBER_RANGE with line and column. */
export function parseJson(text: string, options: JsonParseOptions = {}): unknown {
  checkJsonArguments("parseJson", text, options);
  const fast = nativeParse(text);
  return fast !== NOT_SURE ? fast : parseJsonExact(text, options);
}

/** The exact reader alone, without the JSON.parse fast path: what `parseJson` must always agree with (tests compare the two). */
export function parseJsonExact(text: string, options: JsonParseOptions = {}): unknown {
  return new JsonTextReader(text, options).document(false).value;
}

/**
 * ONEX_E_USAGE for a text that is no string (undefined failed as a raw TypeError, and a Buffer
 * too; a number was taken as its JSON text) or options that are no object. Typeof checks alone:
 * parseJson runs for every message read.
 */
function checkJsonArguments(owner: string, text: unknown, options: unknown): void {
  if (typeof text !== "string") throw new OnexError(ErrorCode.Usage, `${owner}: text must be a string (decode bytes first), not ${describeValue(text)}`);
  checkObject(owner, "options", options);
}

/** Texts longer than this (in UTF-16 units) skip the JSON.parse fast path. */
const FAST_PATH_MAX_LENGTH = 64 * 1024;

/** `nativeParse` could not vouch for its result: the exact reader decides (and reports any error). */
const NOT_SURE: unique symbol = Symbol("not sure");

/**
 * JSON.parse, kept only when it means exactly what the exact reader gives, which is several
 * times faster on the common, clean message. Valid JSON parses to the same value both ways
 * except where JSON.parse is lax: a duplicate member name (it keeps the last), an integer
 * beyond 2^53 (it rounds), a number beyond a double (Infinity) and nesting too deep; each of
 * those, and any text JSON.parse refuses, goes to the exact reader.
 */
function nativeParse(text: string): unknown {
  // JSON.parse builds the whole value before the depth check below can refuse it: 1 MB of "["
  // would cost it a hundred times what it costs the exact reader, which stops at the limit.
  // Messages are far smaller; a larger text goes to the exact reader.
  if (text.length > FAST_PATH_MAX_LENGTH) return NOT_SURE;
  // JSON.parse decodes the escape of a lone surrogate, which the exact reader refuses.
  if (SURROGATE_ESCAPE.test(text)) return NOT_SURE;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return NOT_SURE;
  }
  if (value === null || typeof value !== "object") return typeof value === "number" && (!plainNumber(value) || (value === 0 && (MAY_UNDERFLOW.test(text) || Object.is(value, -0)))) ? NOT_SURE : value;
  // The usual message: nothing dropped, told by counting names rather than every ":" (below).
  sawZero = false;
  const members = memberCount(value);
  if (members === NOT_PLAIN) return NOT_SURE;
  // JSON.parse makes 0 of a number too small for a double (1e-400), which the exact reader refuses.
  if (sawZero && MAY_UNDERFLOW.test(text)) return NOT_SURE;
  if (members === namesBeforeColons(text)) return value;
  return tallyColons(text, value) ? value : NOT_SURE;
}

/** The escape of a UTF-16 surrogate, paired or not (or text that looks like one after an escaped backslash): the exact reader decides. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** `memberCount` found a number or a depth the exact reader would treat otherwise. */
const NOT_PLAIN = -1;

/** Whether the last `memberCount` met a 0, which may be a number too small for a double (then the text matches MAY_UNDERFLOW). */
let sawZero = false;
/**
 * How a number too small for a double is written: an exponent of -100 or below, or a fraction
 * with hundreds of leading zeros (smaller numbers never reach 0). Ending as a number ends, so
 * text in strings (a UUID's "7e-1234-") does not send the message to the exact reader.
 */
const MAY_UNDERFLOW = /[0-9][eE]-0*[1-9][0-9]{2,}(?=[\s,\]}]|$)|\.0{200}/;

/**
 * How many members the value parsed from a text holds, objects within objects and arrays
 * included; NOT_PLAIN when a number is not plain or the nesting is too deep. JSON.parse drops
 * a duplicate member together with everything in its value, so this is less than the number
 * of members written in the text exactly when a member name was repeated.
 */
function memberCount(value: object): number {
  // for-in, without an own-property check per key, sees only own members while Object.prototype
  // has no enumerable property; if someone added one, the exact reader decides.
  for (const _ in PLAIN) return NOT_PLAIN;
  return membersWithin(value, 1);
}

const PLAIN = {};

function membersWithin(value: object, depth: number): number {
  if (depth > MAX_JSON_DEPTH) return NOT_PLAIN;
  let count = 0;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const inner = memberOf(value[i], depth);
      if (inner === NOT_PLAIN) return NOT_PLAIN;
      count += inner;
    }
    return count;
  }
  for (const key in value) {
    const inner = memberOf((value as Record<string, unknown>)[key], depth);
    if (inner === NOT_PLAIN) return NOT_PLAIN;
    count += 1 + inner;
  }
  return count;
}

/** Members within one element or member value. */
function memberOf(item: unknown, depth: number): number {
  if (typeof item === "object") return item === null ? 0 : membersWithin(item, depth + 1);
  if (typeof item === "number") {
    if (item === 0) {
      sawZero = true;
      // -0: the exact reader makes it 0 (below).
      if (Object.is(item, -0)) return NOT_PLAIN;
    }
    return plainNumber(item) ? 0 : NOT_PLAIN;
  }
  return 0;
}

/**
 * At least the number of members a JSON text writes, when no ":" follows whitespace: the
 * number of ":" right after a '"'. Every member gives one (its name's closing quote, then its
 * colon); a string may give more (one starting with ":", an escaped quote before a ":"), never
 * fewer. So when the parsed value holds exactly this many members, the text wrote no more and
 * JSON.parse dropped none. With whitespace before a ":" a member may give none: -1 (never a
 * member count) leaves the text to the general check.
 */
function namesBeforeColons(text: string): number {
  let count = 0;
  for (let at = text.indexOf(":"); at !== -1; at = text.indexOf(":", at + 1)) {
    const before = text.charCodeAt(at - 1);
    if (before === 0x22) count++;
    else if (before === 0x20 || before === 0x09 || before === 0x0a || before === 0x0d) return -1;
  }
  return count;
}

/** The general check: every ":" of the text accounted for by the parsed value. */
function tallyColons(text: string, value: object): boolean {
  // A "\u" escape could spell a ":" that the count below would miss (say \u003a in a string
  // standing in for the ":" of a lost duplicate), so such text is left to the exact reader.
  if (text.includes("\\u")) return false;
  // Every ":" of the text is either a member's or inside a string. A duplicate member is
  // dropped by JSON.parse with its ":" and every ":" in its value, so the parsed value
  // accounts for fewer ":" than the text holds exactly when a member name was repeated.
  const tally = { colons: 0 };
  if (!checkedColons(value, 1, tally)) return false;
  return tally.colons === countColons(text);
}

/** A number the exact reader gives as the same double: finite, and not an integer beyond 2^53 (those it refuses or makes BigInt). */
function plainNumber(value: number): boolean {
  return Number.isFinite(value) && (Number.isSafeInteger(value) || !Number.isInteger(value));
}

/** Adds to `tally` the ":" that `value` accounts for (one per member, and those in names and strings); false when a number or the depth is not plain. */
function checkedColons(value: object, depth: number, tally: { colons: number }): boolean {
  if (depth > MAX_JSON_DEPTH) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!checkedMember(item, depth, tally)) return false;
    return true;
  }
  // Own keys only: a property someone added to Object.prototype must not count as a member.
  for (const key of Object.keys(value)) {
    tally.colons += 1 + countColons(key);
    if (!checkedMember((value as Record<string, unknown>)[key], depth, tally)) return false;
  }
  return true;
}

function checkedMember(item: unknown, depth: number, tally: { colons: number }): boolean {
  switch (typeof item) {
    case "string":
      tally.colons += countColons(item);
      return true;
    case "number":
      return plainNumber(item);
    case "object":
      return item === null || checkedColons(item, depth + 1, tally);
    default:
      return true;
  }
}

function countColons(text: string): number {
  let count = 0;
  for (let at = text.indexOf(":"); at !== -1; at = text.indexOf(":", at + 1)) count++;
  return count;
}

/** Like `parseJson`, also giving the line of every element when the value is an array. */
export function parseJsonWithLines(text: string, options: JsonParseOptions = {}): ParsedJson {
  checkJsonArguments("parseJsonWithLines", text, options);
  return new JsonTextReader(text, options).document(true);
}

/** JSON text of `value`; BigInt values (from `bigIntegers: "bigint"`) are written as their exact digits. */
export function stringifyJson(value: unknown, indent?: number): string {
  try {
    return JSON.stringify(value, null, indent);
  } catch (error) {
    // Only a BigInt makes JSON.stringify throw on parsed data; the slow path writes it exactly.
    if (!(error instanceof TypeError) || !/BigInt/i.test(error.message)) throw error;
    return stringifyExact(value, indent === undefined ? "" : " ".repeat(indent), "");
  }
}

function stringifyExact(value: unknown, indent: string, current: string): string {
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const inner = current + indent;
  const open = indent === "" ? "" : "\n" + inner;
  const close = indent === "" ? "" : "\n" + current;
  const colon = indent === "" ? ":" : ": ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return "[" + open + value.map((item: unknown) => (item === undefined ? "null" : stringifyExact(item, indent, inner))).join("," + open) + close + "]";
  }
  const json = (value as { toJSON?: unknown }).toJSON;
  if (typeof json === "function") return stringifyExact((json as () => unknown).call(value), indent, current);
  const members = Object.entries(value).filter(([, member]) => member !== undefined && typeof member !== "function");
  if (members.length === 0) return "{}";
  return "{" + open + members.map(([key, member]) => JSON.stringify(key) + colon + stringifyExact(member, indent, inner)).join("," + open) + close + "}";
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/** The exact value of a JSON number (or of a double's own text), when it is an integer; undefined otherwise. */
function exactInteger(digits: string): bigint | undefined {
  const [, sign, whole, fraction = "", exponent = "0"] = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(digits)!;
  const written = whole! + fraction;
  const mantissa = written.replace(/0+$/, "");
  // Only called for a finite double of 2^53 or more, so a positive scale is a few hundred at most.
  const scale = Number(exponent) - fraction.length + (written.length - mantissa.length);
  if (scale < 0) return undefined;
  const value = BigInt(mantissa) * 10n ** BigInt(scale);
  return sign === "-" ? -value : value;
}

class JsonTextReader {
  private pos = 0;
  private line: number;
  private lineStart = 0;
  private depth = 0;
  private readonly bigint: boolean;

  constructor(
    private readonly text: string,
    private readonly options: JsonParseOptions,
  ) {
    this.line = options.firstLine ?? 1;
    this.bigint = options.bigIntegers === "bigint";
  }

  document(withLines: boolean): ParsedJson {
    this.space();
    let result: ParsedJson;
    if (withLines && this.text.charCodeAt(this.pos) === 0x5b) {
      const elementLines: number[] = [];
      result = { value: this.array(elementLines), elementLines };
    } else {
      result = { value: this.value() };
    }
    this.space();
    if (this.pos < this.text.length) this.fail("unexpected text after the JSON value");
    return result;
  }

  private value(): unknown {
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b:
        return this.object();
      case 0x5b:
        return this.array(undefined);
      case 0x22:
        return this.string();
      case 0x74:
        return this.literal("true", true);
      case 0x66:
        return this.literal("false", false);
      case 0x6e:
        return this.literal("null", null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        if (Number.isNaN(c)) this.fail("unexpected end of input");
        return this.fail(`unexpected character ${describe(this.text, this.pos)}`);
    }
  }

  private object(): Record<string, unknown> {
    this.enter();
    this.pos++;
    const object: Record<string, unknown> = {};
    this.space();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      this.depth--;
      return object;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail(this.pos >= this.text.length ? "unexpected end of input" : `expected a member name in double quotes, found ${describe(this.text, this.pos)}`);
      const keyAt = this.pos;
      const keyLine = this.line;
      const keyLineStart = this.lineStart;
      const key = this.string();
      this.space();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail(`expected ":" after member name ${JSON.stringify(key).slice(0, 80)}`);
      this.pos++;
      this.space();
      const member = this.value();
      if (Object.hasOwn(object, key)) {
        throw this.error(ErrorCode.JsonDuplicateKey, `member name ${JSON.stringify(key).slice(0, 80)} appears twice in one object`, keyLine, keyAt - keyLineStart + 1, { member: key });
      }
      // A member is always an own data property, as JSON.parse makes it: a name Object.prototype
      // answers to (__proto__, or a setter someone defined there) would not become one by assignment.
      if (key in Object.prototype) Object.defineProperty(object, key, { value: member, writable: true, enumerable: true, configurable: true });
      else object[key] = member;
      this.space();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x2c) {
        this.space();
        continue;
      }
      if (c === 0x7d) break;
      this.pos--;
      this.fail(this.pos >= this.text.length ? "unexpected end of input (an object is not closed)" : `expected "," or "}" in an object, found ${describe(this.text, this.pos)}`);
    }
    this.depth--;
    return object;
  }

  private array(elementLines: number[] | undefined): unknown[] {
    this.enter();
    this.pos++;
    const array: unknown[] = [];
    this.space();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      this.depth--;
      return array;
    }
    for (;;) {
      elementLines?.push(this.line);
      array.push(this.value());
      this.space();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x2c) {
        this.space();
        continue;
      }
      if (c === 0x5d) break;
      this.pos--;
      this.fail(this.pos >= this.text.length ? "unexpected end of input (an array is not closed)" : `expected "," or "]" in an array, found ${describe(this.text, this.pos)}`);
    }
    this.depth--;
    return array;
  }

  private string(): string {
    const text = this.text;
    const start = this.pos + 1;
    for (let i = start; ; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        this.pos = i + 1;
        return text.slice(start, i);
      }
      if (c === 0x5c) return this.escapedString(start, i);
      if (c < 0x20 || Number.isNaN(c)) {
        this.pos = i;
        this.fail(Number.isNaN(c) || c === 0x0a ? "unterminated string" : `control character U+${c.toString(16).padStart(4, "0")} in a string (escape it)`);
      }
    }
  }

  /** The rare string with escapes: find its end, then let JSON.parse decode (and check) the escapes. */
  private escapedString(start: number, from: number): string {
    const text = this.text;
    let i = from;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x5c) {
        i += 2;
        continue;
      }
      if (c === 0x22) break;
      if (c < 0x20 || Number.isNaN(c)) {
        this.pos = Math.min(i, text.length);
        this.fail(Number.isNaN(c) || c === 0x0a ? "unterminated string" : `control character U+${c.toString(16).padStart(4, "0")} in a string (escape it)`);
      }
      i++;
    }
    let value: string;
    try {
      value = JSON.parse(text.slice(start - 1, i + 1)) as string;
    } catch {
      this.pos = start;
      return this.fail("invalid escape sequence in a string");
    }
    // I-JSON (RFC 7493), which RFC 8785 canonicalizes: no string holds a lone surrogate. Its
    // escape is the one way JSON text spells one (UTF-8 cannot), and no message, record or
    // signature may carry it: every reader refuses it here, as create() and canonicalize do.
    if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) {
      this.pos = start;
      throw this.error(ErrorCode.CanonicalJson, "a string escapes a lone UTF-16 surrogate (\\ud800-\\udfff without its pair), which JSON data onex reads may not hold", this.line, this.pos - this.lineStart + 1, {});
    }
    this.pos = i + 1;
    return value;
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail(`malformed number ${describe(this.text, this.pos)}`);
    const digits = match[0];
    const value = Number(digits);
    if (match[1] === undefined && match[2] === undefined) {
      if (!Number.isSafeInteger(value)) {
        // BigInt keeps the digits as written. Without it, a double is kept only when it writes back as the same digits
        // (as every integer JSON.stringify wrote does); 9007199254740993 would come back as ...992, so it is refused.
        if (this.bigint) {
          this.pos += digits.length;
          return BigInt(digits);
        }
        if (String(value) !== digits) throw this.numberRange(`integer ${digits.slice(0, 40)} is beyond 2^53 and would be changed by rounding`);
      }
    } else if (!Number.isFinite(value)) {
      throw this.numberRange(`number ${digits.slice(0, 40)} is beyond the range of a double`);
    } else if (value === 0 ? /[1-9]/.test(match[0].split(/[eE]/)[0]!) : Number.isInteger(value) && !Number.isSafeInteger(value)) {
      // A fraction or an exponent may still write an integer beyond 2^53 (9007199254740993.0), or a
      // number too small for a double (1e-400): the double would be another number, not a rounding of a fraction.
      if (value === 0) throw this.numberRange(`number ${digits.slice(0, 40)} is too small for a double and would become 0`);
      // Written as a double is written, it means that double: its shortest form (1.0000000000000001e+21,
      // as JSON.stringify writes it) or its 17 significant digits (9.2233720368547758e+18, as C's %.17g does).
      const exact = exactInteger(digits);
      if (exact !== undefined && exact !== exactInteger(String(value)) && exact !== exactInteger(value.toPrecision(17))) {
        if (!this.bigint) throw this.numberRange(`integer ${digits.slice(0, 40)} is beyond 2^53 and would be changed by rounding`);
        this.pos += digits.length;
        return exact;
      }
    }
    this.pos += digits.length;
    // -0 is read as 0: canonical JSON (RFC 8785) writes both as 0, so no signature tells them
    // apart, and a message whose signed 0 was rewritten -0 on its way must not hand its handler a -0.
    return value === 0 ? 0 : value;
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`unexpected character ${describe(this.text, this.pos)}`);
    this.pos += word.length;
    return value;
  }

  private space(): void {
    const text = this.text;
    for (;;) {
      const c = text.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0d) this.pos++;
      else if (c === 0x0a) {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else return;
    }
  }

  private enter(): void {
    if (++this.depth > MAX_JSON_DEPTH) this.fail(`nesting is deeper than ${MAX_JSON_DEPTH}`);
  }

  private numberRange(message: string): OnexError {
    return this.error(ErrorCode.NumberRange, message, this.line, this.pos - this.lineStart + 1, {});
  }

  private fail(message: string): never {
    throw this.error(ErrorCode.JsonSyntax, message, this.line, this.pos - this.lineStart + 1, {});
  }

  private error(code: ErrorCode, message: string, line: number, column: number, details: Record<string, unknown>): OnexError {
    const file = this.options.file;
    // A number out of range is valid JSON that onex will not change, not a syntax error.
    const what = code === ErrorCode.NumberRange ? "a number onex will not change" : "not valid JSON";
    return new OnexError(code, `${what} at line ${line} column ${column}: ${message}`, { ...(file === undefined ? {} : { file }), line, column, ...details });
  }
}

/** The character at `pos`, quoted, or "end of input". */
function describe(text: string, pos: number): string {
  if (pos >= text.length) return "end of input";
  const c = text.codePointAt(pos)!;
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) ? `U+${c.toString(16).padStart(4, "0")}` : JSON.stringify(String.fromCodePoint(c));
}
