/**
 * The options that decide what is trusted fail closed: a `now`, a window, an age or a zone list
 * that is no such thing is ONEX_E_USAGE (or ONEX_E_POLICY_INVALID) from the call, never a check
 * that quietly passes. Each case here was accepted: a `now` of NaN compared false with every
 * expiry, a replay window of "5000" was concatenated rather than added, a zone list given as a
 * string matched any part of it, and a zone-match mode of "STRICT" counted as advisory.
 */
import { describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { attestExecution } from "../../runtime/trust/attestation.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { judge } from "../../runtime/trust/policy.js";
import { verifyRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { GrantBook, issueSessionGrant, verifySessionGrant } from "../../runtime/trust/session-grant.js";
import { signMessage, verifyMessage } from "../../runtime/trust/sign-message.js";
import { TrustLedger } from "../../runtime/trust/trust-ledger.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { decodeSubjectToken } from "../../runtime/subject-token.js";
import { makeNode } from "../registry/fixtures.js";
import { catchOnexError, ErrorCode, NOW, taskDispatch, ZONE } from "./fixtures.js";

const NOT_TIMES: unknown[] = [Number.NaN, Infinity, "garbage", "2026-06-01", new Date("x"), null, {}, 10n];

describe("a time that is no time", () => {
  const key = generateKeyPair();
  // Expired a day before NOW: any real clock refuses it.
  const expired = signMessage(taskDispatch(key.keyId, { expires_at: new Date(NOW - 86_400_000).toISOString(), time: new Date(NOW - 2 * 86_400_000).toISOString() }), key);

  it("verifyMessage and judge refuse it as `now` rather than accept an expired message", () => {
    expect(catchOnexError(() => verifyMessage(expired, { keys: keyRing([key.publicKey]), now: NOW })).code).toBe(ErrorCode.TrustExpired);
    for (const now of NOT_TIMES) {
      expect(catchOnexError(() => verifyMessage(expired, { keys: keyRing([key.publicKey]), now: now as number })).code, String(now)).toBe(ErrorCode.Usage);
      expect(catchOnexError(() => judge(expired, { keys: keyRing([key.publicKey]), now: now as number })).code, String(now)).toBe(ErrorCode.Usage);
    }
  });

  it("a grant book and a grant check refuse it rather than authorize an expired grant", () => {
    const authority = generateKeyPair();
    const authorities = new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }]);
    const grant = issueSessionGrant(authority, { subject: "node-a", zone: ZONE, messageTypes: ["*"], notBefore: NOW - 7_200_000, expiresAt: NOW - 3_600_000 });
    const book = new GrantBook(authorities);
    book.add(grant);
    expect(catchOnexError(() => book.authorize(["node-a"], "signal.task.dispatch", ZONE, NOW)).code).toBe(ErrorCode.GrantExpired);
    for (const now of NOT_TIMES) {
      expect(catchOnexError(() => book.authorize(["node-a"], "signal.task.dispatch", ZONE, now as number)).code, String(now)).toBe(ErrorCode.Usage);
      expect(catchOnexError(() => verifySessionGrant(grant, { authorities, now: now as number })).code, String(now)).toBe(ErrorCode.Usage);
    }
  });

  it("a replay guard refuses it rather than accept the same message twice", () => {
    const guard = new ReplayGuard();
    const message = taskDispatch("key-unset", { time: new Date(NOW - 1000).toISOString() });
    for (const now of NOT_TIMES) expect(catchOnexError(() => guard.accept(message, now as number)).code, String(now)).toBe(ErrorCode.Usage);
    guard.accept(message, NOW);
    expect(catchOnexError(() => guard.accept(message, NOW)).code).toBe(ErrorCode.Replay);
  });

  it("a registry entry check refuses it, and a maximum age that is no number, rather than accept an entry of any age", () => {
    const node = makeNode(ZONE, { registeredAt: "2000-01-01T00:00:00Z" });
    const check = (options: object) => catchOnexError(() => verifyRegistryEntry(node.entry, node.key.publicKey, options)).code;
    expect(check({ maxAgeMs: 60_000 })).toBe(ErrorCode.TrustExpired);
    for (const maxAgeMs of [Number.NaN, "1m", -5, 0, Infinity]) expect(check({ maxAgeMs }), String(maxAgeMs)).toBe(ErrorCode.Usage);
    for (const now of NOT_TIMES) expect(check({ maxAgeMs: 60_000, now }), String(now)).toBe(ErrorCode.Usage);
  });
});

