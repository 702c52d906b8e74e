/**
 * Checks of the numbers an SDK caller passes as options. `Math.max(1, x)`, `x ?? default` and
 * `x ? … : …` let NaN and Infinity through, where they meant an unbounded buffer, a timer that
 * fired at once or a stream without limits: these refuse them with ONEX_E_USAGE, naming the option.
 */
import { ErrorCode, OnexError } from "./errors.js";
import { isRfc3339, parseRfc3339 } from "./trust/rfc3339-time.js";

/** A count or limit: a whole number from `min` (default 1; 0 where it means something) to `max`; Infinity too where `infinity` says it means "no limit". */
export function checkWhole(owner: string, name: string, value: number | undefined, options: { min?: number; max?: number; infinity?: boolean } = {}): void {
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const min = options.min ?? 1;
  if (value === undefined || (Number.isSafeInteger(value) && value >= min && value <= max) || (options.infinity && value === Infinity)) return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be a whole number from ${min} to ${max}${options.infinity ? " (Infinity for no limit)" : ""}, not ${describeValue(value)}`);
}

/** A duration or rate: a number more than 0 (or 0 where `zero` says it means something) and at most `max`; Infinity too unless `finite` or a `max` is given. */
export function checkPositive(owner: string, name: string, value: number | undefined, options: { finite?: boolean; zero?: boolean; max?: number } = {}): void {
  const limit = options.max ?? (options.finite ? Number.MAX_VALUE : Infinity);
  // typeof first: a string such as "5000" compares as a number and then concatenates (`Date.now() + "5000"`).
  if (value === undefined || (typeof value === "number" && (value > 0 || (options.zero && value === 0)) && value <= limit)) return;
  const range = options.max !== undefined ? ` and at most ${options.max}` : options.finite ? "" : " (Infinity for no limit)";
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be ${options.zero ? "0 or more" : "more than 0"}${range}, not ${describeValue(value)}`);
}

/** A value as the message shows it: a string quoted, so "5000" is not mistaken for 5000. */
function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * An options (or other settings) object: a default parameter (`options = {}`) replaces only
 * undefined, so plain JavaScript's null, a string or a number reached `options.x` as a raw
 * TypeError. Refused with ONEX_E_USAGE, naming the parameter.
 */
export function checkObject(owner: string, name: string, value: unknown, options: { required?: boolean } = {}): void {
  if (value === undefined && !options.required) return;
  if (value !== null && typeof value === "object" && !Array.isArray(value)) return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be an object, not ${describeValue(value)}`);
}

/**
 * A time to start from: a valid Date, or (where `text` allows) a string parseRfc3339 reads, that
 * RFC 3339 can write (years 0000 to 9999). Returns it in ms since the epoch. Date's own parser
 * took "1", "2030" and "Tue, 01 Jan 2030 00:00:00 GMT" (offset-less times as local time), and a
 * time past 9999 is written "+010000-…", which the server refused as invalid JSON.
 */
export function checkTime(owner: string, name: string, value: unknown, options: { text?: boolean } = {}): number {
  const ms = value instanceof Date ? value.getTime() : options.text && typeof value === "string" ? parseRfc3339(value) : Number.NaN;
  if (!Number.isNaN(ms) && isRfc3339(new Date(ms).toISOString())) return ms;
  const shown = !(value instanceof Date) ? describeValue(value) : Number.isNaN(ms) ? "an invalid Date" : new Date(ms).toISOString();
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be ${options.text ? "a Date or an RFC 3339 time" : "a valid Date"} from the year 0000 to 9999, not ${shown}`);
}

/**
 * A JetStream stream name: a non-empty string without '.', '*', '>', '/', '\\' or white space
 * (nats.js's own check). A number reached that check as a raw TypeError (name.indexOf), and a
 * name it refused was reported as a failed connection.
 */
export function checkStreamName(owner: string, name: string, value: unknown): asserts value is string {
  if (typeof value === "string" && value !== "" && !/[.*>\s\/\\]/.test(value)) return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be a stream name (not empty, without '.', '*', '>', '/', '\\' or white space), not ${describeValue(value)}`);
}

/** An `AbortSignal` option: any other value was read as "not aborted" and then failed as a TypeError at addEventListener. */
export function checkSignal(owner: string, name: string, value: unknown): void {
  if (value === undefined || value instanceof AbortSignal) return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be an AbortSignal (new AbortController().signal), not ${describeValue(value)}`);
}

/**
 * A member of a message as an error message shows it: a string as it is, anything else as
 * `describeValue` shows it. Not String(): a message judged before (or without) its schema may
 * hold an object whose own `toString` and `valueOf` are no functions, and String() of it throws
 * (a check then failed as ONEX_E_INTERNAL instead of with its own code); and `["a"]` is `a` to it.
 */
export function memberText(value: unknown): string {
  return typeof value === "string" ? value : describeValue(value);
}

/** A value as a usage message shows it: strings quoted, arrays and objects as JSON (short), functions by name. */
export function describeValue(value: unknown): string {
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (value !== null && typeof value === "object") {
    try {
      const text = JSON.stringify(value);
      return text.length > 80 ? `${text.slice(0, 77)}...` : text;
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return describe(value);
}

/**
 * A callback, or an object's method (`registry.list`, `client.publish`) a service calls later:
 * without it the service was made, and failed at each use as a raw TypeError (a router's missing
 * `dispatch` read as every candidate unreachable). Refused with ONEX_E_USAGE, naming it.
 */
export function checkFunction(owner: string, name: string, value: unknown): void {
  if (typeof value === "function") return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be a function, not ${describeValue(value)}`);
}
