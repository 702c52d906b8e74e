/**
 * A node key (or an attester's key) is stolen, and the operator has rotated it as security.md
 * says. Written as the thief: what do the attestations and execution chains it signs with the
 * old key still count for, in a process that was running (its TrustLedger already holds the
 * thief's attestations) and in one started afterwards?
 */
import { describe, expect, it } from "vitest";
import { attestExecution } from "../../runtime/trust/attestation.js";
import { verifyExecutionChain, type ExecutionChain } from "../../runtime/trust/execution-chain.js";
import { buildFingerprint, createNodeIdentity } from "../../runtime/trust/identity.js";
import { generateKeyPair, keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { issueSessionGrant } from "../../runtime/trust/session-grant.js";
import { TrustLedger } from "../../runtime/trust/trust-ledger.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { catchOnexError, ErrorCode, NOW, ZONE } from "./fixtures.js";

const BUILD = buildFingerprint("onex-node 1.4.2 linux-x64");
const stolen = generateKeyPair();
const rotated = generateKeyPair();
const authority = generateKeyPair();
const window = { notBefore: NOW - 60_000, expiresAt: NOW + 3_600_000 };

/** The chain the thief builds for the old node: every link signed by the stolen key, the grant the authority once gave it. */
function chainOf(key: KeyPair, grantedBy: KeyPair = authority, taskId = "t-1"): ExecutionChain {
  const identity = createNodeIdentity(key, BUILD, ZONE);
  const registryEntry = signRegistryEntry({ node_id: identity.node_id, address: `onex://${ZONE}/node/${identity.node_id}`, zone: ZONE, health: { status: "passing", interval_ms: 5000 }, capabilities: ["render"], registered_at: new Date(NOW - 1_000).toISOString() }, key);
  const task = { task_id: taskId, target: identity.node_id };
  const result = { task_id: taskId, status: "succeeded" };
  const attestation = attestExecution({ task, result, node: identity.node_id, outcome: "succeeded", trustDelta: 0.3, verified: true, executionTime: 5 }, key);
  const grant = issueSessionGrant(grantedBy, { subject: identity.node_id, zone: ZONE, messageTypes: ["signal.result.ready"], ...window });
  return { identity, registryEntry, attestation, task, result, grant };
}

describe("an execution chain of a stolen node key", () => {
  it("is refused once the key is retired (retiredKeys), and the rotated node's chain still verifies", () => {
    const authorities = new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }]);
    const options = { authorities, now: NOW, retiredKeys: [stolen.keyId] };
    const error = catchOnexError(() => verifyExecutionChain(chainOf(stolen), options));
    expect(error.code).toBe(ErrorCode.SignerUnknown);
    expect(error.details.reason).toBe("retired");
    expect(verifyExecutionChain(chainOf(rotated), options).keyId).toBe(rotated.keyId);
  });

  it("is refused under a grant of a distrusted authority, with the same authorities object a running verifier holds", () => {
    const authorities = new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }]);
    const chain = chainOf(rotated);
    expect(verifyExecutionChain(chain, { authorities, now: NOW }).keyId).toBe(rotated.keyId);
    authorities.distrust(authority.keyId);
    const error = catchOnexError(() => verifyExecutionChain(chain, { authorities, now: NOW }));
    expect(error.code).toBe(ErrorCode.GrantInvalid);
    expect(error.details.reason).toBe("issuer");
  });
});

