import { createHash } from "node:crypto";
import fc from "fast-check";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { canonicalize } from "../../runtime/trust/canonical-json.js";
import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import type { StandaloneValidator } from "../../runtime/validation.js";
import { attestExecution, traceHash, verifyAttestation } from "../../runtime/trust/attestation.js";
import { verifyExecutionChain } from "../../runtime/trust/execution-chain.js";
import { agentKeyRecord, buildFingerprint, createNodeIdentity, deriveNodeId, issueAgentKey, verifyAgentKey, verifyNodeIdentity } from "../../runtime/trust/identity.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import type { AgentKeyRecord, ExecutionAttestationRecord, NodeIdentityRecord, RegistryEntryRecord, SessionGrantRecord } from "../../runtime/trust/records.js";
import { signRegistryEntry, verifyRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { GrantBook, issueSessionGrant, RevocationList, revokeSessionGrant, verifySessionGrant } from "../../runtime/trust/session-grant.js";
import { SubjectGrants } from "../../runtime/trust/subject-grants.js";
import { TrustLedger } from "../../runtime/trust/trust-ledger.js";
import { catchOnexError, ErrorCode, NOW, ZONE } from "./fixtures.js";

const BUILD = buildFingerprint("onex-node 1.4.2 linux-x64");
const nodeKey = generateKeyPair();
const authority = generateKeyPair();
const authorities = new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }]);
const identity = createNodeIdentity(nodeKey, BUILD, ZONE);
const task = { task_id: "t-42", target: identity.node_id, action: "render", priority: 5, input: { scene: "intro" } };
const result = { task_id: "t-42", status: "succeeded", output: { frames: 3 } };

/** Every version's generated validator of a record, where the version has it. */
function validatorsOf(record: "AgentKey" | "NodeIdentity" | "RegistryEntry" | "SessionGrant" | "ExecutionAttestation"): StandaloneValidator[] {
  return [v0_0_9.validators, v0_1.validators, v0_2.validators].flatMap((v) => (record in v ? [(v as Record<string, StandaloneValidator>)[record] as StandaloneValidator] : []));
}

function expectSchemaValid(record: "AgentKey" | "NodeIdentity" | "RegistryEntry" | "SessionGrant" | "ExecutionAttestation", value: unknown): void {
  const validators = validatorsOf(record);
  expect(validators.length).toBeGreaterThan(0);
  for (const validate of validators) {
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
  }
}

function signedEntry(overrides: Partial<RegistryEntryRecord> = {}) {
  return signRegistryEntry(
    { node_id: identity.node_id, address: `onex://${ZONE}/node/${identity.node_id}`, zone: ZONE, health: { status: "passing", interval_ms: 5000 }, capabilities: ["render"], registered_at: new Date(NOW - 60_000).toISOString(), ...overrides },
    nodeKey,
  );
}

describe("link 1: agent keypair", () => {
  it("a self-generated key's record is schema-valid and verifies", () => {
    const agent = generateKeyPair();
    const record = agentKeyRecord(agent, { createdAt: new Date(NOW) });
    expectSchemaValid("AgentKey", record);
    expect(record.issued_by).toBeUndefined();
    expect(verifyAgentKey(record).keyId).toBe(agent.keyId);
  });

  it("a key issued at onboarding names its authority", () => {
    const { key, record } = issueAgentKey(authority);
    expectSchemaValid("AgentKey", record);
    expect(record.issued_by).toBe(authority.keyId);
    expect(verifyAgentKey(record).keyId).toBe(key.keyId);
  });

  it("a record whose key id is not the key's fingerprint is rejected", () => {
    const record = agentKeyRecord(generateKeyPair());
    const forged: AgentKeyRecord = { ...record, public_key: nodeKey.publicKey.raw.toString("base64url") };
    expect(catchOnexError(() => verifyAgentKey(forged)).code).toBe(ErrorCode.IdentityMismatch);
    expect(catchOnexError(() => verifyAgentKey({ ...record, algorithm: "rsa" })).code).toBe(ErrorCode.KeyInvalid);
    expect(catchOnexError(() => verifyAgentKey({ ...record, public_key: "short" })).code).toBe(ErrorCode.KeyInvalid);
  });
});

