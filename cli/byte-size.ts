/** Sizes as people write them on the command line. */
import { ErrorCode, OnexError } from "@onex/runtime";

const UNITS: Record<string, number> = { "": 1, B: 1, K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3, T: 1024 ** 4, TB: 1024 ** 4 };

/** Parses `512MB`, `10GB`, `4096` (bytes; units are powers of 1024) into bytes, or ONEX_E_USAGE. */
export function parseByteSize(text: string): number {
  const match = /^(\d+)\s*([KMGT]?B?)$/i.exec(text.trim());
  const unit = match ? UNITS[match[2]!.toUpperCase()] : undefined;
  if (!match || unit === undefined) throw new OnexError(ErrorCode.Usage, `"${text}" is not a size like 512MB or 10GB`, { value: text });
  return Number(match[1]) * unit;
}
