import { ErrorCode, MAX_TIMER_MS, OnexError } from "@onex/runtime";

/**
 * The longest a command can wait on a timer: Node's timers hold at most 2^31 - 1 ms (about 24.8
 * days), and a longer one fires at once, so `--wait 30d` would have returned straight away.
 */
export const MAX_WAIT_MS = MAX_TIMER_MS;

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Parses a duration flag: a number and its unit (`250ms`, `90s`, `1.5m`, `24h`, `7d`), into
 * whole milliseconds no larger than `maxMs`, and above 0 where `positive` says so (a wait of
 * none). A bare number is refused rather than guessed at (`--expires-in 3600` meant seconds to
 * some and milliseconds to others). Anything else is ONEX_E_USAGE naming the flag.
 */
export function parseDuration(text: string, flag: string, maxMs = Number.MAX_SAFE_INTEGER, positive = false): number {
  const match = /^(\d+)(?:\.(\d+))?(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) {
    const bare = /^\d+(?:\.\d+)?$/.test(text.trim()) ? ` (add a unit: ${text.trim()}ms or ${text.trim()}s)` : " (use 250ms, 90s, 1.5m, 24h or 7d)";
    throw new OnexError(ErrorCode.Usage, `--${flag}: "${text}" is not a duration${bare}`);
  }
  // In integers, exactly: 2.3h is 8,280,000 ms, where 2.3 * 3,600,000 is 8,279,999.999999999.
  const [, whole, fraction = "", unit] = match;
  const scale = 10n ** BigInt(fraction.length);
  const scaled = (BigInt(whole!) * scale + BigInt(fraction || "0")) * BigInt(UNITS[unit as keyof typeof UNITS]);
  if (scaled > BigInt(maxMs) * scale) throw new OnexError(ErrorCode.Usage, `--${flag}: ${text} is longer than the ${describe(maxMs)} it can be`);
  if (scaled % scale !== 0n) throw new OnexError(ErrorCode.Usage, `--${flag}: ${text} is not a whole number of milliseconds`);
  if (positive && scaled === 0n) throw new OnexError(ErrorCode.Usage, `--${flag} must be longer than 0`);
  return Number(scaled / scale);
}

/** A limit in the largest unit that keeps it readable ("24.8 days", "292.2 years"). */
function describe(ms: number): string {
  const year = 365.25 * UNITS.d;
  if (ms >= year) return `${Math.floor((ms / year) * 10) / 10} years`;
  if (ms >= UNITS.d) return `${Math.floor((ms / UNITS.d) * 10) / 10} days`;
  return `${ms} ms`;
}