describe("link 2: node identity", () => {
  it("is schema-valid and verifies", () => {
    expectSchemaValid("NodeIdentity", identity);
    expect(identity.node_id).toMatch(/^node-[0-9a-f]{32}$/);
    expect(verifyNodeIdentity(identity, { build: BUILD, zone: ZONE }).keyId).toBe(nodeKey.keyId);
  });

  it("a changed build, zone or key gives a different id", () => {
    const ids = new Set([
      identity.node_id,
      deriveNodeId(nodeKey.publicKey, buildFingerprint("onex-node 1.4.3 linux-x64"), ZONE),
      deriveNodeId(nodeKey.publicKey, BUILD, "zone.other.org"),
      deriveNodeId(generateKeyPair().publicKey, BUILD, ZONE),
    ]);
    expect(ids.size).toBe(4);
    expect(deriveNodeId(nodeKey.publicKey.raw, BUILD, ZONE)).toBe(identity.node_id);
  });

  it("derives the textbook id every time, remembered or not, and never confuses inputs that differ only in where one field ends", () => {
    const keys = [nodeKey.publicKey, generateKeyPair().publicKey];
    const textbook = (key: Uint8Array, build: string, zone: string) =>
      "node-" + createHash("sha256").update(canonicalize({ build_fingerprint: build, public_key: Buffer.from(key).toString("base64url"), zone })).digest("hex").slice(0, 32);
    const text = fc.string({ unit: fc.constantFrom("a", ".", ",", '"', "\\", "\u0000", "[", "]", "\u00e9") });
    fc.assert(
      fc.property(fc.constantFrom(...keys), text, text, fc.nat(8), (key, build, zone, cut) => {
        for (let i = 0; i < 2; i++) expect(deriveNodeId(key, build, zone)).toBe(textbook(key.raw, build, zone));
        // The same characters split elsewhere between build and zone.
        const joined = build + zone;
        const at = Math.min(cut, joined.length);
        if (at !== build.length) expect(deriveNodeId(key, joined.slice(0, at), joined.slice(at))).not.toBe(deriveNodeId(key, build, zone));
      }),
      { numRuns: 500 },
    );
  });

  it("a forged identity (moved zone, swapped build or key, wrong expectations) is rejected", () => {
    const forgeries: NodeIdentityRecord[] = [
      { ...identity, zone: "zone.other.org" },
      { ...identity, build_fingerprint: buildFingerprint("patched") },
      { ...identity, public_key: generateKeyPair().publicKey.raw.toString("base64url") },
    ];
    for (const forged of forgeries) expect(catchOnexError(() => verifyNodeIdentity(forged)).code).toBe(ErrorCode.IdentityMismatch);
    expect(catchOnexError(() => verifyNodeIdentity(identity, { build: buildFingerprint("other") })).code).toBe(ErrorCode.IdentityMismatch);
    expect(catchOnexError(() => verifyNodeIdentity(identity, { zone: "zone.other.org" })).code).toBe(ErrorCode.IdentityMismatch);
  });
});