describe("windows, zones and modes that are no such thing", () => {
  it("a replay guard refuses a window or skew given as a string", () => {
    for (const options of [{ windowMs: "5000" }, { skewMs: "30000" }, { maxEntries: "10" }]) {
      expect(catchOnexError(() => new ReplayGuard(options as never)).code, JSON.stringify(options)).toBe(ErrorCode.Usage);
    }
  });

  it("openRegistry refuses a zone list given as a string, an unknown zone-match mode and a maximum age that is no number, before it connects", async () => {
    // Port 1: nothing listens, so options that got as far as connecting would be ONEX_E_REGISTRY_UNAVAILABLE.
    const url = "nats://127.0.0.1:1";
    const refusal = (options: object) => openRegistry(url, options).then(() => "opened", (error: { code?: string }) => error.code);
    expect(await refusal({ zones: "zone.trusted.org" })).toBe(ErrorCode.Usage);
    expect(await refusal({ zones: [5] })).toBe(ErrorCode.Usage);
    expect(await refusal({ zoneMatch: "STRICT" })).toBe(ErrorCode.PolicyInvalid);
    expect(await refusal({ zoneMatch: "bogus" })).toBe(ErrorCode.PolicyInvalid);
    for (const maxEntryAgeMs of ["abc", Number.NaN, -5]) expect(await refusal({ maxEntryAgeMs }), String(maxEntryAgeMs)).toBe(ErrorCode.Usage);
    expect(await refusal({ zones: [ZONE], zoneMatch: "strict", maxEntryAgeMs: 60_000 })).toBe(ErrorCode.RegistryUnavailable);
  });

  it("a subject token that is no string is ONEX_E_SUBJECT_PARSE, not a TypeError", () => {
    for (const token of [null, undefined, 5, {}]) expect(catchOnexError(() => decodeSubjectToken(token as string)).code).toBe(ErrorCode.SubjectParse);
  });
});

describe("what is signed", () => {
  const key = generateKeyPair();

  it("a grant's message types or zones given as a string are refused, not spread into one-letter types", () => {
    for (const scopes of [{ messageTypes: "signal.task.dispatch" }, { messageTypes: ["*"], zones: ZONE }, { messageTypes: [5] }]) {
      const options = { subject: "node-a", zone: ZONE, notBefore: NOW, expiresAt: NOW + 3_600_000, ...scopes };
      expect(catchOnexError(() => issueSessionGrant(key, options as never)).code, JSON.stringify(scopes)).toBe(ErrorCode.Usage);
    }
  });

  it("an attestation its verifier would refuse (an unknown outcome, numbers given as strings) is not signed", () => {
    const good = { task: { task_id: "t-1" }, result: {}, node: "node-a", outcome: "succeeded", trustDelta: 0.5, executionTime: 5, verified: true } as const;
    expect(attestExecution(good, key).outcome).toBe("succeeded");
    for (const bad of [{ outcome: "bogus" }, { trustDelta: "0.5" }, { executionTime: "5" }, { verified: "yes" }]) {
      expect(catchOnexError(() => attestExecution({ ...good, ...bad } as never, key)).code, JSON.stringify(bad)).toBe(ErrorCode.ValidationFailed);
    }
  });
});

describe("a trust ledger's scores", () => {
  const key = generateKeyPair();
  const good = { task: { task_id: "t-1" }, result: {}, node: "node-a", outcome: "succeeded", trustDelta: 0.1, executionTime: 5, verified: true } as const;

  it("a score bound given as a string (from a config file) is refused, not concatenated with every delta into NaN", () => {
    const ledger = new TrustLedger({ keys: keyRing([key.publicKey]), initial: 0.5 });
    ledger.apply(attestExecution(good, key));
    expect(ledger.score("node-a")).toBeCloseTo(0.6);
    for (const bad of [{ initial: "0.5" }, { min: "0" }, { max: "1" }, { initial: Number.NaN }, { max: Infinity }, { min: null }]) {
      expect(catchOnexError(() => new TrustLedger({ keys: keyRing([key.publicKey]), ...bad } as never)).code, JSON.stringify(bad)).toBe(ErrorCode.Usage);
    }
    expect(catchOnexError(() => new TrustLedger({ keys: [key.publicKey] } as never)).code).toBe(ErrorCode.Usage);
  });
});
