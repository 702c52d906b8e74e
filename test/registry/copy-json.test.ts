/**
 * copyJson stands in for parsing a verified registration's bytes again, so a copy must be what
 * JSON.parse would make of them: equal, sharing nothing with the original, and with a
 * "__proto__" member kept as an own member (as JSON.parse keeps it), never as a prototype.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copyJson } from "../../runtime/registry/copy-json.js";

/** Every object and array reachable from a value. */
function containers(value: unknown, into: object[] = []): object[] {
  if (typeof value === "object" && value !== null) {
    into.push(value);
    for (const member of Object.values(value)) containers(member, into);
  }
  return into;
}

describe("copyJson", () => {
  it("copies parsed JSON into equal values that share no object or array with it", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed: unknown = JSON.parse(JSON.stringify(value));
        const copy = copyJson(parsed);
        expect(copy).toStrictEqual(JSON.parse(JSON.stringify(value)));
        expect(JSON.stringify(copy)).toBe(JSON.stringify(parsed));
        const originals = new Set(containers(parsed));
        for (const container of containers(copy)) expect(originals.has(container)).toBe(false);
      }),
    );
  });

  it("keeps a __proto__ member an own member, as JSON.parse does", () => {
    const parsed = JSON.parse('{"a":{"__proto__":{"polluted":true},"b":1}}') as { a: Record<string, unknown> };
    const copy = copyJson(parsed);
    expect(Object.getPrototypeOf(copy.a)).toBe(Object.prototype);
    expect(Object.keys(copy.a)).toEqual(["__proto__", "b"]);
    expect(Object.getOwnPropertyDescriptor(copy.a, "__proto__")?.value).toEqual({ polluted: true });
    expect((copy.a as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(copy)).toBe(JSON.stringify(parsed));
  });
});
