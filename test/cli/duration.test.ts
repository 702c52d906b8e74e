/**
 * Every duration flag (timeouts, waits, seeding, ages, validity, replay windows) is read by one
 * parser (cli/duration.ts): what it accepts is exactly its grammar, each form means what it
 * says, and anything else is ONEX_E_USAGE naming the flag.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_WAIT_MS, parseDuration } from "../../cli/duration.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function refusal(text: string, max?: number): OnexError {
  try {
    parseDuration(text, "some-flag", max);
  } catch (error) {
    expect(error).toBeInstanceOf(OnexError);
    return error as OnexError;
  }
  throw new Error(`"${text}" was accepted`);
}

describe("parseDuration", () => {
  it("reads each unit, decimals and plain milliseconds", () => {
    expect(parseDuration("250ms", "f")).toBe(250);
    expect(parseDuration("90s", "f")).toBe(90_000);
    expect(parseDuration("1.5m", "f")).toBe(90_000);
    expect(parseDuration("24h", "f")).toBe(86_400_000);
    expect(parseDuration(" 7d ", "f")).toBe(604_800_000);
    expect(parseDuration("1500", "f")).toBe(1_500);
    expect(parseDuration("0", "f")).toBe(0);
  });

  it("takes every whole number of every unit up to its bound, and nothing past it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40_000 }), fc.constantFrom(...(Object.keys(UNITS) as (keyof typeof UNITS)[])), (n, unit) => {
        const ms = n * UNITS[unit];
        if (ms <= MAX_WAIT_MS) expect(parseDuration(`${n}${unit}`, "f", MAX_WAIT_MS)).toBe(ms);
        else expect(refusal(`${n}${unit}`, MAX_WAIT_MS).message).toMatch(/^--some-flag: .* is longer than the 24\.8 days it can be$/);
      }),
    );
  });

  it("refuses what is no duration, naming the flag", () => {
    for (const text of ["", "soon", "-5m", "5 m", "5M", "1e3", "0x10", "5m5s", ".5s", "5.s", "1,5s", "Infinity", "5w"]) {
      const error = refusal(text);
      expect(error.code).toBe(ErrorCode.Usage);
      expect(error.message).toBe(`--some-flag: "${text}" is not a duration (use 250ms, 90s, 15m, 24h, 7d or milliseconds)`);
    }
  });

  it("refuses a fraction of a millisecond", () => {
    expect(refusal("0.5ms").message).toBe("--some-flag: 0.5ms is not a whole number of milliseconds");
    expect(refusal("0.0001s").code).toBe(ErrorCode.Usage);
  });

  it("refuses a wait longer than a timer holds (Node fires it at once) and a number past what is exact", () => {
    expect(parseDuration(`${MAX_WAIT_MS}`, "f", MAX_WAIT_MS)).toBe(MAX_WAIT_MS);
    expect(refusal(`${MAX_WAIT_MS + 1}`, MAX_WAIT_MS).code).toBe(ErrorCode.Usage);
    expect(refusal("25d", MAX_WAIT_MS).message).toBe("--some-flag: 25d is longer than the 24.8 days it can be");
    expect(refusal("9".repeat(400) + "d").code).toBe(ErrorCode.Usage);
  });
});
