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
  // Read field by field (no intermediate arrays): every received message's times come through here.
  const year = +m[1]!;
  const month = +m[2]!;
  const day = +m[3]!;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || +m[4]! > 23 || +m[5]! > 59 || +m[6]! > 59) return Number.NaN;
  if (m[9] !== undefined && (+m[9] > 23 || +m[10]! > 59)) return Number.NaN;
  return Date.parse(text);
}

/** True when `text` is a strict RFC 3339 time with offset. */
export function isRfc3339(text: unknown): text is string {
  return !Number.isNaN(parseRfc3339(text));
}

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : DAYS[month]!;
}
