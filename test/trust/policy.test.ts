import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { describe, expect, it } from "vitest";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY, judge, parseTrustPolicy, PolicyMode, trustPolicy, type JudgeContext, type PolicyName, type TrustPolicy } from "../../runtime/trust/policy.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { GrantBook, issueSessionGrant, revokeSessionGrant } from "../../runtime/trust/session-grant.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { catchOnexError, ErrorCode, NOW, taskDispatch, ZONE } from "./fixtures.js";

const node = generateKeyPair();
const stranger = generateKeyPair();
const authority = generateKeyPair();
const keys = keyRing([node.publicKey]);

/** A logger that records what judge logs. */
function recorder() {
  const lines: string[] = [];
  return { lines, logger: { warn: (message: string) => void lines.push(message) } };
}

function context(extra: Partial<JudgeContext> = {}): JudgeContext & { lines: string[] } {
  const { lines, logger } = recorder();
  return { keys, now: NOW, zone: ZONE, keyOfEntity: (id) => (id === "node-dispatcher" ? node.keyId : undefined), logger, lines, ...extra };
}

function only(name: PolicyName, mode: PolicyMode): TrustPolicy {
  return { signature: "off", zone_match: "off", token_valid: "off", origin_check: "off", [name]: mode };
}

const good = () => signMessage(taskDispatch(), node);

// For each policy, a message that fails it (and only it) and the code it fails with.
const failures: { policy: PolicyName; what: string; code: string; make: () => { message: object; ctx?: Partial<JudgeContext> } }[] = [
  { policy: "signature", what: "an unsigned message", code: ErrorCode.SignatureMissing, make: () => ({ message: taskDispatch(node.keyId) }) },
  { policy: "signature", what: "a tampered message", code: ErrorCode.SignatureInvalid, make: () => ({ message: { ...good(), payload: { ...good().payload, action: "delete" } } }) },
  { policy: "signature", what: "an unknown signer", code: ErrorCode.SignerUnknown, make: () => ({ message: signMessage(taskDispatch(), stranger), ctx: { keyOfEntity: () => stranger.keyId } }) },
  { policy: "zone_match", what: "another session zone", code: ErrorCode.ZoneMismatch, make: () => ({ message: good(), ctx: { zone: "zone.other.org" } }) },
  { policy: "token_valid", what: "expired trust", code: ErrorCode.TrustExpired, make: () => ({ message: signMessage(taskDispatch(undefined, { expires_at: new Date(NOW - 1).toISOString() }), node) }) },
  { policy: "token_valid", what: "no grant", code: ErrorCode.GrantInvalid, make: () => ({ message: good(), ctx: { grants: new GrantBook(new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }])) } }) },
  { policy: "token_valid", what: "an expired grant", code: ErrorCode.GrantExpired, make: () => ({ message: good(), ctx: { grants: grantBook({ expiresAt: NOW - 1, notBefore: NOW - 10_000 }) } }) },
  { policy: "token_valid", what: "a grant not yet valid", code: ErrorCode.GrantNotYetValid, make: () => ({ message: good(), ctx: { grants: grantBook({ notBefore: NOW + 60_000, expiresAt: NOW + 120_000 }) } }) },
  { policy: "token_valid", what: "a revoked grant", code: ErrorCode.GrantRevoked, make: () => ({ message: good(), ctx: { grants: grantBook({ revoke: true }) } }) },
  { policy: "token_valid", what: "a grant for other message types", code: ErrorCode.GrantInvalid, make: () => ({ message: good(), ctx: { grants: grantBook({ types: ["signal.state.update"] }) } }) },
  { policy: "token_valid", what: "a replayed id", code: ErrorCode.Replay, make: () => replayed() },
  { policy: "origin_check", what: "a source registered with another key", code: ErrorCode.OriginMismatch, make: () => ({ message: good(), ctx: { keyOfEntity: () => stranger.keyId } }) },
  { policy: "origin_check", what: "an unregistered source", code: ErrorCode.OriginMismatch, make: () => ({ message: good(), ctx: { keyOfEntity: () => undefined } }) },
];

function grantBook(options: { notBefore?: number; expiresAt?: number; types?: string[]; revoke?: boolean }): GrantBook {
  const book = new GrantBook(new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }]));
  const grant = issueSessionGrant(authority, {
    subject: "node-dispatcher",
    zone: ZONE,
    messageTypes: options.types ?? ["signal.task.dispatch"],
    notBefore: options.notBefore ?? NOW - 60_000,
    expiresAt: options.expiresAt ?? NOW + 60_000,
  });
  book.add(grant);
  if (options.revoke) book.revoke(revokeSessionGrant(grant, authority, { reason: "node decommissioned" }));
  return book;
}

function replayed(): { message: object; ctx: Partial<JudgeContext> } {
  const replay = new ReplayGuard();
  const message = good();
  expect(judge(message, context({ replay })).accepted).toBe(true);
  return { message, ctx: { replay } };
}

