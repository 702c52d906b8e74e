/**
 * The "date-time" format the generated validators call answers exactly as ajv-formats' `full`
 * "date-time" does: it only judges the common shape itself, faster, and hands every other
 * string to ajv-formats. Checked on arbitrary strings and on date-times built from parts
 * that stray on every field (out-of-range numbers, leap years and seconds, odd offsets).
 */
import { fullFormats } from "ajv-formats/dist/formats.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ajvFormats, dateTimeFormat } from "../../runtime/ajv-runtime.js";

const reference = (fullFormats["date-time"] as { validate(value: string): boolean }).validate;
const two = fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, "0"));
// Mostly in range, so many built values are valid date-times and the rules past the shape are exercised.
const near = fc.oneof(fc.integer({ min: 0, max: 32 }).map((n) => String(n).padStart(2, "0")), two);
const digits = (n: number) => fc.stringMatching(new RegExp(`^[0-9]{${n}}$`));

const dateTime = fc
  .record({
    year: fc.oneof(digits(4), fc.constantFrom("2000", "1900", "2024", "2023", "0000", "2100")),
    month: near,
    day: near,
    separator: fc.constantFrom("T", "t", " ", "_", "TT"),
    hour: near,
    minute: fc.oneof(fc.constantFrom("59", "00", "60"), two),
    second: fc.oneof(two, fc.constant("60"), fc.constant("61")),
    fraction: fc.oneof(fc.constant(""), digits(1).map((d) => `.${d}`), digits(9).map((d) => `.${d}`), fc.constant("."), fc.constantFrom(".99999999999999999", ".9999999999999999999999")),
    offset: fc.oneof(
      fc.constantFrom("Z", "z", "", "+00:00", "-00:00", "+01:00", "-01:00", "+0100", "+23:59", "+24:00", "-12:60", "+1:00"),
      fc.tuple(fc.constantFrom("+", "-"), two, two).map(([s, h, m]) => `${s}${h}:${m}`),
    ),
  })
  .map((p) => `${p.year}-${p.month}-${p.day}${p.separator}${p.hour}:${p.minute}:${p.second}${p.fraction}${p.offset}`);

const pad = (n: number) => String(n).padStart(2, "0");
/** Date-times whose every field is in range or just past it: most are valid. */
const plausible = fc
  .record({
    year: fc.constantFrom("2000", "1900", "2024", "2023", "2100", "1999"),
    month: fc.integer({ min: 1, max: 13 }).map(pad),
    day: fc.integer({ min: 1, max: 31 }).map(pad),
    hour: fc.integer({ min: 0, max: 24 }).map(pad),
    minute: fc.integer({ min: 0, max: 60 }).map(pad),
    second: fc.integer({ min: 0, max: 61 }).map(pad),
    fraction: fc.constantFrom("", ".5", ".123456789"),
    offset: fc.constantFrom("Z", "z", "+00:00", "-00:00", "+01:00", "-01:00", "+05:30", "-23:59", "+23:59"),
  })
  .map((p) => `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}${p.fraction}${p.offset}`);

describe("date-time format", () => {
  it("answers as ajv-formats on date-times built from straying parts", () => {
    let valid = 0;
    fc.assert(
      fc.property(fc.oneof(dateTime, plausible), (value) => {
        const expected = reference(value);
        if (expected) valid++;
        expect(dateTimeFormat(value)).toBe(expected);
      }),
      { numRuns: 20_000 },
    );
    expect(valid).toBeGreaterThan(2_000);
  });

  it("answers as ajv-formats on arbitrary strings and on known edge cases", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 40 }), (value) => {
          expect(dateTimeFormat(value)).toBe(reference(value));
        }), { numRuns: 5_000 });
    for (const value of [
      "2024-02-29T12:00:00Z",
      "2023-02-29T12:00:00Z",
      "1900-02-29T00:00:00Z",
      "2000-02-29T00:00:00Z",
      "2024-12-31T23:59:60Z",
      "2024-12-31T23:59:60.999Z",
      "2024-12-31T22:59:60-01:00",
      "2025-01-01T00:59:60+01:00",
      "2024-12-31T23:58:60Z",
      "2024-06-30T23:59:60.5+00:00",
      "2024-01-01T24:00:00Z",
      "2024-13-01T00:00:00Z",
      "2024-00-10T00:00:00Z",
      "2024-04-31T00:00:00Z",
      "2024-01-01T00:00:00",
      "2024-01-01 00:00:00Z",
      "2024-01-01T00:00:00+24:00",
      "2024-01-01T00:00:00+23:60",
      "２０２４-01-01T00:00:00Z",
      "2024-01-01T00:00:00Z\n",
      // Seconds and fraction are read as one number: these round to 60 and 61.
      "2024-12-31T23:59:59.99999999999999999Z",
      "2024-12-31T22:59:59.99999999999999999Z",
      "2024-12-31T23:59:60.99999999999999999Z",
      "2024-12-31T23:59:58.99999999999999999Z",
      "2024-01-01T00:00:00.Z",
      "2024-01-01T00:00:00.5+01:0",
      "2024-01-01T00:00:00.5+01:000",
      "2024-01-01T00:00:00Zz",
    ]) {
      expect(dateTimeFormat(value), value).toBe(reference(value));
    }
  });

  it("is what the generated validators get, with ajv-formats' comparison kept", () => {
    const format = ajvFormats["date-time"] as { validate: unknown; compare: unknown };
    expect(format.validate).toBe(dateTimeFormat);
    expect(format.compare).toBe((fullFormats["date-time"] as { compare: unknown }).compare);
  });
});
