/**
 * One rule for what a message is: JSON data its schema accepts. `is()`, the validator
 * (`validators.X`, the class's `validate`), `parse()` and `create()` must all answer by it,
 * and whatever they accept must sign: a service that guards with `is()` and then signs must
 * never meet ONEX_E_CANONICAL_JSON. Each bundled version's example messages get values JSON
 * cannot hold (NaN, a Date, a Map, a class instance, a function, undefined in an array, a
 * sparse array, a lone surrogate, a bigint...) and JSON values injected where the schema
 * leaves members free (`type: object` without `additionalProperties: false`, `{}`), nested
 * there, or anywhere else in the message.
 *
 * Two differences are the rule's, not disagreements: a bigint beyond 2^53 is how onex carries
 * an exact integer, which `parse()` keeps and signing refuses (RFC 8785 has no such number),
 * and an `undefined` member is no member, which `parse()` drops before validating while the
 * validator alone may count it (so the validator may refuse, never accept, such a value).
 */
import fc from "fast-check";
import { join } from "node:path";
import { inspect } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { exampleMessage } from "../../generator/examples/example-message.js";
import { loadVersion } from "../../generator/load-version.js";
import { schemasByNameOf, type JsonSchema, type VersionModel } from "../../generator/model.js";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { MAX_JSON_DEPTH } from "../../runtime/json-text.js";
import type { MessageClass } from "../../runtime/message.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const SDKS = { "0.0.9": v0_0_9, "0.1": v0_1, "0.2": v0_2 } as const;

interface Judged {
  cls: MessageClass & { is(value: unknown): boolean; create(fields: object): unknown };
  example: Record<string, unknown>;
  /** Paths to objects the schema lets members be added to, and to members it leaves free (`{}`). */
  free: { path: string[]; object: boolean }[];
}

const byVersion = new Map<string, Judged[]>();

/** Where `schema` (at `path`) leaves room: objects open to more members, and members of any value. */
function freePaths(model: VersionModel, schema: unknown, path: string[], out: Judged["free"], depth = 0): void {
  if (depth > 8) return;
  if (schema === true) {
    out.push({ path, object: false });
    return;
  }
  if (schema === null || typeof schema !== "object") return;
  const s = schema as JsonSchema & Record<string, unknown>;
  const ref = typeof s.$ref === "string" ? /^onex:([A-Za-z0-9]+)$/.exec(s.$ref) : null;
  if (ref) return freePaths(model, schemasByNameOf(model).get(ref[1]!)?.schema, path, out, depth + 1);
  if (s.type === undefined && s.const === undefined && s.enum === undefined && s.$ref === undefined && s.anyOf === undefined && s.oneOf === undefined && s.allOf === undefined) out.push({ path, object: false });
  if (s.type === "object" && s.additionalProperties !== false && s.additionalProperties === undefined) out.push({ path, object: true });
  for (const [key, sub] of Object.entries((s.properties as Record<string, unknown> | undefined) ?? {})) freePaths(model, sub, [...path, key], out, depth + 1);
}

beforeAll(async () => {
  for (const [version, sdk] of Object.entries(SDKS)) {
    const { model } = await loadVersion(join(PROJECT_ROOT, "schemas"), `v${version}`, PROJECT_ROOT);
    byVersion.set(
      version,
      model.messages.map((m) => {
        const free: Judged["free"] = [];
        freePaths(model, schemasByNameOf(model).get(m.name)!.schema, [], free);
        return { cls: (sdk.messageClasses as Record<string, Judged["cls"]>)[m.type]!, example: exampleMessage(model, m.name), free };
      }),
    );
  }
});

class Point {
  x = 1;
}

/** A value `levels` objects (or arrays) deep. */
function deeplyNested(levels: number, as: "object" | "array"): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = as === "object" ? { a: value } : [value];
  return value;
}

