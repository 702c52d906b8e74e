/**
 * verifyNodeIdentity remembers the identities it passed, by node id, and knows the same record
 * again without its checks (a registry verifies a node's identity with each of its entries). What
 * it knows again must be that record exactly: any record that differs from one it passed, in a
 * field's value, a field too many or too few, is checked in full, as if never seen.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, isOnexError } from "../../runtime/errors.js";
import { buildFingerprint, createNodeIdentity, verifyNodeIdentity } from "../../runtime/trust/identity.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import type { NodeIdentityRecord } from "../../runtime/trust/records.js";

const FIELDS = ["node_id", "public_key", "build_fingerprint", "zone"] as const;
const key = generateKeyPair();
const other = generateKeyPair();
const identity = createNodeIdentity(key, buildFingerprint("build a"), "zone.remembered.org");

/** The code verifyNodeIdentity throws for `record`, or "passes". */
function verdict(record: unknown): string {
  try {
    verifyNodeIdentity(record);
    return "passes";
  } catch (error) {
    if (!isOnexError(error)) throw error;
    return error.code;
  }
}

const alteration = fc.oneof(
  // A field's value replaced by another string, another field's value, or the other key's.
  fc.record({ field: fc.constantFrom(...FIELDS), value: fc.oneof(fc.string(), fc.constantFrom(...FIELDS.map((f) => identity[f])), fc.constant(other.publicKey.raw.toString("base64url"))) }),
  // A field's value that is no string.
  fc.record({ field: fc.constantFrom(...FIELDS), value: fc.oneof(fc.integer(), fc.constant(null), fc.constant([identity.zone]), fc.constant({ toString: () => identity.zone })) }),
  // A field removed, or one added.
  fc.record({ field: fc.constantFrom(...FIELDS), value: fc.constant(undefined) }),
  fc.record({ field: fc.constantFrom("algorithm", "key_id", "created_at", "__proto__x"), value: fc.string() }),
);

describe("verifyNodeIdentity of an identity it passed before", () => {
  it("passes the same record again, and a copy of it, with the same key", () => {
    const first = verifyNodeIdentity(identity);
    const again = verifyNodeIdentity({ ...identity });
    expect(again.keyId).toBe(first.keyId);
    expect(again.raw.equals(first.raw)).toBe(true);
  });

  it("checks in full any record that differs from it, and refuses it (fast-check)", () => {
    verifyNodeIdentity(identity);
    fc.assert(
      fc.property(alteration, ({ field, value }) => {
        const altered: Record<string, unknown> = { ...identity };
        if (value === undefined) delete altered[field];
        else altered[field] = value;
        if (FIELDS.every((f) => altered[f] === identity[f]) && Object.keys(altered).length === FIELDS.length) return; // no change at all
        expect(verdict(altered)).not.toBe("passes");
      }),
      { numRuns: 500 },
    );
    // The genuine record is still known after all the altered ones.
    expect(verdict({ ...identity })).toBe("passes");
  });

  it("refuses the record it passed once that object is changed in place", () => {
    const record: NodeIdentityRecord = { ...identity };
    verifyNodeIdentity(record);
    record.zone = "zone.elsewhere.org";
    expect(verdict(record)).toBe(ErrorCode.IdentityMismatch);
    record.zone = identity.zone;
    (record as unknown as Record<string, unknown>).extra = "x";
    expect(verdict(record)).toBe(ErrorCode.ValidationFailed);
  });

  it("refuses an array, or an object that inherits the fields, of an identity it passed", () => {
    verifyNodeIdentity(identity);
    expect(verdict(Object.assign([], identity))).toBe(ErrorCode.ValidationFailed);
    expect(verdict(Object.assign(Object.create(identity) as object, { a: 1, b: 2, c: 3, d: 4 }))).toBe(ErrorCode.ValidationFailed);
  });

  it("holds the expected build and zone to a record it knows again", () => {
    verifyNodeIdentity(identity);
    expect(() => verifyNodeIdentity({ ...identity }, { zone: "zone.elsewhere.org" })).toThrow(/belongs to zone zone\.remembered\.org, not zone\.elsewhere\.org/);
    expect(() => verifyNodeIdentity({ ...identity }, { build: buildFingerprint("build b") })).toThrow(/runs build sha256:/);
  });
});
