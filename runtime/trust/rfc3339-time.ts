/**
 * Strict RFC 3339 times. Date.parse reads "2099", "Dec 31 2099" and offset-less times (as
 * local time, so the verdict depends on the verifier's time zone); a trust decision must not,
 * so every time field of a message or record is read here and nowhere else.
 */

/** 9999-12-31T23:59:59.999Z, the last time RFC 3339 writes. */
export const LAST_RFC3339_TIME = 253_402_300_799_999;

/**
 * Ms since the epoch of an RFC 3339 time with offset (`2027-01-01T00:00:00Z`); NaN for
 * anything else. The grammar is RFC 3339 section 5.6: full-date "T" full-time, a fraction of
 * 1 to 9 digits (milliseconds are its first three, as Date.parse reads them), and an offset:
 * "Z" or ±hh:mm. Read character by character, without a regular expression or Date.parse
 * (every received message's expiry comes through here: ~0.1 against 0.8–2 µs).
 */
export function parseRfc3339(text: unknown): number {
  if (typeof text !== "string" || text.length < 20) return Number.NaN;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  // "-", "-", "T" or "t", ":", ":".
  if (text.charCodeAt(4) !== 0x2d || text.charCodeAt(7) !== 0x2d || (text.charCodeAt(10) | 0x20) !== 0x74 || text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a) return Number.NaN;
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return Number.NaN;
  let at = 19;
  let ms = 0;
  if (text.charCodeAt(at) === 0x2e) {
    const start = ++at;
    while (at < text.length && isDigit(text.charCodeAt(at))) at++;
    if (at === start || at - start > 9) return Number.NaN;
    for (let i = 0; i < 3; i++) ms = ms * 10 + (start + i < at ? text.charCodeAt(start + i) - 0x30 : 0);
  }
  let offset = 0;
  const sign = text.charCodeAt(at);
  if ((sign | 0x20) === 0x7a) {
    if (at + 1 !== text.length) return Number.NaN;
  } else if (sign === 0x2b || sign === 0x2d) {
    const hours = digits(text, at + 1, 2);
    const minutes = digits(text, at + 4, 2);
    if (at + 6 !== text.length || text.charCodeAt(at + 3) !== 0x3a || hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return Number.NaN;
    offset = (sign === 0x2b ? 1 : -1) * (hours * 60 + minutes);
  } else {
    return Number.NaN;
  }
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute - offset) * 60 + second) * 1000 + ms;
}

/** The number `count` decimal digits at `at` spell; -1 when any is not a digit. */
function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const code = text.charCodeAt(i);
    if (!isDigit(code)) return -1;
    value = value * 10 + code - 0x30;
  }
  return value;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719_468;
}

/** True when `text` is a strict RFC 3339 time with offset. */
export function isRfc3339(text: unknown): text is string {
  return !Number.isNaN(parseRfc3339(text));
}

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : DAYS[month]!;
}
