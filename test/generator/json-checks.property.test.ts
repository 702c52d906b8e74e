/**
 * The JSON-data checks emit-validators.ts compiles into every validator (generator/json-checks.ts),
 * on schema shapes the bundled versions do not all use: `{}` and `true`, objects open to more
 * members or with `patternProperties`, arrays without `items` or with `prefixItems`, `anyOf`,
 * `oneOf`, `allOf`, `not`, `if`, `$ref`, `const` and `enum`, strings with and without a pattern.
 * On any value, JSON or not (a Date, a Map, a class instance, NaN, a function, a sparse array, a
 * lone surrogate, at any depth), a validator with the checks accepts only JSON data
 * (`isJsonData`, the rule `parse()` copies by); on JSON data it answers as the same schema
 * compiled without them. Compiled as generated validators are: standalone code, written to
 * disk and imported.
 */
import fc from "fast-check";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { standaloneValidatorSource } from "../../generator/emit-validators.js";
import { addJsonCheckKeyword, withJsonChecks } from "../../generator/json-checks.js";
import { createAjv } from "../../generator/meta-schema.js";
import type { JsonSchema } from "../../generator/model.js";
import { isJsonData } from "../../runtime/message.js";

const SCHEMAS: Record<string, unknown> = {
  empty: {},
  trueSchema: true,
  object: { type: "object" },
  closed: { type: "object", properties: { a: { type: "string" } }, additionalProperties: false },
  additionalSchema: { type: "object", properties: { a: {} }, additionalProperties: { type: ["array", "object"] } },
  patterns: { type: "object", patternProperties: { "^p": {} }, additionalProperties: false },
  patternsOpen: { type: "object", properties: { a: { type: "number" } }, patternProperties: { "^p": { type: "object" } } },
  array: { type: "array" },
  prefix: { type: "array", prefixItems: [{ type: "number" }, {}] },
  items: { type: "array", items: { type: ["string", "number", "object"] } },
  anyOf: { anyOf: [{ type: "string" }, { type: "object", properties: { a: true } }] },
  oneOf: { oneOf: [{ type: "number" }, { type: "array", items: true }] },
  allOf: { allOf: [{ type: "object" }, { properties: { a: { type: "number" } } }] },
  not: { not: { type: "string" } },
  ifThenElse: { if: { type: "object" }, then: { required: ["a"] }, else: { type: "array" } },
  ref: { $defs: { x: { type: "object", properties: { b: {} } } }, $ref: "#/$defs/x" },
  constNested: { type: "object", properties: { a: { type: "object", properties: { b: { const: { c: 1 } } } } } },
  enum: { enum: [[1, 2], { a: null }, "x"] },
  unevaluated: { type: "object", properties: { a: {} }, unevaluatedProperties: false },
  openTyped: { type: "object", additionalProperties: true, properties: { a: { type: "integer" } } },
  dependent: { type: "object", dependentSchemas: { a: { properties: { b: {} } } } },
  contains: { type: "array", contains: { type: "number" } },
  string: { type: "string" },
  asciiPattern: { type: "string", pattern: "^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]+)*$" },
  dotPattern: { type: "string", pattern: "^.*$" },
  negatedPattern: { type: "string", pattern: "^[^x]*$" },
  escapedAnchor: { type: "string", pattern: "^a\\$" },
  uuid: { type: "string", format: "uuid" },
  nullable: { type: ["string", "null", "object"] },
};