/** Values JSON cannot hold, values it holds in a way a JavaScript value may not show, and JSON values. Factories: each run gets fresh objects. */
const odd: fc.Arbitrary<unknown> = fc.oneof(
  fc
    .constantFrom<() => unknown>(
      () => NaN,
      () => Infinity,
      () => -Infinity,
      () => -0,
      () => undefined,
      () => 5n,
      () => 2n ** 64n,
      () => Symbol("s"),
      () => () => 1,
      () => "\ud800",
      () => "a\udc00b",
      () => new Date(0),
      () => new Map([["a", 1]]),
      () => new Set([1]),
      () => new Point(),
      () => new String("x"),
      () => new Uint8Array(2),
      () => Object.assign(Object.create(null) as object, { a: 1 }),
      () => [, 1],
      () => [undefined],
      () => [1, NaN],
      () => ({ "\ud800": 1 }),
      () => ({ "\ud800": undefined }),
      () => ({ a: undefined }),
      () => ({ a: { b: [1, { c: new Date(0) }] } }),
      () => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        return cyclic;
      },
      // Nested about as deep as a message may be: whether it fits depends on where it is put.
      () => deeplyNested(MAX_JSON_DEPTH - 4, "object"),
      () => deeplyNested(MAX_JSON_DEPTH - 3, "array"),
      () => deeplyNested(MAX_JSON_DEPTH - 2, "object"),
      // A generated message held as data: parse() copies its data, signing writes its data.
      () => v0_2.StateUpdate.parse(byVersion.get("0.2")!.find((j) => j.cls.type === "signal.state.update")!.example),
    )
    .map((make) => make()),
  fc.jsonValue({ maxDepth: 2 }),
);

type Injection = { where: "free" | "anywhere"; pick: number; how: "member" | "nested" | "value"; name: string; value: unknown };

const injection: fc.Arbitrary<Injection> = fc.record({
  where: fc.constantFrom("free", "free", "anywhere"),
  pick: fc.nat(),
  how: fc.constantFrom("member", "nested", "value"),
  name: fc.constantFrom("k", "extra", "__proto__", "toJSON"),
  value: odd,
});

/** The paths of every member and element of `value`, the root excluded. */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((key) => [[...at, key], ...pathsOf((value as Record<string | number, unknown>)[key], [...at, key])]);
}

