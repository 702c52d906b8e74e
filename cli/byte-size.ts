/** Sizes as people write them on the command line. */
import { ErrorCode, OnexError } from "@onex/runtime";

const UNITS: Record<string, bigint> = { "": 1n, B: 1n, K: 1024n, KB: 1024n, M: 1024n ** 2n, MB: 1024n ** 2n, G: 1024n ** 3n, GB: 1024n ** 3n, T: 1024n ** 4n, TB: 1024n ** 4n };

/**
 * Parses `512MB`, `10GB`, `4096` (bytes; units are powers of 1024) into bytes, at least 1 and
 * exact (at most 2^53 - 1), or ONEX_E_USAGE naming the flag. Without the bounds a size of 0 made
 * an account that could hold no stream, and 10^20 bytes a config nats-server refused to load.
 */
export function parseByteSize(text: string, flag: string): number {
  const match = /^(\d+)\s*([KMGT]?B?)$/i.exec(text.trim());
  const unit = match ? UNITS[match[2]!.toUpperCase()] : undefined;
  if (!match || unit === undefined) throw new OnexError(ErrorCode.Usage, `--${flag}: "${text}" is not a size like 512MB or 10GB`, { value: text });
  const bytes = BigInt(match[1]!) * unit;
  if (bytes < 1n || bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new OnexError(ErrorCode.Usage, `--${flag}: ${text.trim()} is not a size from 1 byte to ${Number.MAX_SAFE_INTEGER} bytes`, { value: text });
  return Number(bytes);
}
