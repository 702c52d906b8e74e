/**
 * Fuzzing the verifier: whatever a peer sends, `judge` returns a verdict (never throws),
 * never accepts a message that is not exactly what the trusted key signed, and names the
 * right code.
 */
import fc from "fast-check";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { describe, expect, it } from "vitest";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY, judge, type JudgeContext } from "../../runtime/trust/policy.js";
import { GrantBook, issueSessionGrant } from "../../runtime/trust/session-grant.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { paths, valueAt, withAt } from "../support/json-paths.js";
import { ErrorCode, NOW, taskDispatch, ZONE } from "./fixtures.js";

const node = generateKeyPair();
const other = generateKeyPair();
const authority = generateKeyPair();
const signed = signMessage(taskDispatch(), node);
const quiet = { warn: () => {} };
const ctx = (extra: Partial<JudgeContext> = {}): JudgeContext => ({ keys: keyRing([node.publicKey, other.publicKey]), now: NOW, zone: ZONE, logger: quiet, ...extra });
const RUNS = { numRuns: 300 };

/** The codes a change at `path` may be rejected with. */
function expectedCodes(path: string[], replacement: unknown): string[] {
  if (path.join("/") === "trust") {
    const isObject = replacement !== null && typeof replacement === "object" && !Array.isArray(replacement);
    // A replaced trust block has no (or a foreign) signature.
    return isObject ? [ErrorCode.SignatureMissing, ErrorCode.SignatureInvalid, ErrorCode.SignerUnknown] : [ErrorCode.ValidationFailed];
  }
  if (path.join("/") === "trust/signer") return typeof replacement === "string" ? [ErrorCode.SignerUnknown, ErrorCode.SignatureInvalid] : [ErrorCode.SignatureInvalid];
  return [ErrorCode.SignatureInvalid];
}

const allPaths = paths(signed).filter((p) => p.join("/") !== "trust/signature");