function setMember(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The example with `inj` made on a copy (the example itself is JSON, so JSON.parse copies it). */
function injected(judged: Judged, inj: Injection): Record<string, unknown> {
  const data = JSON.parse(JSON.stringify(judged.example)) as Record<string, unknown>;
  const value = inj.how === "nested" ? { list: [1, { [inj.name]: inj.value }] } : inj.value;
  const at = (path: (string | number)[]) => path.reduce<unknown>((v, k) => (v === null || typeof v !== "object" ? undefined : (v as Record<string | number, unknown>)[k]), data);
  if (inj.where === "free" && judged.free.length > 0) {
    const { path, object } = judged.free[inj.pick % judged.free.length]!;
    if (path.length === 0 && !object) return data;
    const parent = path.length === 0 ? undefined : at(path.slice(0, -1));
    if (path.length > 0 && (parent === null || typeof parent !== "object")) return data;
    // A free member the example leaves out is added empty first.
    if (path.length > 0 && at(path) === undefined) setMember(parent as object, path[path.length - 1]!, object ? {} : null);
    const target = path.length === 0 ? data : at(path);
    if (object && inj.how !== "value" && target !== null && typeof target === "object") setMember(target, inj.name, value);
    else if (path.length > 0) setMember(parent as object, path[path.length - 1]!, value);
    return data;
  }
  const paths = pathsOf(data);
  const path = paths[inj.pick % paths.length]!;
  setMember(at(path.slice(0, -1)) as object, path[path.length - 1]!, value);
  return data;
}

/** Whether `value` holds a bigint or a member whose value is undefined (what parse() changes before validating). */
function holdsBigIntOrUndefined(value: unknown, seen = new Set<unknown>()): boolean {
  if (typeof value === "bigint") return true;
  if (value === null || typeof value !== "object" || seen.has(value)) return false;
  seen.add(value);
  if (Array.isArray(value)) return value.some((item) => holdsBigIntOrUndefined(item, seen));
  return Object.keys(value).some((key) => (value as Record<string, unknown>)[key] === undefined || holdsBigIntOrUndefined((value as Record<string, unknown>)[key], seen));
}

function accepts(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (error) {
    if (error instanceof OnexError) return false;
    throw error;
  }
}

const key = generateKeyPair();

describe("is(), the validators, parse(), create() and signing agree on what a message is", () => {
  for (const version of Object.keys(SDKS)) {
    it(`v${version}: on examples with odd values injected, free members above all (property)`, () => {
      const judged = byVersion.get(version)!;
      for (const { cls, example } of judged) expect([cls.type, cls.is(example)]).toEqual([cls.type, true]);
      // The schemas leave members free, which is where the validators judged no value before.
      expect(judged.some((j) => j.free.length > 0)).toBe(true);
      const tally = { accepted: 0, refused: 0 };
      fc.assert(
        fc.property(fc.nat({ max: judged.length - 1 }), injection, (which, inj) => {
          const j = judged[which]!;
          const data = injected(j, inj);
          const parsed = accepts(() => j.cls.parse(data));
          const what = `${j.cls.type} ${inj.where}/${inj.how} ${inspect(inj.value, { depth: 3 })}`;
          expect(j.cls.is(data), what).toBe(parsed);
          // create() is parse() of the fields with the auto-filled ones it fills where left out (or undefined).
          if (!Object.values(data).includes(undefined)) expect(accepts(() => j.cls.create(data)), what).toBe(parsed);
          const validated = j.cls.validate(data);
          // The validator never accepts what parse() refuses; it may refuse what parse() changes first.
          if (validated) expect(parsed, what).toBe(true);
          else if (parsed) expect(holdsBigIntOrUndefined(data), what).toBe(true);
          if (!parsed) {
            tally.refused++;
            return;
          }
          tally.accepted++;
          // What is accepted signs, as given and as parsed; a bigint beyond 2^53 only is refused, by design.
          for (const message of [data, j.cls.parse(data)]) {
            let error: unknown;
            try {
              signMessage(message, key);
            } catch (caught) {
              error = caught;
            }
            if (error === undefined) continue;
            expect(error, what).toBeInstanceOf(OnexError);
            expect((error as OnexError).code, what).toBe(ErrorCode.CanonicalJson);
            expect(holdsBigIntOrUndefined(data) && /bigint/.test((error as Error).message), `${what}: ${(error as Error).message}`).toBe(true);
          }
        }),
        { numRuns: 1500 },
      );
      // Both answers are reached often.
      expect(tally.accepted).toBeGreaterThan(50);
      expect(tally.refused).toBeGreaterThan(300);
    });
  }
});

describe("a task whose free input holds what JSON cannot", () => {
  const source = { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" } as const;
  const trust = { signer: "key-1", level: "basic", zone: "zone.trusted.org", expires_at: "2030-01-01T00:00:00Z" } as const;
  const valid = v0_2.TaskDispatch.create({ source, trust, payload: { task_id: "t", targets: ["n-1"], operation: "op", priority: 1, input: { at: "2030-01-01" } } }).toJSON();
  const withInput = (input: unknown) => ({ ...valid, payload: { ...valid.payload, input: input as Record<string, unknown> } });

  it("is refused by is() and the validator, as parse() refuses it, naming the member", () => {
    for (const input of [{ at: new Date(0) }, { n: NaN }, { list: [1, , 2] }, { m: new Map() }, { f: () => 1 }]) {
      const data = withInput(input);
      expect(v0_2.TaskDispatch.is(data)).toBe(false);
      expect(v0_2.validators.TaskDispatch(data)).toBe(false);
      expect(v0_2.validators.TaskDispatch.errors?.[0]?.instancePath).toMatch(/^\/payload\/input/);
      let error: unknown;
      try {
        v0_2.TaskDispatch.parse(data);
      } catch (caught) {
        error = caught;
      }
      expect((error as OnexError).code).toBe(ErrorCode.CanonicalJson);
    }
  });

  it("nested as deep as a message may be, counted from the message and not from the input, is judged by is() as by parse()", () => {
    // The input is at depth 2 (payload, input): a message holds nesting to MAX_JSON_DEPTH levels from its root.
    for (let levels = MAX_JSON_DEPTH - 6; levels <= MAX_JSON_DEPTH + 2; levels++) {
      let nested: unknown = 1;
      for (let i = 0; i < levels; i++) nested = i % 2 === 0 ? { a: nested } : [nested];
      const data = withInput({ nested });
      const parsed = accepts(() => v0_2.TaskDispatch.parse(data));
      expect([levels, v0_2.TaskDispatch.is(data)]).toEqual([levels, parsed]);
      expect([levels, v0_2.validators.TaskDispatch(data)]).toEqual([levels, parsed]);
      expect([levels, accepts(() => v0_2.TaskDispatch.parse(JSON.stringify(data)))]).toEqual([levels, parsed]);
      expect([levels, accepts(() => signMessage(data, key))]).toEqual([levels, parsed]);
    }
  });

  it("is still refused by the validator after parse() refused a message (the checks parse() skips are skipped for it alone)", () => {
    expect(() => v0_2.TaskDispatch.parse({ ...valid, payload: { ...valid.payload, priority: 99 } })).toThrow(OnexError);
    expect(v0_2.validators.TaskDispatch(withInput({ at: new Date(0) }))).toBe(false);
    expect(v0_2.TaskDispatch.parse(JSON.stringify(withInput({ at: "x" }))).payload.input).toEqual({ at: "x" });
    expect(v0_2.validators.TaskDispatch(withInput({ at: new Date(0) }))).toBe(false);
  });
});