describe("a trust ledger that took attestations of a stolen attester key", () => {
  const honest = generateKeyPair();
  const node = createNodeIdentity(rotated, BUILD, ZONE).node_id;
  const victim = createNodeIdentity(generateKeyPair(), BUILD, ZONE).node_id;
  const attest = (signer: KeyPair, about: string, taskId: string, trustDelta: number) =>
    attestExecution({ task: { task_id: taskId }, result: { ok: true }, node: about, outcome: trustDelta < 0 ? "failed" : "succeeded", trustDelta, verified: true, executionTime: 1 }, signer);

  it("undoes the scores the thief moved when the signer is distrusted, and takes no more of its attestations", () => {
    const ledger = new TrustLedger({ keys: keyRing([stolen.publicKey, honest.publicKey]), maxHistory: 2 });
    ledger.apply(attest(honest, node, "h-1", 0.1));
    // The thief raises a node of its choice and sinks another, before the theft is noticed.
    ledger.apply(attest(stolen, node, "s-1", 0.4));
    ledger.apply(attest(stolen, victim, "s-2", -0.5));
    ledger.apply(attest(honest, node, "h-2", -0.2));
    ledger.apply(attest(honest, node, "h-3", 0.1)); // folds the oldest two: the thief's s-1 is folded
    expect(ledger.score(victim)).toBe(0);

    expect(ledger.distrust(stolen.keyId)).toBe(2);
    expect(ledger.score(node)).toBeCloseTo(0.5 + 0.1 - 0.2 + 0.1);
    expect(ledger.score(victim)).toBe(0.5);
    const explained = ledger.explain(node);
    expect(explained.entries.every((e) => e.signer === honest.keyId)).toBe(true);
    expect(explained.initial + explained.folded.applied + explained.entries.reduce((sum, e) => sum + e.applied, 0)).toBeCloseTo(explained.score);

    const again = catchOnexError(() => ledger.apply(attest(stolen, victim, "s-3", -0.5)));
    expect(again.code).toBe(ErrorCode.SignerUnknown);
    expect(ledger.score(victim)).toBe(0.5);
  });

  it("distrusting a second stolen key after the first leaves the score its folded history says, bounds and all", () => {
    // Two attester keys taken in one breach. The first thief sinks the node to the floor, the
    // second lifts it from there by a whole point; both entries are folded out of the history.
    const second = generateKeyPair();
    const ledger = new TrustLedger({ keys: keyRing([stolen.publicKey, second.publicKey, honest.publicKey]), maxHistory: 1 });
    ledger.apply(attest(stolen, node, "s-1", -0.5));
    ledger.apply(attest(second, node, "x-1", 1));
    ledger.apply(attest(honest, node, "h-1", 0));
    expect(ledger.explain(node).folded.count).toBe(2);

    ledger.distrust(stolen.keyId);
    // Without the first thief, the second's +1 from 0.5 stops at the ceiling.
    expect(ledger.score(node)).toBe(1);
    ledger.distrust(second.keyId);
    // Neither thief left: the initial score, not what the first clamp made of the second's sum.
    expect(ledger.score(node)).toBe(0.5);
    const explained = ledger.explain(node);
    expect(explained.folded).toEqual({ count: 0, applied: 0 });
    expect(explained.initial + explained.folded.applied + explained.entries.reduce((sum, e) => sum + e.applied, 0)).toBeCloseTo(explained.score);
  });

  it("in a fresh process given the new ring, counts nothing the old key signs", () => {
    const ledger = new TrustLedger({ keys: keyRing([honest.publicKey]) });
    expect(catchOnexError(() => ledger.apply(attest(stolen, victim, "s-4", -0.5))).code).toBe(ErrorCode.SignerUnknown);
    expect(ledger.score(victim)).toBe(0.5);
  });

  it("refuses to distrust what is no key id", () => {
    const ledger = new TrustLedger({ keys: keyRing([honest.publicKey]) });
    expect(catchOnexError(() => ledger.distrust(undefined as unknown as string)).code).toBe(ErrorCode.Usage);
    // Another spelling undid nothing and said only "0 entries undone", as for a key that signed none.
    expect(catchOnexError(() => ledger.distrust(stolen.keyId.toUpperCase())).code).toBe(ErrorCode.Usage);
  });
});

describe("retiredKeys that would retire nothing", () => {
  it("given as one string, is ONEX_E_USAGE, not a list of its letters", () => {
    const error = catchOnexError(() => verifyExecutionChain(chainOf(stolen), { now: NOW, retiredKeys: stolen.keyId as unknown as string[] }));
    expect(error.code).toBe(ErrorCode.Usage);
  });

  it("given as an iterator, is ONEX_E_USAGE: read up by the first chain, it retired nothing for the next", () => {
    const retiredKeys = new Set([stolen.keyId]).values();
    const error = catchOnexError(() => verifyExecutionChain(chainOf(stolen), { now: NOW, retiredKeys: retiredKeys as unknown as string[] }));
    expect(error.code).toBe(ErrorCode.Usage);
  });

  it("in another spelling than a key id (upper case, a space from a split config line), is ONEX_E_USAGE", () => {
    for (const id of [stolen.keyId.toUpperCase(), ` ${stolen.keyId}`, "key-3f2a"]) {
      const error = catchOnexError(() => verifyExecutionChain(chainOf(stolen), { now: NOW, retiredKeys: [id] }));
      expect(error.code, id).toBe(ErrorCode.Usage);
    }
  });
});
