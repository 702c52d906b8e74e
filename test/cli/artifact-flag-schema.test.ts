/**
 * `onex artifact publish|fetch` check --name, --version (or NAME@VERSION) and --media-type before
 * anything connects or is hashed (cli/artifact-peer.ts), with rules of their own that restate the
 * artifact descriptor's schema. They must accept exactly what the schema accepts, in every
 * version that defines the record: a value the CLI lets through and the schema refuses fails
 * after hashing, as ONEX_E_VALIDATION on a message field; one the CLI refuses and the schema
 * accepts can never be published. A change to the schema fails here until the CLI follows.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { checkArtifactName, checkMediaType } from "../../cli/artifact-peer.js";

const SCHEMAS = fileURLToPath(new URL("../../schemas", import.meta.url));
const versions = readdirSync(SCHEMAS).filter((v) => existsSync(join(SCHEMAS, v, "records", "artifact-descriptor.yaml")));

it("finds the artifact descriptor in some version (else the checks below would run on none)", () => {
  expect(versions.length).toBeGreaterThan(0);
});

const accepts = (check: () => void) => {
  try {
    check();
    return true;
  } catch {
    return false;
  }
};

// Characters either side of every rule: the allowed punctuation, its neighbours, space, non-ASCII
// letters, a character outside the Basic Multilingual Plane (two UTF-16 units, one code point).
const characters = fc.constantFrom(..."aZ09._/-+:@ ~é\u00a0\u{1F642}".split(/(?:)/u));
// Short strings of those, and strings around every length limit.
const text = fc.oneof(
  fc.string({ unit: characters, maxLength: 8 }),
  fc.tuple(fc.string({ unit: characters, minLength: 1, maxLength: 2 }), fc.integer({ min: 0, max: 270 })).map(([head, length]) => head + "a".repeat(length)),
  fc.integer({ min: 0, max: 270 }).map((n) => "x".repeat(n)),
  fc.integer({ min: 0, max: 140 }).map((n) => "\u{1F642}".repeat(n)),
);

const flags = { name: "--name", version: "--version" };
/** Each descriptor field the CLI checks, and its check of a value. */
const checks: [field: string, check: (value: string) => void][] = [
  ["name", (value) => checkArtifactName(value, "1", flags)],
  ["version", (value) => checkArtifactName("model", value, flags)],
  ["media_type", (value) => checkMediaType(value)],
];

describe.each(versions)("the CLI's artifact flag checks agree with %s's artifact descriptor", (version) => {
  const schema = parse(readFileSync(join(SCHEMAS, version, "records", "artifact-descriptor.yaml"), "utf8")) as { properties: Record<string, object> };
  const ajv = new Ajv2020({ strict: false });

  it.each(checks)("%s", (field, check) => {
    const valid = ajv.compile(schema.properties[field]!);
    fc.assert(
      fc.property(text, (value) => {
        expect(accepts(() => check(value))).toBe(valid(value));
      }),
      { numRuns: 2_000 },
    );
  });

  it("counts a media type in characters, as the schema does: two emoji are four UTF-16 units", () => {
    expect(accepts(() => checkMediaType("\u{1F642}\u{1F642}"))).toBe(false);
    expect(ajv.compile(schema.properties.media_type!)("\u{1F642}\u{1F642}")).toBe(false);
  });
});
