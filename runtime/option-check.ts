/**
 * Checks of the numbers an SDK caller passes as options. `Math.max(1, x)`, `x ?? default` and
 * `x ? … : …` let NaN and Infinity through, where they meant an unbounded buffer, a timer that
 * fired at once or a stream without limits: these refuse them with ONEX_E_USAGE, naming the option.
 */
import { ErrorCode, OnexError } from "./errors.js";

/** A count or limit: a whole number from `min` (default 1; 0 where it means something) to `max`; Infinity too where `infinity` says it means "no limit". */
export function checkWhole(owner: string, name: string, value: number | undefined, options: { min?: number; max?: number; infinity?: boolean } = {}): void {
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const min = options.min ?? 1;
  if (value === undefined || (Number.isSafeInteger(value) && value >= min && value <= max) || (options.infinity && value === Infinity)) return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be a whole number from ${min} to ${max}${options.infinity ? " (Infinity for no limit)" : ""}, not ${describe(value)}`);
}

/** A duration or rate: a number more than 0 (or 0 where `zero` says it means something) and at most `max`; Infinity too unless `finite` or a `max` is given. */
export function checkPositive(owner: string, name: string, value: number | undefined, options: { finite?: boolean; zero?: boolean; max?: number } = {}): void {
  const limit = options.max ?? (options.finite ? Number.MAX_VALUE : Infinity);
  // typeof first: a string such as "5000" compares as a number and then concatenates (`Date.now() + "5000"`).
  if (value === undefined || (typeof value === "number" && (value > 0 || (options.zero && value === 0)) && value <= limit)) return;
  const range = options.max !== undefined ? ` and at most ${options.max}` : options.finite ? "" : " (Infinity for no limit)";
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be ${options.zero ? "0 or more" : "more than 0"}${range}, not ${describe(value)}`);
}

/** A value as the message shows it: a string quoted, so "5000" is not mistaken for 5000. */
function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