describe("judge: defaults", () => {
  it("are the specification's: signature strict, zone_match advisory, token_valid strict, origin_check advisory", () => {
    expect(DEFAULT_TRUST_POLICY).toEqual({ signature: "strict", zone_match: "advisory", token_valid: "strict", origin_check: "advisory" });
    expect(trustPolicy()).toEqual(DEFAULT_TRUST_POLICY);
  });

  it("accept a good message with no warnings and name the verified signer", () => {
    const grants = grantBook({});
    const ctx = context({ grants, replay: new ReplayGuard() });
    const verdict = judge(good(), ctx);
    expect(verdict).toMatchObject({ accepted: true, warnings: [], verifiedSigner: node.keyId });
    expect(verdict.rejection).toBeUndefined();
    expect(ctx.lines).toEqual([]);
  });
});

describe.each(failures)("judge: $policy with $what", ({ policy, code, make }) => {
  it("strict rejects with the failing check's code", () => {
    const { message, ctx } = make();
    const c = context(ctx);
    const verdict = judge(message, c, only(policy, "strict"));
    expect(verdict.accepted).toBe(false);
    expect(verdict.rejection?.code).toBe(code);
    expect(verdict.rejection?.details.policy).toBe(policy);
    expect(c.lines).toEqual([]);
  });

  it("advisory accepts, attaches the warning and logs it", () => {
    const { message, ctx } = make();
    const c = context(ctx);
    const verdict = judge(message, c, only(policy, "advisory"));
    expect(verdict.accepted).toBe(true);
    expect(verdict.rejection).toBeUndefined();
    expect(verdict.warnings).toEqual([expect.objectContaining({ policy, code })]);
    expect(c.lines).toHaveLength(1);
    expect(c.lines[0]).toContain(code);
  });

  it("off accepts without a warning", () => {
    const { message, ctx } = make();
    const c = context(ctx);
    const verdict = judge(message, c, only(policy, "off"));
    expect(verdict).toMatchObject({ accepted: true, warnings: [] });
    expect(c.lines).toEqual([]);
  });
});

describe("judge: combinations", () => {
  it("with the defaults, a zone mismatch is a warning but a bad signature is a rejection", () => {
    const zoneOnly = judge(good(), context({ zone: "zone.other.org" }));
    expect(zoneOnly.accepted).toBe(true);
    expect(zoneOnly.warnings.map((w) => w.code)).toEqual([ErrorCode.ZoneMismatch]);
    const forged = judge({ ...good(), id: "6f1c2a4e-0000-4000-8000-000000000000" }, context({ zone: "zone.other.org" }));
    expect(forged.accepted).toBe(false);
    expect(forged.rejection?.code).toBe(ErrorCode.SignatureInvalid);
  });

  it("a message rejected by another policy does not use up its id in the replay guard", () => {
    const replay = new ReplayGuard();
    const message = good();
    expect(judge(message, context({ replay, zone: "zone.other.org" }), { ...DEFAULT_TRUST_POLICY, zone_match: "strict" }).accepted).toBe(false);
    expect(judge(message, context({ replay })).accepted).toBe(true);
    expect(judge(message, context({ replay })).rejection?.code).toBe(ErrorCode.Replay);
  });

  it("a forgery under a genuine message's id does not use up that id: the genuine message still passes, once", () => {
    const replay = new ReplayGuard();
    const message = good();
    const forged = signMessage({ ...taskDispatch(), id: message.id }, stranger);
    expect(judge(forged, context({ replay })).rejection?.code).toBe(ErrorCode.SignerUnknown);
    expect(judge(message, context({ replay })).accepted).toBe(true);
    expect(judge(message, context({ replay })).rejection?.code).toBe(ErrorCode.Replay);
  });

  it("a grant for the source entity counts only when the entity is registered with the signing key", () => {
    const grants = grantBook({});
    expect(judge(good(), context({ grants })).accepted).toBe(true);
    // The same grant does not help a trusted key that merely claims to be node-dispatcher.
    const other = generateKeyPair();
    const claim = signMessage(taskDispatch(), other);
    const verdict = judge(claim, context({ grants, keys: keyRing([node.publicKey, other.publicKey]) }));
    expect(verdict.rejection?.code).toBe(ErrorCode.GrantInvalid);
  });

  it("never throws for junk input; it rejects it", () => {
    for (const junk of [null, 42, "text", [], {}, { trust: null }, { trust: { signature: 5 } }]) {
      const verdict = judge(junk as object, context());
      expect(verdict.accepted).toBe(false);
      expect(verdict.rejection?.code).toMatch(/^ONEX_E_(VALIDATION|SIGNATURE_INVALID|SIGNATURE_MISSING)$/);
    }
  });
});

describe("policy configuration", () => {
  it("parses name=mode lists", () => {
    expect(parseTrustPolicy("zone_match=strict, origin_check=off")).toEqual({ ...DEFAULT_TRUST_POLICY, zone_match: "strict", origin_check: "off" });
  });

  it.each(["signature=lenient", "nonsense=strict", "signature"])("rejects %s with ONEX_E_POLICY_INVALID", (text) => {
    expect(catchOnexError(() => parseTrustPolicy(text)).code).toBe(ErrorCode.PolicyInvalid);
  });

  it("judge refuses a malformed policy object", () => {
    expect(catchOnexError(() => judge(good(), context(), { ...DEFAULT_TRUST_POLICY, signature: "sometimes" as PolicyMode })).code).toBe(ErrorCode.PolicyInvalid);
  });
});
