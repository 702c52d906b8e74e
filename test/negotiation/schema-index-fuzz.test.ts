/**
 * Fuzzing schema indexes as a peer publishes them (versioning.md): whatever JSON arrives,
 * `parseSchemaIndex` returns it or refuses it with ONEX_E_NEGOTIATION_INVALID (malformed) or
 * ONEX_E_SCHEMA_HASH_MISMATCH (edited), never another exception; and any edit of what the
 * content hash covers (the version, its messages and schemas) is refused.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { parseSchemaIndex, type SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { paths, valueAt, withAt } from "../support/json-paths.js";
import { bundledIndexes } from "./support.js";

const RUNS = { numRuns: 400 };
let index: SchemaIndex;

beforeAll(async () => {
  index = (await bundledIndexes()).find((i) => i.version === "0.2")!;
});

/** What reading `value` as a schema index ends in: "accepted", or the OnexError's code (anything else fails the test). */
function read(value: unknown): string {
  try {
    parseSchemaIndex(value, "peer index");
    return "accepted";
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    return error.code;
  }
}

describe("schema index fuzz", () => {
  it("the published index is accepted (the baseline)", () => {
    expect(read(structuredClone(index))).toBe("accepted");
  });

  it("any edit of the version, a message or a schema, or of the content hash, is refused", () => {
    const covered = paths(index).filter(([top]) => top === "version" || top === "messages" || top === "schemas" || top === "content_hash");
    fc.assert(
      fc.property(fc.constantFrom(...covered), fc.option(fc.jsonValue(), { nil: undefined }), (path, replacement) => {
        fc.pre(JSON.stringify(replacement) !== JSON.stringify(valueAt(index, path)));
        expect([ErrorCode.NegotiationInvalid, ErrorCode.SchemaHashMismatch]).toContain(read(withAt(index, path, replacement)));
      }),
      RUNS,
    );
  });

  it("any JSON, and any edit anywhere, is read or refused with a negotiation code, never an exception", () => {
    const edited = fc.tuple(fc.constantFrom(...paths(index)), fc.option(fc.jsonValue(), { nil: undefined })).map(([path, replacement]) => withAt(index, path, replacement));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), edited), (value) => {
        expect(["accepted", ErrorCode.NegotiationInvalid, ErrorCode.SchemaHashMismatch]).toContain(read(value));
      }),
      RUNS,
    );
  });
});
