import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { canonicalize } from "../../runtime/trust/canonical-json.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { checkTrustExpiry, checkZone, messageSigningBytes, signMessage, verifyMessage, verifyMessageSignature } from "../../runtime/trust/sign-message.js";
import { catchOnexError, ErrorCode, NOW, taskDispatch, ZONE } from "./fixtures.js";

const author = generateKeyPair();
const stranger = generateKeyPair();
const keys = keyRing([author.publicKey]);

describe("signMessage / verifyMessage", () => {
  it("signs a generated instance; the result is valid for its schema and verifies", () => {
    const message = taskDispatch();
    const signed = signMessage(message, author);
    expect(signed.trust.signer).toBe(author.keyId);
    expect(signed.trust.signature).toMatch(/^ed25519:[A-Za-z0-9_-]{86}$/);
    expect(v0_1.TaskDispatch.parse(signed).payload.task_id).toBe("t-42");
    expect(verifyMessage(signed, { keys, now: NOW, zone: ZONE }).keyId).toBe(author.keyId);
    // The input is left unsigned.
    expect(message.trust.signature).toBeUndefined();
  });

  it("the signature covers the canonical envelope without trust.signature", () => {
    const signed = signMessage(taskDispatch(), author);
    const { signature: _s, ...trust } = signed.trust;
    expect(messageSigningBytes(signed).toString("utf8")).toBe(canonicalize({ ...signed, trust }));
  });

  it("survives the wire and any reordering of keys", () => {
    const signed = signMessage(taskDispatch(), author);
    const wire = v0_1.TaskDispatch.parse(new TextEncoder().encode(JSON.stringify(signed)));
    verifyMessageSignature(wire, keys);
    const reordered = reverseKeys(signed) as object;
    expect(Object.keys(reordered)).toEqual(Object.keys(signed).reverse());
    expect(Object.keys((reordered as Msg).trust)).toEqual(Object.keys(signed.trust).reverse());
    verifyMessageSignature(reordered, keys);
  });

  it.each([
    ["the payload", (m: Msg) => ({ ...m, payload: { ...m.payload, priority: 9 } })],
    ["a nested input value", (m: Msg) => ({ ...m, payload: { ...m.payload, input: { ...m.payload.input, quality: 0.86 } } })],
    ["the message id", (m: Msg) => ({ ...m, id: "00000000-0000-4000-8000-000000000000" })],
    ["the source", (m: Msg) => ({ ...m, source: { ...m.source, entity_id: "node-other" } })],
    ["the trust level", (m: Msg) => ({ ...m, trust: { ...m.trust, level: "trusted" } })],
    ["the trust zone", (m: Msg) => ({ ...m, trust: { ...m.trust, zone: "zone.other.org" } })],
    ["the trust expiry", (m: Msg) => ({ ...m, trust: { ...m.trust, expires_at: "2099-01-01T00:00:00Z" } })],
    ["an added field", (m: Msg) => ({ ...m, extra: true })],
  ])("rejects a change to %s with ONEX_E_SIGNATURE_INVALID", (_what, tamper) => {
    const signed = signMessage(taskDispatch(), author);
    expect(catchOnexError(() => verifyMessageSignature(tamper(signed), keys)).code).toBe(ErrorCode.SignatureInvalid);
  });

  it("a signature by a key outside the ring is ONEX_E_SIGNER_UNKNOWN; a swapped signer is ONEX_E_SIGNATURE_INVALID", () => {
    const byStranger = signMessage(taskDispatch(), stranger);
    expect(catchOnexError(() => verifyMessageSignature(byStranger, keys)).code).toBe(ErrorCode.SignerUnknown);
    // The stranger claims to be the author: the signer names a trusted key, the signature is not that key's.
    const impostor = { ...byStranger, trust: { ...byStranger.trust, signer: author.keyId } };
    expect(catchOnexError(() => verifyMessageSignature(impostor, keys)).code).toBe(ErrorCode.SignatureInvalid);
  });

  it("an unsigned message is ONEX_E_SIGNATURE_MISSING", () => {
    expect(catchOnexError(() => verifyMessageSignature(taskDispatch(author.keyId), keys)).code).toBe(ErrorCode.SignatureMissing);
  });

  it("checks trust.expires_at", () => {
    const signed = signMessage(taskDispatch(undefined, { expires_at: new Date(NOW).toISOString() }), author);
    verifyMessageSignature(signed, keys);
    expect(catchOnexError(() => verifyMessage(signed, { keys, now: NOW })).code).toBe(ErrorCode.TrustExpired);
    checkTrustExpiry(signed, NOW - 1);
    expect(catchOnexError(() => checkTrustExpiry({ trust: { expires_at: "soon" } }, NOW)).code).toBe(ErrorCode.TrustExpired);
  });

  it("checks trust.zone against the session zone and the source zone", () => {
    const signed = signMessage(taskDispatch(), author);
    expect(catchOnexError(() => verifyMessage(signed, { keys, now: NOW, zone: "zone.other.org" })).code).toBe(ErrorCode.ZoneMismatch);
    expect(catchOnexError(() => checkZone({ ...signed, trust: { ...signed.trust, zone: "zone.other.org" } })).code).toBe(ErrorCode.ZoneMismatch);
  });

  it("works on envelopes of every protocol version", () => {
    const trust = { signer: "k", zone: ZONE, expires_at: "2026-12-31T00:00:00Z" };
    const messages = [
      v0_0_9.StateUpdate.create({ zone: ZONE, entity_type: "node", entity_id: "n-1", trust: { ...trust, level: "high" }, payload: { state: "idle" } }),
      v0_1.StateUpdate.create({ source: { zone: ZONE, entity_type: "node", entity_id: "n-1" }, trust: { ...trust, level: "basic" }, payload: { state: "idle" } }),
      v0_2.StateUpdate.create({ source: { zone: ZONE, entity_type: "node", entity_id: "n-1" }, trust: { ...trust, level: "trusted" }, payload: { state: "idle" } }),
    ];
    for (const message of messages) {
      const signed = signMessage(message, author);
      expect(verifyMessage(signed, { keys, now: NOW, zone: ZONE }).keyId).toBe(author.keyId);
      const parsed = (message.constructor as unknown as { parse(input: object): unknown }).parse(signed);
      expect(parsed).toBeInstanceOf(message.constructor);
      expect(catchOnexError(() => checkZone({ ...signed, zone: "zone.other.org", source: { ...(signed.source as object), zone: "zone.other.org" } })).code).toBe(ErrorCode.ZoneMismatch);
    }
  });

  it("rejects input that is no envelope with ONEX_E_VALIDATION", () => {
    expect(catchOnexError(() => signMessage({ payload: {} }, author)).code).toBe(ErrorCode.ValidationFailed);
    expect(catchOnexError(() => verifyMessageSignature([] as unknown as object, keys)).code).toBe(ErrorCode.ValidationFailed);
  });
});

type Msg = ReturnType<typeof signMessage<v0_1.TaskDispatch>>;

/** A deep copy with every object's keys in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([key, member]) => [key, reverseKeys(member)]));
}
