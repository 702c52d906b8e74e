import { ErrorCode, OnexError } from "@onex/runtime";

/**
 * The longest a command can wait on a timer: Node's timers hold at most 2^31 - 1 ms (about 24.8
 * days), and a longer one fires at once, so `--wait 30d` would have returned straight away.
 */
export const MAX_WAIT_MS = 2 ** 31 - 1;

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Parses a duration flag: `250ms`, `90s`, `1.5m`, `24h`, `7d` or plain milliseconds, into whole
 * milliseconds no larger than `maxMs`. Anything else is ONEX_E_USAGE naming the flag.
 */
export function parseDuration(text: string, flag: string, maxMs = Number.MAX_SAFE_INTEGER): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new OnexError(ErrorCode.Usage, `--${flag}: "${text}" is not a duration (use 250ms, 90s, 15m, 24h, 7d or milliseconds)`);
  const ms = Number(match[1]) * UNITS[(match[2] ?? "ms") as keyof typeof UNITS];
  if (ms > maxMs) throw new OnexError(ErrorCode.Usage, `--${flag}: ${text} is longer than the ${describe(maxMs)} it can be`);
  if (!Number.isInteger(ms)) throw new OnexError(ErrorCode.Usage, `--${flag}: ${text} is not a whole number of milliseconds`);
  return ms;
}

/** A limit in the largest unit that keeps it readable ("24.8 days"). */
function describe(ms: number): string {
  if (ms >= UNITS.d) return `${Math.floor((ms / UNITS.d) * 10) / 10} days`;
  if (ms >= UNITS.h) return `${Math.floor((ms / UNITS.h) * 10) / 10} hours`;
  return `${ms} ms`;
}
