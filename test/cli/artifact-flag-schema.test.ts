/**
 * `onex artifact publish|fetch` check --name, --version (or NAME@VERSION) and --media-type before
 * anything connects or is hashed (cli/artifact-peer.ts), with rules of their own that restate the
 * artifact descriptor's schema. They must accept exactly what the schema accepts, in every
 * version that defines the record: a value the CLI lets through and the schema refuses fails
 * after hashing, as ONEX_E_VALIDATION on a message field; one the CLI refuses and the schema
 * accepts can never be published. A change to the schema fails here until the CLI follows.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { checkArtifactName, checkMediaType } from "../../cli/artifact-peer.js";

const SCHEMAS = fileURLToPath(new URL("../../schemas", import.meta.url));
const versions = readdirSync(SCHEMAS).filter((v) =>
  existsSync(join(SCHEMAS, v, "records", "artifact-descriptor.yaml")),
);

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
const characters = fc.constantFrom(
  ..."aZ09._/-+:@ ~é\u00a0\u{1F642}".split(/(?:)/u),
);
const text = fc.oneof(
  fc.string({ unit: characters, maxLength: 8 }),
  fc
    .integer({ min: 0, max: 270 })
    .chain((n) =>
      fc
        .tuple(
          fc.string({ unit: characters, minLength: 1, maxLength: 2 }),
          fc.constant(n),
        )
        .map(([head, length]) =>
          (head + "a".repeat(length)).slice(0, Math.max(length, 1)),
        ),
    ),
  fc.integer({ min: 0, max: 270 }).map((n) => "x".repeat(n)),
  fc.integer({ min: 0, max: 140 }).map((n) => "\u{1F642}".repeat(n)),
);

describe.each(versions)(
  "the CLI's artifact flag checks agree with %s's artifact descriptor",
  (version) => {
    const schema = parse(
      readFileSync(
        join(SCHEMAS, version, "records", "artifact-descriptor.yaml"),
        "utf8",
      ),
    ) as { properties: Record<string, object> };
    const ajv = new Ajv2020({ strict: false });
    const schemaAccepts = (field: string) =>
      ajv.compile(schema.properties[field]!);

    it("name", () => {
      const valid = schemaAccepts("name");
      fc.assert(
        fc.property(text, (name) => {
          expect(
            accepts(() =>
              checkArtifactName(name, "1", {
                name: "--name",
                version: "--version",
              }),
            ),
          ).toBe(valid(name));
        }),
        { numRuns: 2_000 },
      );
    });

    it("version", () => {
      const valid = schemaAccepts("version");
      fc.assert(
        fc.property(text, (v) => {
          expect(
            accepts(() =>
              checkArtifactName("model", v, {
                name: "--name",
                version: "--version",
              }),
            ),
          ).toBe(valid(v));
        }),
        { numRuns: 2_000 },
      );
    });

    it("media type", () => {
      const valid = schemaAccepts("media_type");
      fc.assert(
        fc.property(text, (mediaType) => {
          expect(accepts(() => checkMediaType(mediaType))).toBe(
            valid(mediaType),
          );
        }),
        { numRuns: 2_000 },
      );
      // Two characters the schema counts as two, though JavaScript's length says four.
      expect(accepts(() => checkMediaType("\u{1F642}\u{1F642}"))).toBe(false);
    });
  },
);
