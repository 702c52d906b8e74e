/**
 * The generated validators against ajv itself. Each bundled version's schemas are loaded from
 * their YAML and compiled by a fresh `Ajv2020` with the real ajv-formats at run time, the way a
 * reader of the schemas would check a message; the SDK's ahead-of-time validators (standalone
 * code, onex's own date-time and uri checks, the BigInt fallback of `isValid`) must answer the
 * same on every message an example grows into by a few mistakes: a member changed to another
 * value, removed or added. `parse()` of the same message as JSON text must accept exactly what
 * ajv accepts, so the SDK neither lets through what the schemas forbid nor refuses what they
 * allow.
 */
import addFormatsModule from "ajv-formats";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import fc from "fast-check";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { exampleMessage } from "../../generator/examples/example-message.js";
import { loadVersion } from "../../generator/load-version.js";
import { mapSchemaRefs } from "../../generator/model-refs.js";
import { schemaIdOf, type VersionModel } from "../../generator/model.js";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { commonJsDefault } from "../../runtime/commonjs.js";
import { OnexError } from "../../runtime/errors.js";
import type { MessageClass } from "../../runtime/message.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const addFormats = commonJsDefault(addFormatsModule);
const SDKS = { "0.0.9": v0_0_9, "0.1": v0_1, "0.2": v0_2 } as const;

interface Judged {
  cls: MessageClass;
  ajv: ValidateFunction;
  example: Record<string, unknown>;
}

const byVersion = new Map<string, Judged[]>();

/** A fresh ajv, as a reader of the schemas would set one up: draft 2020-12 and ajv-formats' full formats. */
function ajvOf(model: VersionModel): Ajv2020 {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  for (const s of model.schemas) {
    const refs = mapSchemaRefs(s.schema, (ref) => {
      const match = /^onex:([A-Za-z0-9]+)(?:#(.*))?$/s.exec(ref);
      return match ? schemaIdOf(model, match[1]!) + (match[2] ? `#${match[2]}` : "") : ref;
    });
    ajv.addSchema({ ...refs, $id: schemaIdOf(model, s.name) });
  }
  return ajv;
}

beforeAll(async () => {
  for (const [version, sdk] of Object.entries(SDKS)) {
    const { model } = await loadVersion(join(PROJECT_ROOT, "schemas"), `v${version}`, PROJECT_ROOT);
    const ajv = ajvOf(model);
    byVersion.set(
      version,
      model.messages.map((m) => ({
        cls: (sdk.messageClasses as Record<string, MessageClass>)[m.type]!,
        ajv: ajv.getSchema(schemaIdOf(model, m.name))!,
        example: exampleMessage(model, m.name),
      })),
    );
  }
});

/** Strings near what the schemas check: times and URIs almost right, ids, zones, lengths at the limits, any Unicode. */
const trickyString = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.string({ unit: fc.constantFrom("a", "Z", "0", ".", "-", "_", ":", "/", "é", "\u{1F600}", "~", " "), maxLength: 300 }),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }), fc.constantFrom("T", "t", " "), fc.constantFrom("Z", "z", "+00:00", "-23:59", "+24:00", ""), fc.constantFrom("", ".5", ".123456789012", ".", ":60"))
    .map(([d, t, zone, fraction]) => d.toISOString().slice(0, 10) + t + d.toISOString().slice(11, 19) + fraction + zone),
  fc.constantFrom("2026-02-29T00:00:00Z", "2024-02-29T23:59:60Z", "2024-12-31T23:59:60Z", "2024-12-31T23:59:59.999999999999999999Z", "2024-12-31T22:59:59.999999999999999999Z", "1990-12-31T15:59:60-08:00"),
  fc.uuid().chain((u) => fc.constantFrom(u, u.toUpperCase(), u.slice(1), `${u}0`, `{${u}}`)),
  fc.webUrl({ withFragments: true, withQueryParameters: true }),
  fc.constantFrom("onex://zone.trusted.org/node/n-1", "https://onex.dev/schemas/v0.2/manifest.yaml", "http://[::1]:80/", "urn:x", "a:b", "//host", "sha256:" + "0".repeat(64), "ed25519:AAAA"),
);

const trickyValue: fc.Arbitrary<unknown> = fc.oneof(
  trickyString,
  fc.integer({ min: -2, max: 300 }),
  fc.constantFrom(0, 1, -1, 9, 10, 100, 101, 16384, 16383, 67108864, 67108865, 0.5, -0.5, 1e21, 2 ** 53, -(2 ** 53), 5e-324, true, false, null),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** The paths of every member and element of `value`, the root excluded. */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((key) => [[...at, key], ...pathsOf((value as Record<string | number, unknown>)[key], [...at, key])]);
}

type Mistake = { kind: "set" | "string" | "remove" | "add"; pick: number; value: unknown; text: string; name: string };

const mistake: fc.Arbitrary<Mistake> = fc.record({
  // "string" changes a string to another: most checks (formats, patterns, lengths) are on strings.
  kind: fc.constantFrom("set", "string", "string", "remove", "add"),
  text: trickyString,
  pick: fc.nat(),
  value: trickyValue,
  name: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "toJSON", "constructor", "signature", "_residue", "extra")),
});

/** The example with `mistakes` made, one after another, on a copy. */
function withMistakes(example: Record<string, unknown>, mistakes: Mistake[]): Record<string, unknown> {
  const data = JSON.parse(JSON.stringify(example)) as Record<string, unknown>;
  for (const m of mistakes) {
    const at = (path: (string | number)[]) => path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], data);
    const paths = pathsOf(data).filter((path) => m.kind !== "string" || typeof at(path) === "string");
    if (paths.length === 0) continue;
    const path = paths[m.pick % paths.length]!;
    const parent = at(path.slice(0, -1)) as Record<string | number, unknown>;
    const key = path[path.length - 1]!;
    if (m.kind === "set") parent[key] = m.value;
    else if (m.kind === "string") parent[key] = m.text;
    else if (m.kind === "remove") {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else {
      const target = parent[key];
      if (target !== null && typeof target === "object" && !Array.isArray(target)) {
        Object.defineProperty(target, m.name, { value: m.value, enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return data;
}

function parses(cls: MessageClass, text: string): boolean {
  try {
    cls.parse(text);
    return true;
  } catch (error) {
    if (error instanceof OnexError) return false;
    throw error;
  }
}

describe("the generated validators answer as ajv does on the bundled schemas", () => {
  for (const version of Object.keys(SDKS)) {
    it(`v${version}: on every message type's example grown by a few mistakes, the validator and parse() agree with ajv (property)`, () => {
      const judged = byVersion.get(version)!;
      // The examples themselves are valid: the baseline the mistakes depart from.
      for (const { cls, ajv, example } of judged) expect([cls.type, cls.validate(example), ajv(example)]).toEqual([cls.type, true, true]);
      let refused = 0;
      fc.assert(
        fc.property(fc.nat({ max: judged.length - 1 }), fc.array(mistake, { minLength: 1, maxLength: 3 }), (which, mistakes) => {
          const { cls, ajv, example } = judged[which]!;
          const data = withMistakes(example, mistakes);
          const expected = ajv(data);
          if (!expected) refused++;
          expect(cls.validate(data), JSON.stringify(data)).toBe(expected);
          expect(parses(cls, JSON.stringify(data)), JSON.stringify(data)).toBe(expected);
        }),
        { numRuns: 1500 },
      );
      // The mistakes reach the checks: most of them are refused, some are not.
      expect(refused).toBeGreaterThan(300);
    });
  }
});
