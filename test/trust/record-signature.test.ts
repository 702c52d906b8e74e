/**
 * A record verified in the process that signed it is checked against what was signed (the
 * canonical text and the signer's key) instead of by Ed25519 arithmetic. These tests hold that
 * shortcut to the arithmetic's verdict: it may only ever agree with `isValidSignature`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generateKeyPair, type KeyPair, type PublicKey } from "../../runtime/trust/keys.js";
import { recordSigningBytes, signRecord, verifyRecordSignature } from "../../runtime/trust/record-signature.js";
import { isValidSignature } from "../../runtime/trust/signature.js";
import { catchOnexError, ErrorCode } from "./fixtures.js";

const alice = generateKeyPair();
/** Key material `createPublicKey` would take for `key`: what a getter could hand a second reader. */
const keyMaterialOf = (key: PublicKey) => ({ key: key.keyObject.export({ format: "der", type: "spki" }), format: "der", type: "spki" });
const bob = generateKeyPair();

type AnyRecord = Record<string, unknown> & { signature?: string };
const sign = (record: Record<string, unknown>, key: KeyPair): AnyRecord => signRecord<AnyRecord>(record, key);

function verdict(record: Record<string, unknown>, key: PublicKey): string {
  try {
    verifyRecordSignature(record, key, "record");
    return "valid";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe("records verified where they were signed", () => {
  it("verify with the signer's key only", () => {
    const record = sign({ node_id: "n-1", zone: "zone.trusted.org" }, alice);
    expect(verdict(record, alice.publicKey)).toBe("valid");
    expect(verdict(record, bob.publicKey)).toBe(ErrorCode.SignatureInvalid);
  });

  it("refuse a record changed after it was signed, or given another record's signature", () => {
    const record = sign({ node_id: "n-1", health: { status: "passing" } }, alice);
    expect(verdict({ ...record, health: { status: "critical" } }, alice.publicKey)).toBe(ErrorCode.SignatureInvalid);
    expect(verdict({ ...record, extra: true }, alice.publicKey)).toBe(ErrorCode.SignatureInvalid);
    const other = sign({ node_id: "n-2", health: { status: "passing" } }, alice);
    expect(verdict({ ...record, signature: other.signature }, alice.publicKey)).toBe(ErrorCode.SignatureInvalid);
  });

  it("refuse a signature made with a key pair whose public half names another key", () => {
    // A KeyPair is a plain object: one built by hand can pair Alice's private key with Bob's public
    // key. What it signs is Alice's signature, and Bob's key must not verify it.
    const mislabelled: KeyPair = { keyId: bob.keyId, publicKey: bob.publicKey, privateKey: alice.privateKey };
    const record = sign({ node_id: "n-3" }, mislabelled);
    expect(verdict(record, bob.publicKey)).toBe(ErrorCode.SignatureInvalid);
    expect(verdict(record, alice.publicKey)).toBe("valid");
  });

  it("refuse what a key pair signs when its private key reads as another key the second time", () => {
    // A getter: Mallory's private key signs, then the victim's public key material is what a second
    // read would find. The signature is Mallory's, and the victim's key must not verify it.
    let reads = 0;
    const shifty = {
      keyId: bob.keyId,
      publicKey: bob.publicKey,
      get privateKey() {
        reads++;
        return reads === 1 ? alice.privateKey : (keyMaterialOf(bob.publicKey) as unknown as KeyPair["privateKey"]);
      },
    } as KeyPair;
    const record = sign({ node_id: "n-5" }, shifty);
    expect(verdict(record, bob.publicKey)).toBe(ErrorCode.SignatureInvalid);
  });

  it("refuse a key whose key object is another key than its raw bytes, signed here or not", () => {
    const chimera: PublicKey = { keyId: alice.keyId, raw: alice.publicKey.raw, keyObject: bob.publicKey.keyObject };
    expect(verdict(sign({ node_id: "n-6" }, alice), chimera)).toBe(ErrorCode.KeyInvalid);
    expect(verdict(sign({ node_id: "n-6" }, bob), chimera)).toBe(ErrorCode.KeyInvalid);
  });

  it("refuse a key whose id is not its fingerprint, as for a record signed elsewhere", () => {
    const record = sign({ node_id: "n-4" }, alice);
    const misnamed: PublicKey = { ...alice.publicKey, keyId: bob.keyId };
    expect(catchOnexError(() => verifyRecordSignature(record, misnamed, "record")).code).toBe(ErrorCode.KeyInvalid);
    expect(catchOnexError(() => verifyRecordSignature(structuredClone(record), misnamed, "record")).code).toBe(ErrorCode.KeyInvalid);
  });

  it("agree with the Ed25519 arithmetic on every record, changed or not (fast-check)", () => {
    const json = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 5 });
    fc.assert(
      fc.property(json, json, fc.constantFrom("as signed", "changed", "other key", "other signature", "mislabelled pair"), (fields, otherFields, how) => {
        const signer = how === "mislabelled pair" ? { keyId: bob.keyId, publicKey: bob.publicKey, privateKey: alice.privateKey } : alice;
        const record = sign({ ...fields, signature: undefined }, signer) as Record<string, unknown>;
        const other = sign({ ...otherFields, signature: undefined }, alice);
        const presented = how === "changed" ? { ...record, ...otherFields, changed: 1 } : how === "other signature" ? { ...record, signature: other.signature } : record;
        const key = how === "other key" || how === "mislabelled pair" ? bob.publicKey : alice.publicKey;
        const arithmetic = isValidSignature(key, recordSigningBytes(presented), presented.signature);
        expect(verdict(presented, key)).toBe(arithmetic ? "valid" : ErrorCode.SignatureInvalid);
      }),
      { numRuns: 300 },
    );
  });
});
