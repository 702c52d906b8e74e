/**
 * How long one piece may take to cross a connection, on either side. An idle timeout alone
 * never fires on a peer that sends (or reads) a byte a second, and such a peer would hold a
 * fetcher's request, or a seeder's upload slot, for as long as it liked. A piece must move at
 * the slowest rate that still counts as moving, after the usual idle allowance.
 */

/** The slowest a piece may move: 16 KiB/s (a 1 MiB piece may take 64 s, a 64 MiB one 68 min). */
export const MIN_TRANSFER_BYTES_PER_SECOND = 16 * 1024;

/** The idle allowance a piece server gives each upload, as a fetcher's request timeout does by default. */
export const UPLOAD_IDLE_MS = 30_000;

/** How long `bytes` may take in all: `baseMs` (the idle allowance) plus the bytes at the slowest rate (or at `bytesPerSecond`, when slower). */
export function transferDeadlineMs(bytes: number, baseMs: number, bytesPerSecond = MIN_TRANSFER_BYTES_PER_SECOND): number {
  return baseMs + Math.ceil((bytes / Math.min(bytesPerSecond, MIN_TRANSFER_BYTES_PER_SECOND)) * 1000);
}