type Validator = (data: unknown) => boolean;
let dir = "";
const checked = new Map<string, Validator>();
const plain = new Map<string, Validator>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "onex-json-checks-"));
  // Not strict, for union types and the like, which no manifest may use but the checks must hold on;
  // numbers strict as in onex's validators, where ajv's own "number" refuses NaN and ±Infinity.
  const ajv = createAjv({ strict: false });
  ajv.opts.strictNumbers = true;
  addJsonCheckKeyword(ajv);
  const refs: Record<string, string> = {};
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    ajv.addSchema(withJsonChecks(schema as JsonSchema) as object, `test:checked/${name}`);
    ajv.addSchema(schema as object, `test:plain/${name}`);
    refs[`checked_${name}`] = `test:checked/${name}`;
    refs[`plain_${name}`] = `test:plain/${name}`;
  }
  const path = join(dir, "validators.mjs");
  await writeFile(path, standaloneValidatorSource(ajv, refs, "@onex/runtime/codegen-v1", { language: "js" }));
  const module = (await import(pathToFileURL(path).href)) as Record<string, Validator>;
  for (const name of Object.keys(SCHEMAS)) {
    checked.set(name, module[`checked_${name}`]!);
    plain.set(name, module[`plain_${name}`]!);
  }
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

class Point {
  x = 1;
}

const KEYS = ["a", "b", "c", "p1", "x", "\ud800"];

/** Leaves JSON cannot hold, and objects it holds only as something else. */
const oddLeaf: fc.Arbitrary<unknown> = fc
  .constantFrom<() => unknown>(
    () => NaN,
    () => Infinity,
    () => undefined,
    () => 5n,
    () => 2n ** 64n,
    () => Symbol("s"),
    () => () => 1,
    () => "\ud800",
    () => new Date(0),
    () => new Map(),
    () => new Point(),
    () => new String("x"),
    () => [, 1],
  )
  .map((make) => make());

const jsonLeaf: fc.Arbitrary<unknown> = fc.oneof(fc.constantFrom(0, -0, 1, 2, 1.5, "x", "a-b", "é", "", true, false, null), fc.string({ maxLength: 4 }));

/** A tree of JSON and odd values; `odd` decides whether odd leaves and containers appear. */
function tree(odd: boolean): fc.Arbitrary<unknown> {
  const leaf = odd ? fc.oneof({ weight: 3, arbitrary: jsonLeaf }, { weight: 1, arbitrary: oddLeaf }) : jsonLeaf;
  return fc.letrec<{ node: unknown }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("node"), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom(...(odd ? KEYS : KEYS.slice(0, -1))), tie("node"), { maxKeys: 3 }),
      ...(odd ? [fc.dictionary(fc.constantFrom(...KEYS), tie("node"), { maxKeys: 2 }).map((members) => Object.assign(Object.create(null) as object, members))] : []),
    ),
  })).node;
}

describe("the JSON-data checks compiled into validators", () => {
  it("accept only JSON data, whatever the schema's shape (property)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(SCHEMAS)), tree(true), (name, value) => {
        if (!checked.get(name)!(value)) return;
        accepted++;
        expect(isJsonData(value), `${name}: ${inspect(value)}`).toBe(true);
      }),
      { numRuns: 4000 },
    );
    expect(accepted).toBeGreaterThan(200);
  });

  it("change no answer on JSON data (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(SCHEMAS)), tree(false), (name, value) => {
        expect(checked.get(name)!(value), `${name}: ${inspect(value)}`).toBe(plain.get(name)!(value));
      }),
      { numRuns: 4000 },
    );
  });

  it("refuse, at each shape that leaves a value free, what JSON cannot hold", () => {
    const date = new Date(0);
    expect(plain.get("empty")!(date)).toBe(true);
    for (const [name, value] of [
      ["empty", date],
      ["trueSchema", NaN],
      ["object", { a: new Map() }],
      ["closed", Object.assign(new Point(), { a: "x" })],
      ["additionalSchema", { a: () => 1 }],
      ["patterns", { p1: Symbol("s") }],
      ["array", [1, , 2]],
      ["prefix", [1, 2, undefined]],
      ["anyOf", { a: Infinity }],
      ["oneOf", [new Date(0)]],
      ["allOf", { b: 5n }],
      ["dependent", { a: 1, b: new Set() }],
      ["string", "a\ud800"],
      ["dotPattern", "\udc00"],
      ["nullable", { x: [undefined] }],
    ] as [string, unknown][]) {
      expect([name, checked.get(name)!(value)]).toEqual([name, false]);
    }
  });
});