describe("link 3: signed registry entry", () => {
  it("is schema-valid, signed by the node and verifiable with its key or its identity", () => {
    const entry = signedEntry();
    expectSchemaValid("RegistryEntry", entry);
    expect(entry.key_id).toBe(nodeKey.keyId);
    expect(verifyRegistryEntry(entry, nodeKey.publicKey).node_id).toBe(identity.node_id);
    expect(verifyRegistryEntry(entry, undefined, { identity }).address).toContain(identity.node_id);
  });

  it("a forged entry is rejected", () => {
    const entry = signedEntry();
    expect(catchOnexError(() => verifyRegistryEntry({ ...entry, address: "onex://evil.org/node/x" }, nodeKey.publicKey)).code).toBe(ErrorCode.SignatureInvalid);
    expect(catchOnexError(() => verifyRegistryEntry({ ...entry, signature: undefined }, nodeKey.publicKey)).code).toBe(ErrorCode.SignatureMissing);
    // Signed by another key that claims to be the node.
    const impostor = generateKeyPair();
    const byImpostor = signRegistryEntry({ ...entry }, impostor);
    expect(catchOnexError(() => verifyRegistryEntry(byImpostor, undefined, { identity })).code).toBe(ErrorCode.IdentityMismatch);
    expect(catchOnexError(() => verifyRegistryEntry({ ...byImpostor, key_id: nodeKey.keyId }, undefined, { identity })).code).toBe(ErrorCode.SignatureInvalid);
    // Correctly signed, but announcing the node in another zone than its identity.
    expect(catchOnexError(() => verifyRegistryEntry(signedEntry({ zone: "zone.other.org" }), undefined, { identity })).code).toBe(ErrorCode.IdentityMismatch);
  });

  it("an entry older than the allowed age is expired", () => {
    const entry = signedEntry({ registered_at: new Date(NOW - 3_600_000).toISOString() });
    expect(verifyRegistryEntry(entry, nodeKey.publicKey, { maxAgeMs: 7_200_000, now: NOW }).node_id).toBe(identity.node_id);
    expect(catchOnexError(() => verifyRegistryEntry(entry, nodeKey.publicKey, { maxAgeMs: 600_000, now: NOW })).code).toBe(ErrorCode.TrustExpired);
  });
});

