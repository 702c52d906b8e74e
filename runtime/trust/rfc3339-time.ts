/**
 * Strict RFC 3339 times. Date.parse reads "2099", "Dec 31 2099" and offset-less times (as
 * local time, so the verdict depends on the verifier's time zone); a trust decision must not,
 * so every time field of a message or record is read here and nowhere else.
 */

// date "T" time, optional fraction, and a mandatory offset (RFC 3339 section 5.6).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** Ms since the epoch of an RFC 3339 time with offset (`2027-01-01T00:00:00Z`); NaN for anything else. */
export function parseRfc3339(text: unknown): number {
  if (typeof text !== "string") return Number.NaN;
  const m = RFC3339.exec(text);
  if (m === null) return Number.NaN;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return Number.NaN;
  return Date.parse(text);
}

/** True when `text` is a strict RFC 3339 time with offset. */
export function isRfc3339(text: unknown): text is string {
  return !Number.isNaN(parseRfc3339(text));
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