describe("verifier fuzz", () => {
  it("the untouched message is accepted (the baseline the properties compare against)", () => {
    expect(judge(signed, ctx()).accepted).toBe(true);
  });

  it("any changed or removed field is rejected with the code of what was changed", () => {
    fc.assert(
      fc.property(fc.constantFrom(...allPaths), fc.option(fc.jsonValue(), { nil: undefined }), (path, replacement) => {
        const original = valueAt(signed, path);
        fc.pre(JSON.stringify(replacement) !== JSON.stringify(original));
        const tampered = withAt(signed, path, replacement) as object;
        const verdict = judge(tampered, ctx());
        expect(verdict.accepted).toBe(false);
        expect(expectedCodes(path, replacement)).toContain(verdict.rejection?.code);
      }),
      RUNS,
    );
  });

  it("an added top-level or nested member is rejected", () => {
    fc.assert(
      fc.property(fc.constantFrom<string[]>([], ["payload"], ["payload", "input"], ["trust"], ["source"]), fc.string({ minLength: 1 }), fc.jsonValue(), (path, key, value) => {
        const container = valueAt(signed, path) as Record<string, unknown>;
        fc.pre(!(key in container) && key !== "__proto__" && !(path.join("/") === "trust" && key === "signature"));
        const tampered = withAt(signed, [...path, key], value) as object;
        expect(judge(tampered, ctx()).rejection?.code).toBe(ErrorCode.SignatureInvalid);
      }),
      RUNS,
    );
  });

  it("truncated, non-base64url, padded or wrong-algorithm signatures are ONEX_E_SIGNATURE_INVALID", () => {
    const text = signed.trust.signature as string;
    const mangled = fc.oneof(
      fc.integer({ min: 0, max: text.length - 1 }).map((n) => text.slice(0, n)),
      fc.tuple(fc.integer({ min: 8, max: text.length - 1 }), fc.constantFrom("+", "/", "=", " ", ".", "\u00e9", "\n")).map(([i, c]) => text.slice(0, i) + c + text.slice(i + 1)),
      fc.constantFrom("rsa", "ED25519", "ecdsa", "ed448", "").map((alg) => alg + text.slice(text.indexOf(":"))),
      fc.string().map((s) => "ed25519:" + s),
      fc.uint8Array({ minLength: 0, maxLength: 100 }).map((b) => "ed25519:" + Buffer.from(b).toString("base64url")),
    );
    fc.assert(
      fc.property(mangled, (signature) => {
        fc.pre(signature !== text);
        const verdict = judge({ ...signed, trust: { ...signed.trust, signature } }, ctx());
        expect(verdict.accepted).toBe(false);
        expect(verdict.rejection?.code).toBe(ErrorCode.SignatureInvalid);
      }),
      RUNS,
    );
  });

  it("a signature by the wrong key, or a signer swapped to another trusted key, is rejected", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.string({ maxLength: 200 }), (swapToTrusted, junkSigner) => {
        const byOther = signMessage(taskDispatch(), other);
        const signer = swapToTrusted ? node.keyId : junkSigner;
        fc.pre(signer !== other.keyId);
        const verdict = judge({ ...byOther, trust: { ...byOther.trust, signer } }, ctx());
        expect(verdict.accepted).toBe(false);
        expect(verdict.rejection?.code).toBe(swapToTrusted ? ErrorCode.SignatureInvalid : ErrorCode.SignerUnknown);
      }),
      RUNS,
    );
  });

  it("expired or not-yet-valid grants and wrong zones end in their codes", () => {
    const book = new GrantBook(new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }]));
    book.add(issueSessionGrant(authority, { subject: node.keyId, zone: ZONE, messageTypes: ["signal.task.dispatch"], notBefore: NOW, expiresAt: NOW + 3_600_000 }));
    fc.assert(
      fc.property(fc.integer({ min: -10 * 3_600_000, max: 10 * 3_600_000 }), fc.constantFrom(ZONE, "zone.other.org", "zone"), (offset, zone) => {
        const at = NOW + offset;
        const verdict = judge(signed, ctx({ grants: book, now: at, zone }), { ...DEFAULT_TRUST_POLICY, zone_match: "strict" });
        const code = offset < 0 ? ErrorCode.GrantNotYetValid : offset >= 3_600_000 ? ErrorCode.GrantExpired : zone !== ZONE ? ErrorCode.ZoneMismatch : undefined;
        expect(verdict.accepted).toBe(code === undefined);
        expect(verdict.rejection?.code).toBe(code);
      }),
      RUNS,
    );
  });

  it("arbitrary values never crash the verifier and are never accepted", () => {
    const allowed = new Set<string>([ErrorCode.ValidationFailed, ErrorCode.SignatureMissing, ErrorCode.SignatureInvalid, ErrorCode.SignerUnknown, ErrorCode.CanonicalJson]);
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ trust: fc.anything(), id: fc.anything(), payload: fc.anything() }), fc.record({ trust: fc.record({ signer: fc.constant(node.keyId), signature: fc.string() }) })), (value) => {
        const verdict = judge(value as object, ctx());
        expect(verdict.accepted).toBe(false);
        expect(allowed.has(verdict.rejection?.code ?? "")).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("huge documents are rejected by signature, deeply nested ones by canonicalization, without crashing", () => {
    const huge = { ...signed, payload: { ...signed.payload, input: { blob: "x".repeat(8_000_000), list: Array.from({ length: 100_000 }, (_, i) => i) } } };
    expect(judge(huge, ctx()).rejection?.code).toBe(ErrorCode.SignatureInvalid);
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const nested = { ...signed, payload: { ...signed.payload, input: deep } };
    expect(judge(nested, ctx()).rejection?.code).toBe(ErrorCode.CanonicalJson);
    // A message signed with deep (but allowed) nesting still verifies.
    let allowed: unknown = "leaf";
    for (let i = 0; i < 900; i++) allowed = [allowed];
    const deepSigned = signMessage({ ...taskDispatch().toJSON(), payload: { ...signed.payload, input: { deep: allowed } } }, node);
    expect(judge(deepSigned, ctx()).accepted).toBe(true);
  });
});
