/**
 * Checks of the numbers an SDK caller passes as options. `Math.max(1, x)`, `x ?? default` and
 * `x ? … : …` let NaN and Infinity through, where they meant an unbounded buffer, a timer that
 * fired at once or a stream without limits: these refuse them with ONEX_E_USAGE, naming the option.
 */
import { ErrorCode, OnexError } from "./errors.js";

/** A count or limit: a whole number from 1 to `max`; Infinity too where `infinity` says it means "no limit". */
export function checkWhole(owner: string, name: string, value: number | undefined, options: { max?: number; infinity?: boolean } = {}): void {
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (value === undefined || (Number.isSafeInteger(value) && value >= 1 && value <= max) || (options.infinity && value === Infinity)) return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be a whole number from 1 to ${max}${options.infinity ? " (Infinity for no limit)" : ""}, not ${value}`);
}

/** A duration or rate: more than 0; Infinity too unless `finite`. */
export function checkPositive(owner: string, name: string, value: number | undefined, options: { finite?: boolean } = {}): void {
  if (value === undefined || (value > 0 && (!options.finite || value < Infinity))) return;
  throw new OnexError(ErrorCode.Usage, `${owner}: ${name} must be more than 0${options.finite ? "" : " (Infinity for no limit)"}, not ${value}`);
}
