/**
 * Durations as people write them (`250ms`, `90s`, `1.5m`, `24h`, `7d`): one grammar for the CLI's
 * duration flags and a registry URL's `?ttl=`. Read in integers, exactly: 2.3h is 8,280,000 ms,
 * where 2.3 * 3,600,000 is 8,279,999.999999999.
 */
import { ErrorCode, OnexError } from "./errors.js";
import { checkObject, describeValue } from "./option-check.js";

const UNITS = { ms: 1n, s: 1_000n, m: 60_000n, h: 3_600_000n, d: 86_400_000n } as const;
const DURATION = /^(\d+)(?:\.(\d+))?(ms|s|m|h|d)?$/;

/**
 * The whole milliseconds `text` says; "none" when it is no duration, "fraction" when it says part
 * of a millisecond. A bare number counts milliseconds only where `bareMs` allows it (a `?ttl=`
 * always has); elsewhere it is "none", as some would read it as seconds.
 */
export function durationMs(text: string, options: { bareMs?: boolean } = {}): bigint | "none" | "fraction" {
  // A number (10, meant as ms or s?) was a raw TypeError at trim: the caller must say its unit in text.
  if (typeof text !== "string") throw new OnexError(ErrorCode.Usage, `durationMs: text must be a duration as text (like "250ms" or "90s"), not ${describeValue(text)}`);
  checkObject("durationMs", "options", options);
  const match = DURATION.exec(text.trim());
  if (!match || (match[3] === undefined && !options.bareMs)) return "none";
  const [, whole, fraction = "", unit = "ms"] = match;
  const scale = 10n ** BigInt(fraction.length);
  const scaled = (BigInt(whole!) * scale + BigInt(fraction || "0")) * UNITS[unit as keyof typeof UNITS];
  return scaled % scale === 0n ? scaled / scale : "fraction";
}
