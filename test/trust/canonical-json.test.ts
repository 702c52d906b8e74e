import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { canonicalize, MAX_CANONICAL_DEPTH } from "../../runtime/trust/canonical-json.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { CORPORA } from "./corpus-paths.js";

const JCS = join(CORPORA, "jcs");
const vectors = readdirSync(join(JCS, "input")).filter((f) => f.endsWith(".json")).sort();

describe("canonicalize: RFC 8785 corpus (cyberphone/json-canonicalization testdata)", () => {
  it("finds the corpus", () => {
    expect(vectors.length).toBeGreaterThanOrEqual(6);
  });

  it.each(vectors)("%s canonicalizes to the expected bytes", (file) => {
    const input = JSON.parse(readFileSync(join(JCS, "input", file), "utf8")) as unknown;
    const expected = readFileSync(join(JCS, "output", file));
    expect(Buffer.from(canonicalize(input), "utf8").equals(expected)).toBe(true);
  });
});

describe("canonicalize: number formatting (RFC 8785 §3.2.2.3, ECMAScript Number-to-String)", () => {
  it.each([
    [0, "0"],
    [-0, "0"],
    [1, "1"],
    [-1.5, "-1.5"],
    [1e21, "1e+21"],
    [1e20, "100000000000000000000"],
    [1e-7, "1e-7"],
    [0.000001, "0.000001"],
    [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [9007199254740993, "9007199254740992"],
    [0.1 + 0.2, "0.30000000000000004"],
    [333333333.33333329, "333333333.3333333"],
  ])("%s → %s", (value, text) => {
    expect(canonicalize(value)).toBe(text);
  });
});

describe("canonicalize: strings and keys", () => {
  it("sorts keys by UTF-16 code units, not code points or locale", () => {
    // U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16 though it is the larger code point.
    expect(canonicalize({ "\ufb33": 1, "\u{1F600}": 2, a: 3, B: 4 })).toBe('{"B":4,"a":3,"\u{1F600}":2,"\ufb33":1}');
  });

  it("escapes exactly the characters RFC 8785 escapes", () => {
    expect(canonicalize("\b\t\n\f\r\u0000\u001f\"\\/\u007f\u2028")).toBe('"\\b\\t\\n\\f\\r\\u0000\\u001f\\"\\\\/\u007f\u2028"');
  });

  it("keeps nested key order independent of insertion order", () => {
    expect(canonicalize({ b: { d: 1, c: [{ z: 1, y: 2 }] }, a: null })).toBe(canonicalize({ a: null, b: { c: [{ y: 2, z: 1 }], d: 1 } }));
  });

  it("drops undefined members as JSON.stringify does, so signer and receiver agree", () => {
    expect(canonicalize({ a: 1, b: undefined })).toBe('{"a":1}');
  });

  it("agrees with a straightforward reference implementation on arbitrary JSON, small and wide objects alike (property)", () => {
    const wide = fc.dictionary(fc.string({ unit: "binary" }).filter((k) => (k as string & { isWellFormed(): boolean }).isWellFormed()), fc.jsonValue({ maxDepth: 1 }), { minKeys: 10, maxKeys: 60 });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), wide), (value) => {
        expect(canonicalize(value)).toBe(reference(value));
      }),
      { numRuns: 300 },
    );
  });

  it("matches JSON.parse round trips for arbitrary JSON (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalize(value);
        // Canonical output is valid JSON denoting the same value, and canonicalization is idempotent.
        expect(canonicalize(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });
});

/** RFC 8785 the obvious way: sorted keys, JSON.stringify for strings and numbers. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return "[" + value.map(reference).join(",") + "]";
  if (value !== null && typeof value === "object") {
    return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + reference((value as Record<string, unknown>)[k])).join(",") + "}";
  }
  return JSON.stringify(value === -0 ? 0 : value);
}

describe("canonicalize: what JSON cannot represent is rejected with ONEX_E_CANONICAL_JSON", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = { back: cyclic };
  let deep: unknown = 1;
  for (let i = 0; i < MAX_CANONICAL_DEPTH + 5; i++) deep = [deep];

  it.each([
    ["NaN", { a: Number.NaN }, "/a"],
    ["Infinity", [1, Number.POSITIVE_INFINITY], "/1"],
    ["-Infinity", Number.NEGATIVE_INFINITY, "/"],
    ["a lone high surrogate in a value", { s: "x\ud800" }, "/s"],
    ["a lone low surrogate in a key", { "\udc00": 1 }, "/\\udc00"],
    ["a cycle", cyclic, "/self/back"],
    ["a bigint", { n: 1n }, "/n"],
    ["a function", { f: () => 1 }, "/f"],
    ["a symbol", [Symbol("s")], "/0"],
    ["undefined in an array", [1, undefined], "/1"],
    ["a Date", { at: new Date(0) }, "/at"],
    ["a Map", new Map(), "/"],
    ["a class instance", { x: new (class Point {})() }, "/x"],
    ["nesting deeper than the limit", deep, undefined],
  ])("%s", (_name, value, path) => {
    let error: unknown;
    try {
      canonicalize(value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).code).toBe(ErrorCode.CanonicalJson);
    if (path !== undefined) expect((error as OnexError).details.instancePath).toBe(path);
  });

  it("accepts the same object twice side by side (shared, not cyclic)", () => {
    const shared = { v: 1 };
    expect(canonicalize({ a: shared, b: shared })).toBe('{"a":{"v":1},"b":{"v":1}}');
  });

  it("writes a generated message held inside data as its data, as parse() and create() copy it", () => {
    const source = { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" } as const;
    const trust = { signer: "key-1", level: "basic", zone: "zone.trusted.org", expires_at: "2030-01-01T00:00:00Z" } as const;
    const update = v0_2.StateUpdate.create({ source, trust, payload: { state: "idle" } });
    expect(canonicalize({ held: update })).toBe(canonicalize({ held: update.toJSON() }));
    // A message whose free `input` holds one: create() copies it as its data, and the data as given signs the same.
    const fields = { source, trust, payload: { task_id: "t", targets: ["n-1"] as [string], operation: "op", priority: 1, input: { update } } };
    const dispatch = v0_2.TaskDispatch.create(fields);
    const given = { ...dispatch.toJSON(), payload: fields.payload };
    expect(canonicalize(given)).toBe(canonicalize(dispatch.toJSON()));
  });

  it("takes only a generated message for one, as parse() does: not an object that merely answers for the symbol", () => {
    const isMessage = Symbol.for("onex.messageData");
    class Lookalike {
      a = 1;
    }
    (Lookalike.prototype as unknown as Record<symbol, unknown>)[isMessage] = true;
    // A proxy answers any member it is asked for: of a Map, it has no own members at all.
    const proxy = new Proxy(new Map([["k", 1]]), { get: (target, key) => (typeof key === "symbol" ? true : Reflect.get(target, key)) });
    const date = Object.assign(new Date(0), { [isMessage]: true });
    for (const [what, held] of Object.entries({ lookalike: new Lookalike(), proxy, date })) {
      expect(() => canonicalize({ held }), what).toThrow(expect.objectContaining({ code: ErrorCode.CanonicalJson }));
      expect(() => v0_2.StateUpdate.parse({ held }), what).toThrow(expect.objectContaining({ code: ErrorCode.CanonicalJson }));
    }
  });

  it("accepts objects without a prototype", () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = "v";
    expect(canonicalize(bare)).toBe('{"k":"v"}');
  });
});