describe("link 4: session grant", () => {
  const issue = (overrides: Partial<Parameters<typeof issueSessionGrant>[1]> = {}) =>
    issueSessionGrant(authority, { subject: identity.node_id, zone: ZONE, messageTypes: ["signal.result.ready"], notBefore: NOW - 60_000, expiresAt: NOW + 3_600_000, ...overrides });

  it("is schema-valid, signed by the zone authority and verifies inside its window and scope", () => {
    const grant = issue();
    expectSchemaValid("SessionGrant", grant);
    expect(grant.issuer).toBe(authority.keyId);
    expect(grant.scopes).toEqual({ message_types: ["signal.result.ready"], zones: [ZONE] });
    expect(verifySessionGrant(grant, { authorities, now: NOW, messageType: "signal.result.ready", zone: ZONE, subject: identity.node_id }).grant_id).toBe(grant.grant_id);
  });

  it("expired, not yet valid, revoked, forged and out-of-scope grants fail with their codes", () => {
    const grant = issue();
    const check = (g: unknown, extra: object = {}) => catchOnexError(() => verifySessionGrant(g, { authorities, now: NOW, messageType: "signal.result.ready", zone: ZONE, ...extra }));
    expect(check(grant, { now: NOW + 3_600_000 }).code).toBe(ErrorCode.GrantExpired);
    expect(check(grant, { now: NOW - 60_001 }).code).toBe(ErrorCode.GrantNotYetValid);
    const forged: SessionGrantRecord = { ...grant, scopes: { message_types: ["*"], zones: ["*"] } };
    expect(check(forged)).toMatchObject({ code: ErrorCode.GrantInvalid, details: { reason: "signature" } });
    expect(check({ ...grant, expires_at: "2099-01-01T00:00:00.000Z" })).toMatchObject({ code: ErrorCode.GrantInvalid, details: { reason: "signature" } });
    const selfIssued = issueSessionGrant(nodeKey, { subject: identity.node_id, zone: ZONE, messageTypes: ["*"], notBefore: NOW - 1, expiresAt: NOW + 1 });
    expect(check(selfIssued)).toMatchObject({ code: ErrorCode.GrantInvalid, details: { reason: "issuer" } });
    expect(check(grant, { messageType: "event.node.register" })).toMatchObject({ code: ErrorCode.GrantInvalid, details: { reason: "scope" } });
    expect(check(grant, { zone: "zone.other.org" })).toMatchObject({ code: ErrorCode.GrantInvalid, details: { reason: "scope" } });
    expect(check(grant, { subject: "node-someone-else" })).toMatchObject({ code: ErrorCode.GrantInvalid, details: { reason: "subject" } });
    expect(check({ grant_id: "g" })).toMatchObject({ code: ErrorCode.GrantInvalid, details: { reason: "shape" } });

    const revocations = new RevocationList(authorities);
    revocations.add(revokeSessionGrant(grant, authority, { reason: "compromised" }));
    expect(check(grant, { revocations }).code).toBe(ErrorCode.GrantRevoked);
    expect(check(grant, { revocations }).message).toContain("compromised");
  });

  it("only the issuer can revoke, and forged revocations are refused", () => {
    const grant = issue();
    const revocations = new RevocationList(authorities);
    expect(catchOnexError(() => revokeSessionGrant(grant, nodeKey)).code).toBe(ErrorCode.GrantInvalid);
    const revocation = revokeSessionGrant(grant, authority);
    expect(catchOnexError(() => revocations.add({ ...revocation, grant_id: "another-grant" })).code).toBe(ErrorCode.SignatureInvalid);
    const rogue = generateKeyPair();
    expect(catchOnexError(() => revocations.add({ ...revocation, issuer: rogue.keyId })).code).toBe(ErrorCode.GrantInvalid);
    expect(revocations.size).toBe(0);
    revocations.add(revocation);
    expect(revocations.size).toBe(1);
    revocations.prune(NOW + 3_600_000);
    expect(revocations.size).toBe(0);
  });

  it("a grant book keeps its own copy: mutating the original after adding changes nothing", () => {
    const book = new GrantBook(authorities);
    const grant = issue();
    book.add(grant);
    grant.scopes.message_types.push("event.node.register");
    expect(catchOnexError(() => book.authorize([identity.node_id], "event.node.register", ZONE, NOW)).code).toBe(ErrorCode.GrantInvalid);
    expect(book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW).grant_id).toBe(grant.grant_id);
  });

  it("a subject's renewed grants are tried newest first; an older one still answers when the newest does not, and prune forgets the expired", () => {
    const book = new GrantBook(authorities);
    const HOUR = 3_600_000;
    // A week of hourly renewals, each valid for its hour and a minute; the last one live at NOW.
    const renewals = Array.from({ length: 168 }, (_, i) => issue({ notBefore: NOW - (168 - i) * HOUR + 60_000, expiresAt: NOW - (167 - i) * HOUR + 120_000 }));
    for (const grant of renewals) book.add(grant);
    const live = renewals.at(-1)!;
    expect(book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW).grant_id).toBe(live.grant_id);
    // In the minute two renewals overlap, the newer answers.
    expect(book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW - HOUR + 90_000).grant_id).toBe(live.grant_id);
    // Revoked, the newest gives way to the one before it while that one's minute of overlap lasts.
    const previous = renewals.at(-2)!;
    book.revoke(revokeSessionGrant(live, authority, { at: new Date(NOW) }));
    expect(book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW - HOUR + 90_000).grant_id).toBe(previous.grant_id);
    // With none valid, the closest miss is named, as before: revoked outranks expired.
    expect(catchOnexError(() => book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW)).code).toBe(ErrorCode.GrantRevoked);
    book.prune(NOW + 2 * HOUR);
    expect(catchOnexError(() => book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW)).code).toBe(ErrorCode.GrantInvalid);
  });

  it("adding a subject's grants never walks the grants added before: a grants file of thousands loads in linear time", () => {
    // Each add once copied the subject's list without the grant it replaced, reading every grant
    // added before it: 10,000 grants to one subject took 3.7 s, 100,000 over 10 minutes.
    const book = new GrantBook(authorities);
    let reads = 0;
    const added = Array.from({ length: 300 }, () => issue()).map((grant) => {
      const stored = book.add(grant);
      // Count every later read of what names the grant (the book's copy, which add returns).
      for (const field of ["issuer", "grant_id"] as const) {
        const value = stored[field];
        Object.defineProperty(stored, field, { enumerable: true, get: () => (reads++, value) });
      }
      return stored;
    });
    expect(reads).toBe(0);
    reads = 0;
    // A renewal under an id already held is held beside it, and answers in its window.
    const renewed = issue({ grantId: added[0]!.grant_id, notBefore: NOW + 3_600_000, expiresAt: NOW + 7_200_000 });
    book.add(renewed);
    expect(reads).toBeLessThan(300);
    expect(book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW + 3_700_000).expires_at).toBe(renewed.expires_at);
  });

  it("a grant and its renewal under the same id each count in their own window, in whatever order they were added", () => {
    const DAY = 86_400_000;
    const first = issue({ grantId: "grant-1", notBefore: NOW, expiresAt: NOW + DAY });
    const renewal = issue({ grantId: "grant-1", notBefore: NOW + DAY, expiresAt: NOW + 2 * DAY });
    // An older grant handed to the book again (grants are public: anyone who relays them can)
    // once replaced the renewal, and the subject's rights were gone until the next renewal.
    for (const order of [[first, renewal], [renewal, first], [first, renewal, first, first]]) {
      const book = new GrantBook(authorities);
      for (const grant of order) book.add(grant);
      expect(book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW + DAY / 2).signature).toBe(first.signature);
      expect(book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW + (3 * DAY) / 2).signature).toBe(renewal.signature);
      expect(catchOnexError(() => book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW + 2 * DAY)).code).toBe(ErrorCode.GrantExpired);
    }
  });

  it("of two grants that miss alike, the one named does not depend on the order they were added in", () => {
    // Both out of scope for the message type asked.
    const [a, b] = [issue({ messageTypes: ["signal.state.update"] }), issue({ messageTypes: ["event.node.register"] })];
    const named = [[a, b], [b, a]].map((order) => {
      const book = new GrantBook(authorities);
      for (const grant of order) book.add(grant);
      return catchOnexError(() => book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW)).message;
    });
    expect(named[0]).toBe(named[1]);
  });

  it("the same grant added again is held once", () => {
    const grants = new SubjectGrants();
    const other = issue();
    const grant = issue({ grantId: "renewed" });
    for (let i = 0; i < 1_000; i++) grants.add(structuredClone(grant));
    grants.add(other);
    expect([...grants.newestFirst()]).toEqual([other, grant]);
    expect(grants.retain((g) => g !== other)).toBe(1);
    expect([...grants.newestFirst()]).toEqual([grant]);
  });

  it("a revocation holds while the book holds a live grant it revokes: a grant renewed under the revoked grant's id stays revoked after prune", () => {
    const HOUR = 3_600_000;
    const book = new GrantBook(authorities);
    // An operator renews a node's grant under the same id (onex grant issue --id), then revokes the grant file it had first.
    const first = issue({ grantId: "ops-node-1", notBefore: NOW - HOUR, expiresAt: NOW + HOUR });
    const renewed = issue({ grantId: "ops-node-1", notBefore: NOW - HOUR, expiresAt: NOW + 24 * HOUR });
    book.add(first);
    book.add(renewed);
    book.revoke(revokeSessionGrant(first, authority, { at: new Date(NOW) }));
    expect(catchOnexError(() => book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW)).code).toBe(ErrorCode.GrantRevoked);
    // Past the first grant's expiry, a service prunes, as it should now and then: the revocation must not go with it.
    book.prune(NOW + 2 * HOUR);
    expect(catchOnexError(() => book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW + 2 * HOUR)).code).toBe(ErrorCode.GrantRevoked);
    book.prune(NOW + 25 * HOUR);
    expect(book.revocations.size).toBe(0);
  });

  it("a revocation pruned from a book still refuses a grant of its id added later (a renewal issued ahead, handed over after the prune)", () => {
    const DAY = 86_400_000;
    const book = new GrantBook(authorities);
    const first = issue({ grantId: "grant-1", notBefore: NOW, expiresAt: NOW + DAY });
    const renewal = issue({ grantId: "grant-1", notBefore: NOW + DAY, expiresAt: NOW + 2 * DAY });
    book.add(first);
    book.revoke(revokeSessionGrant(first, authority, { at: new Date(NOW + DAY / 2), reason: "node retired" }));
    // The hourly prune past the first grant's expiry sets its revocation aside.
    book.prune(NOW + DAY + 3_600_000);
    expect(book.revocations.size).toBe(0);
    // The subject chooses when to hand over the renewal: after that prune, it worked.
    book.add(renewal);
    const refused = catchOnexError(() => book.authorize([identity.node_id], "signal.result.ready", ZONE, NOW + DAY + 7_200_000));
    expect([refused.code, refused.message]).toEqual([ErrorCode.GrantRevoked, `grant grant-1 was revoked at ${new Date(NOW + DAY / 2).toISOString()} (node retired)`]);
  });
});

