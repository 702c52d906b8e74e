import { durationMs, ErrorCode, MAX_TIMER_MS, OnexError } from "@onex/runtime";

/**
 * The longest a command can wait on a timer: Node's timers hold at most 2^31 - 1 ms (about 24.8
 * days), and a longer one fires at once, so `--wait 30d` would have returned straight away.
 */
export const MAX_WAIT_MS = MAX_TIMER_MS;

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** What a duration flag may hold, in milliseconds: `min` 1 for a wait of none that means nothing. */
export interface DurationBounds {
  min?: number;
  max?: number;
}

/**
 * Parses a duration flag: a number and its unit (`250ms`, `90s`, `1.5m`, `24h`, `7d`), into
 * whole milliseconds within `bounds` (by default from 0 to the largest exact number). A bare
 * number is refused rather than guessed at (`--expires-in 3600` meant seconds to some and
 * milliseconds to others). Anything else is ONEX_E_USAGE naming the flag, so a bound the SDK
 * holds too (a stream's shortest age) is said in the user's terms, not the SDK option's.
 */
export function parseDuration(text: string, flag: string, bounds: DurationBounds = {}): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = bounds;
  const ms = durationMs(text);
  if (ms === "none") {
    const bare = /^\d+(?:\.\d+)?$/.test(text.trim()) ? ` (add a unit: ${text.trim()}ms or ${text.trim()}s)` : " (use 250ms, 90s, 1.5m, 24h or 7d)";
    throw new OnexError(ErrorCode.Usage, `--${flag}: "${text}" is not a duration${bare}`);
  }
  if (ms === "fraction") throw new OnexError(ErrorCode.Usage, `--${flag}: ${text} is not a whole number of milliseconds`);
  if (ms > BigInt(max)) throw new OnexError(ErrorCode.Usage, `--${flag}: ${text} is longer than the ${describe(max)} it can be`);
  if (ms < BigInt(min)) throw new OnexError(ErrorCode.Usage, min === 1 ? `--${flag} must be longer than 0` : `--${flag}: ${text} is shorter than the ${describe(min)} it must be at least`);
  return Number(ms);
}

/** A limit in the largest unit that keeps it readable ("24.8 days", "292.2 years"). */
function describe(ms: number): string {
  const year = 365.25 * UNITS.d;
  if (ms >= year) return `${Math.floor((ms / year) * 10) / 10} years`;
  if (ms >= UNITS.d) return `${Math.floor((ms / UNITS.d) * 10) / 10} days`;
  if (ms >= UNITS.s && ms % UNITS.s === 0) return `${ms / UNITS.s} s`;
  return `${ms} ms`;
}
