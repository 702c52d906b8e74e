/** Finding 3 (and the parser under findings 9-12): one JSON parser that refuses duplicate names and never changes a number. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { decodeInput } from "../../runtime/message.js";
import { parseJson, parseJsonWithLines, stringifyJson } from "../../runtime/json-text.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { signMessage, verifyMessageSignature } from "../../runtime/trust/sign-message.js";
import { catchOnexError, ErrorCode, taskDispatch } from "./fixtures.js";

describe("parseJson", () => {
  it("refuses a duplicate member name with its line, column and name", () => {
    const error = catchOnexError(() => parseJson('{"a":1,\n  "action":"delete","b":{},"action":"render"}'));
    expect(error.code).toBe(ErrorCode.JsonDuplicateKey);
    expect(error.details).toMatchObject({ line: 2, member: "action" });
    expect(error.details.column).toBe(28);
  });

  it("refuses duplicates at any depth and after escapes that spell the same name", () => {
    expect(catchOnexError(() => parseJson('{"x":[{"k":1,"k":2}]}')).code).toBe(ErrorCode.JsonDuplicateKey);
    expect(catchOnexError(() => parseJson('{"ab":1,"\\u0061b":2}')).code).toBe(ErrorCode.JsonDuplicateKey);
  });

  it("keeps __proto__ as a plain member, never as the prototype", () => {
    const value = parseJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses integers beyond 2^53 by default and carries them exactly as BigInt on request", () => {
    expect(catchOnexError(() => parseJson('{"n":9007199254740993}')).code).toBe(ErrorCode.NumberRange);
    const exact = parseJson('{"n":9007199254740993,"m":-18446744073709551617,"s":9007199254740991}', { bigIntegers: "bigint" }) as Record<string, unknown>;
    expect(exact).toEqual({ n: 9007199254740993n, m: -18446744073709551617n, s: 9007199254740991 });
    expect(stringifyJson(exact)).toBe('{"n":9007199254740993,"m":-18446744073709551617,"s":9007199254740991}');
    expect(catchOnexError(() => parseJson("1e400")).code).toBe(ErrorCode.NumberRange);
  });

  it("treats an integer beyond 2^53 written with a fraction or an exponent as one, and refuses a number a double would make 0", () => {
    for (const text of ["9007199254740993.0", "9.007199254740993e15", "10000000000000001e0", "-90071992547409930e-1"]) {
      for (const wrapped of [text, `{"n":${text}}`, `[0,${text}]`]) expect([wrapped, catchOnexError(() => parseJson(wrapped)).code]).toEqual([wrapped, ErrorCode.NumberRange]);
    }
    expect(parseJson('{"n":9.007199254740993e15,"m":-90071992547409930e-1}', { bigIntegers: "bigint" })).toEqual({ n: 9007199254740993n, m: -9007199254740993n });
    // The same values where a double holds them exactly, and fractions, which every reader rounds alike, pass as doubles.
    // So does a double as JSON.stringify writes it: its shortest form, not its exact decimal value.
    // So does a double in its 17 significant digits, as C's printf("%.17g") writes it (2^63, 1e23).
    expect(parseJson('[9007199254740992.0,1e18,1e300,9007199254740993.5,0.1,0e-5,0.0,1.0000000000000001e+21,9.2233720368547758e+18,9.9999999999999992e+22]')).toEqual([
      9007199254740992, 1e18, 1e300, 9007199254740994, 0.1, 0, 0, 1.0000000000000001e21, 2 ** 63, 1e23,
    ]);
    expect(parseJson("[9.2233720368547758e+18]", { bigIntegers: "bigint" })).toEqual([2 ** 63]);
    for (const text of ["1e-400", `0.${"0".repeat(400)}1`, '{"a":0,"b":1e-400}', "[0, -2.5E-999]", '{"a":0,"b":1e-0400 }', `{"a":0,"b":0.${"0".repeat(250)}1e-99}`]) {
      expect([text, catchOnexError(() => parseJson(text)).code]).toEqual([text, ErrorCode.NumberRange]);
    }
    expect(parseJson('{"a":0,"zone":"node-7e-5"}')).toEqual({ a: 0, zone: "node-7e-5" });
  });

  it("reports syntax errors with line and column", () => {
    const error = catchOnexError(() => parseJson('[\n  {"a": tru}\n]', { file: "x.json", firstLine: 10 }));
    expect(error.code).toBe(ErrorCode.JsonSyntax);
    expect(error.details).toMatchObject({ file: "x.json", line: 11 });
    expect(catchOnexError(() => parseJson('{"a":"line\nbreak"}')).code).toBe(ErrorCode.JsonSyntax);
    expect(catchOnexError(() => parseJson("[1,]")).code).toBe(ErrorCode.JsonSyntax);
    expect(catchOnexError(() => parseJson("[".repeat(2000))).code).toBe(ErrorCode.JsonSyntax);
  });

  it("gives the line of every element of an array", () => {
    expect(parseJsonWithLines('[\n {"a":1},\n\n {"b":2}, 3]', { firstLine: 5 }).elementLines).toEqual([6, 8, 8]);
  });

  it("agrees with JSON.parse on every JSON text JSON.parse reads without duplicates or big integers", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(undefined, 2), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(parseJson(text)).toEqual(JSON.parse(text));
        expect(stringifyJson(parseJson(text), indent)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it("throws only OnexErrors on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        try {
          parseJson(text);
        } catch (error) {
          expect((error as { code?: string }).code).toMatch(/^ONEX_E_(JSON_SYNTAX|JSON_DUPLICATE_KEY|NUMBER_RANGE)$/);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("the SDK and the signatures refuse duplicate member names", () => {
  const key = generateKeyPair();
  const signed = signMessage(taskDispatch(), key);
  // The same member twice: a reader keeping the first value acts on "delete", JSON.parse on "render".
  const text = JSON.stringify(signed).replace('"action":"render"', '"action":"delete","action":"render"');

  it("parse() of a generated class refuses the bytes and the string", () => {
    expect(catchOnexError(() => v0_1.TaskDispatch.parse(text)).code).toBe(ErrorCode.JsonDuplicateKey);
    expect(catchOnexError(() => v0_1.TaskDispatch.parse(new TextEncoder().encode(text))).code).toBe(ErrorCode.JsonDuplicateKey);
    expect(catchOnexError(() => decodeInput(text, "0.1")).code).toBe(ErrorCode.JsonDuplicateKey);
  });

  it("JSON.parse would have let the signature verify: the refusal is what protects the receiver", () => {
    expect(verifyMessageSignature(JSON.parse(text) as object, keyRing([key.publicKey])).keyId).toBe(key.keyId);
  });

  it("parse() refuses an integer a double would round, instead of changing it", () => {
    const big = JSON.stringify(taskDispatch()).replace('"priority":5', '"priority":9007199254740993');
    expect(catchOnexError(() => v0_1.TaskDispatch.parse(big)).code).toBe(ErrorCode.NumberRange);
  });
});