describe("link 5: execution attestation", () => {
  const attest = (overrides: Partial<Parameters<typeof attestExecution>[0]> = {}) =>
    attestExecution({ task, result, node: identity.node_id, outcome: "succeeded", trustDelta: 0.1, verified: true, executionTime: 1234.5, cost: 0.02, ...overrides }, nodeKey);

  it("is schema-valid, binds the task and result by trace hash and verifies", () => {
    const attestation = attest();
    expectSchemaValid("ExecutionAttestation", attestation);
    expect(attestation.trace_hash).toBe(traceHash(task, result));
    expect(attestation.trace_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(attestation).toMatchObject({ signer: nodeKey.keyId, cost: 0.02, trust_delta: 0.1, verified: true, execution_time: 1234.5 });
    expect(verifyAttestation(attestation, { keys: keyRing([nodeKey.publicKey]), task, result }).keyId).toBe(nodeKey.keyId);
    // The attestation can ride in a v0.1 result message.
    expect(v0_1.validators.ResultReadyPayload({ ...result, attestation })).toBe(true);
  });

  it("the trace hash does not depend on key order", () => {
    expect(traceHash({ b: 1, a: 2 }, { y: [1], x: null })).toBe(traceHash({ a: 2, b: 1 }, { x: null, y: [1] }));
    expect(traceHash(task, result)).not.toBe(traceHash(task, { ...result, status: "failed" }));
  });

  it("a forged attestation, or one for another result or task, is rejected", () => {
    const attestation = attest();
    const keys = keyRing([nodeKey.publicKey]);
    expect(catchOnexError(() => verifyAttestation({ ...attestation, trust_delta: 1 }, { keys })).code).toBe(ErrorCode.SignatureInvalid);
    expect(catchOnexError(() => verifyAttestation(attestation, { keys, task, result: { ...result, output: { frames: 4 } } })).code).toBe(ErrorCode.TraceMismatch);
    expect(catchOnexError(() => verifyAttestation(attestation, { keys, task: { ...task, task_id: "t-43" }, result })).code).toBe(ErrorCode.TraceMismatch);
    expect(catchOnexError(() => verifyAttestation(attestation, { keys: keyRing([]) })).code).toBe(ErrorCode.SignerUnknown);
    expect(catchOnexError(() => attest({ trustDelta: 2 })).code).toBe(ErrorCode.ValidationFailed);
  });
});

describe("the whole chain", () => {
  const registryEntry = signedEntry();
  const grant = issueSessionGrant(authority, { subject: identity.node_id, zone: ZONE, messageTypes: ["signal.result.ready"], notBefore: NOW - 60_000, expiresAt: NOW + 3_600_000 });
  const attestation = attestExecution({ task, result, node: identity.node_id, outcome: "succeeded", trustDelta: 0.1, verified: true, executionTime: 50 }, nodeKey);
  const chain = { identity, registryEntry, grant, attestation, task, result };

  it("verifies end to end", () => {
    expect(verifyExecutionChain(chain, { authorities, now: NOW, maxRegistryAgeMs: 3_600_000 }).keyId).toBe(nodeKey.keyId);
  });

  it("breaks at the link that was tampered with", () => {
    const other = generateKeyPair();
    const otherAttestation: ExecutionAttestationRecord = attestExecution({ task, result, node: identity.node_id, outcome: "succeeded", trustDelta: 1, verified: true, executionTime: 1 }, other);
    const revocations = new RevocationList(authorities);
    revocations.add(revokeSessionGrant(grant, authority));
    const cases: [object, object, string][] = [
      [{ identity: { ...identity, zone: "zone.other.org" } }, {}, ErrorCode.IdentityMismatch],
      [{ registryEntry: { ...registryEntry, address: "onex://evil" } }, {}, ErrorCode.SignatureInvalid],
      [{ attestation: otherAttestation }, {}, ErrorCode.SignerUnknown],
      [{ result: { ...result, status: "failed" } }, {}, ErrorCode.TraceMismatch],
      [{ grant: undefined }, {}, ErrorCode.GrantInvalid],
      [{}, { now: NOW + 3_600_000 }, ErrorCode.GrantExpired],
      [{}, { revocations }, ErrorCode.GrantRevoked],
      [{}, { maxRegistryAgeMs: 1000 }, ErrorCode.TrustExpired],
    ];
    for (const [change, options, code] of cases) {
      expect(catchOnexError(() => verifyExecutionChain({ ...chain, ...change }, { authorities, now: NOW, ...options })).code).toBe(code);
    }
  });

  it("a chain cut short of its task or result binds no work, and is refused", () => {
    // As a peer would send it: every signed link genuine, the task and result it covers left out.
    const { task: _task, result: _result, ...truncated } = chain;
    for (const cut of [truncated, { ...truncated, task }, { ...truncated, result }]) {
      const error = catchOnexError(() => verifyExecutionChain(cut as typeof chain, { authorities, now: NOW }));
      expect(error.code).toBe(ErrorCode.TraceMismatch);
    }
    // A result that is JSON null is a result: the attestation binds it like any other.
    const ofNull = attestExecution({ task, result: null, node: identity.node_id, outcome: "failed", trustDelta: 0, verified: true, executionTime: 50 }, nodeKey);
    expect(verifyExecutionChain({ ...chain, attestation: ofNull, result: null }, { authorities, now: NOW }).keyId).toBe(nodeKey.keyId);
  });
});

describe("trust ledger", () => {
  const keys = keyRing([nodeKey.publicKey]);
  const attest = (taskId: string, delta: number, node = identity.node_id) =>
    attestExecution({ task: { ...task, task_id: taskId }, result: { ...result, task_id: taskId }, node, outcome: delta >= 0 ? "succeeded" : "failed", trustDelta: delta, verified: true, executionTime: 1 }, nodeKey);

  it("applies deltas within bounds and explains every score", () => {
    const ledger = new TrustLedger({ keys });
    expect(ledger.score(identity.node_id)).toBe(0.5);
    ledger.apply(attest("a", 0.3));
    ledger.apply(attest("b", 0.4)); // clamped: 0.8 + 0.4 → 1
    ledger.apply(attest("c", -0.25));
    expect(ledger.score(identity.node_id)).toBeCloseTo(0.75);
    const why = ledger.explain(identity.node_id);
    expect(why.entries.map((e) => [e.task_id, e.proposed, Number(e.applied.toFixed(6))])).toEqual([
      ["a", 0.3, 0.3],
      ["b", 0.4, 0.2],
      ["c", -0.25, -0.25],
    ]);
    expect(why.initial + why.folded.applied + why.entries.reduce((sum, e) => sum + e.applied, 0)).toBeCloseTo(why.score);
  });

  it("refuses an application time that is no Date as ONEX_E_USAGE, before it changes anything", () => {
    const ledger = new TrustLedger({ keys, maxEntities: 1 });
    ledger.apply(attest("a", 0.1));
    const other = attest("b", 0.2, "node-other");
    // It threw a RangeError after making room for node-other: node's score was already forgotten.
    expect(catchOnexError(() => ledger.apply(other, new Date(Number.NaN))).code).toBe(ErrorCode.Usage);
    expect([ledger.size, ledger.score(identity.node_id)]).toEqual([1, 0.6]);
    expect(ledger.apply(other)).toBeDefined();
  });

  it("attests only a task that is an object with a string task_id (ONEX_E_VALIDATION, not a TypeError)", () => {
    for (const bad of [null, "t-1", [], { task_id: 7 }]) {
      const error = catchOnexError(() => attestExecution({ task: bad as never, result, node: identity.node_id, outcome: "succeeded", trustDelta: 0, verified: true, executionTime: 1 }, nodeKey));
      expect(error.code).toBe(ErrorCode.ValidationFailed);
    }
  });

  it("counts an attestation once and refuses forged ones", () => {
    const ledger = new TrustLedger({ keys });
    const attestation = attest("a", 0.1);
    expect(ledger.apply(attestation)).toBeDefined();
    expect(ledger.apply(attestation)).toBeUndefined();
    expect(catchOnexError(() => ledger.apply({ ...attestation, trust_delta: 1, trace_hash: "sha256:" + "0".repeat(64) })).code).toBe(ErrorCode.SignatureInvalid);
    expect(ledger.score(identity.node_id)).toBeCloseTo(0.6);
  });

  it("keeps history and entities bounded, folding old entries into an explainable summary", () => {
    const ledger = new TrustLedger({ keys, maxHistory: 3, maxEntities: 2 });
    for (let i = 0; i < 10; i++) ledger.apply(attest(`t${i}`, 0.01));
    const why = ledger.explain(identity.node_id);
    expect(why.entries).toHaveLength(3);
    expect(why.folded.count).toBe(7);
    expect(why.initial + why.folded.applied + why.entries.reduce((sum, e) => sum + e.applied, 0)).toBeCloseTo(why.score);
    ledger.apply(attest("x", 0.1, "node-b"));
    ledger.apply(attest("y", 0.1, "node-c"));
    expect(ledger.size).toBe(2);
    expect(ledger.explain(identity.node_id).entries).toEqual([]);
  });

  it("refuses a history or entity bound that bounds nothing as ONEX_E_USAGE (maxHistory NaN kept every entry: `length > NaN` is never true)", () => {
    for (const bad of [{ maxHistory: Number.NaN }, { maxHistory: 0 }, { maxHistory: -1 }, { maxHistory: 2.5 }, { maxEntities: Number.NaN }, { maxEntities: 0 }]) {
      const error = catchOnexError(() => new TrustLedger({ keys, ...bad }));
      expect(error.code).toBe(ErrorCode.Usage);
      expect(error.message).toContain(Object.keys(bad)[0]);
    }
    // Infinity keeps everything, as asked.
    const ledger = new TrustLedger({ keys, maxHistory: Infinity, maxEntities: Infinity });
    for (let i = 0; i < 5; i++) ledger.apply(attest(`u${i}`, 0.01));
    expect(ledger.explain(identity.node_id).entries).toHaveLength(5);
  });
});
