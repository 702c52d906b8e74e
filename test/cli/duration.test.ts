/**
 * Every duration flag (timeouts, waits, seeding, ages, validity, replay windows) is read by one
 * parser (cli/duration.ts): what it accepts is exactly its grammar, each form means exactly what
 * it says (decimals too, in whole milliseconds), and anything else is ONEX_E_USAGE naming the flag.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_WAIT_MS, parseDuration, type DurationBounds } from "../../cli/duration.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const unitNames = Object.keys(UNITS) as (keyof typeof UNITS)[];

function refusal(text: string, bounds?: DurationBounds): OnexError {
  try {
    parseDuration(text, "some-flag", bounds);
  } catch (error) {
    expect(error).toBeInstanceOf(OnexError);
    return error as OnexError;
  }
  throw new Error(`"${text}" was accepted`);
}

describe("parseDuration", () => {
  it("reads each unit and decimals", () => {
    expect(parseDuration("250ms", "f")).toBe(250);
    expect(parseDuration("90s", "f")).toBe(90_000);
    expect(parseDuration("1.5m", "f")).toBe(90_000);
    expect(parseDuration("24h", "f")).toBe(86_400_000);
    expect(parseDuration(" 7d ", "f")).toBe(604_800_000);
    expect(parseDuration("0s", "f")).toBe(0);
    // 2.3 * 3,600,000 is 8,279,999.999999999 in floating point.
    expect(parseDuration("2.3h", "f")).toBe(8_280_000);
    expect(parseDuration("16.1s", "f")).toBe(16_100);
  });

  it("reads every decimal exactly, in whole milliseconds or not at all", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.stringMatching(/^\d{1,4}$/), fc.constantFrom(...unitNames), (whole, fraction, unit) => {
        const text = `${whole}.${fraction}${unit}`;
        // Exactly, in integers: (whole + fraction / 10^k) * unit.
        const scale = 10n ** BigInt(fraction.length);
        const scaled = (BigInt(whole) * scale + BigInt(fraction)) * BigInt(UNITS[unit]);
        if (scaled % scale === 0n) expect(parseDuration(text, "f")).toBe(Number(scaled / scale));
        else expect(refusal(text).message).toBe(`--some-flag: ${text} is not a whole number of milliseconds`);
      }),
    );
  });

  it("takes every whole number of every unit up to its bound, and nothing past it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40_000 }), fc.constantFrom(...unitNames), (n, unit) => {
        const ms = n * UNITS[unit];
        if (ms <= MAX_WAIT_MS) expect(parseDuration(`${n}${unit}`, "f", { max: MAX_WAIT_MS })).toBe(ms);
        else expect(refusal(`${n}${unit}`, { max: MAX_WAIT_MS }).message).toMatch(/^--some-flag: .* is longer than the 24\.8 days it can be$/);
      }),
    );
  });

  it("refuses a bare number, which some read as seconds and others as milliseconds", () => {
    expect(refusal("3600").message).toBe('--some-flag: "3600" is not a duration (add a unit: 3600ms or 3600s)');
    expect(refusal("0").code).toBe(ErrorCode.Usage);
    expect(refusal("1.5").code).toBe(ErrorCode.Usage);
  });

  it("refuses what is no duration, naming the flag", () => {
    for (const text of ["", "soon", "-5m", "5 m", "5M", "1e3s", "0x10s", "5m5s", ".5s", "5.s", "1,5s", "Infinity", "5w"]) {
      const error = refusal(text);
      expect(error.code).toBe(ErrorCode.Usage);
      expect(error.message).toBe(`--some-flag: "${text}" is not a duration (use 250ms, 90s, 1.5m, 24h or 7d)`);
    }
  });

  it("refuses a fraction of a millisecond", () => {
    expect(refusal("0.5ms").message).toBe("--some-flag: 0.5ms is not a whole number of milliseconds");
    expect(refusal("0.0001s").code).toBe(ErrorCode.Usage);
  });

  it("refuses a wait longer than a timer holds (Node fires it at once) and a number past what is exact", () => {
    expect(parseDuration(`${MAX_WAIT_MS}ms`, "f", { max: MAX_WAIT_MS })).toBe(MAX_WAIT_MS);
    expect(refusal(`${MAX_WAIT_MS + 1}ms`, { max: MAX_WAIT_MS }).code).toBe(ErrorCode.Usage);
    expect(refusal("25d", { max: MAX_WAIT_MS }).message).toBe("--some-flag: 25d is longer than the 24.8 days it can be");
    expect(refusal("9".repeat(400) + "d").message).toMatch(/is longer than the 285420\.9 years it can be$/);
  });

  it("refuses less than a minimum in the flag's name, and takes the minimum itself", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 1, max: 5_000 }), (ms, min) => {
        if (ms >= min) expect(parseDuration(`${ms}ms`, "f", { min })).toBe(ms);
        else expect(refusal(`${ms}ms`, { min }).code).toBe(ErrorCode.Usage);
      }),
    );
    expect(refusal("0s", { min: 1 }).message).toBe("--some-flag must be longer than 0");
    expect(refusal("50ms", { min: 100 }).message).toBe("--some-flag: 50ms is shorter than the 100 ms it must be at least");
    expect(refusal("9s", { min: 10_000 }).message).toBe("--some-flag: 9s is shorter than the 10 s it must be at least");
  });
});
