/** Finding 5: signed records count only after they pass their schemas; the runtime's rules accept nothing the generated validators reject. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { attestExecution, verifyAttestation } from "../../runtime/trust/attestation.js";
import { agentKeyRecord, buildFingerprint, createNodeIdentity, verifyAgentKey, verifyNodeIdentity } from "../../runtime/trust/identity.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { signRegistryEntry, verifyRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { issueSessionGrant, verifyGrantAuthenticity } from "../../runtime/trust/session-grant.js";
import { TrustLedger } from "../../runtime/trust/trust-ledger.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import type { StandaloneValidator } from "../../runtime/validation.js";
import { catchOnexError, ErrorCode, NOW, ZONE } from "./fixtures.js";

const node = generateKeyPair();
const task = { task_id: "t-1", action: "render" };
const result = { ok: true };
const attestation = attestExecution({ task, result, node: "node-1", outcome: "succeeded", trustDelta: 0.05, verified: true, executionTime: 1200 }, node);

describe("signed attestations are held to their schema", () => {
  const bad: Record<string, Record<string, unknown>> = {
    "trust_delta 1e308": { trust_delta: 1e308 },
    "trust_delta -5": { trust_delta: -5 },
    "negative execution_time": { execution_time: -1 },
    "an unknown outcome": { outcome: "pwned" },
    "a negative cost": { cost: -3 },
    "an unknown field": { bonus: 1 },
    "a malformed trace_hash": { trace_hash: "md5:abc" },
  };
  for (const [what, change] of Object.entries(bad)) {
    it(`refuses ${what}, correctly signed, and the ledger does not move`, () => {
      const { signature: _s, ...unsigned } = { ...attestation, ...change };
      const forged = signRecord(unsigned as typeof attestation, node);
      expect(catchOnexError(() => verifyAttestation(forged, { keys: keyRing([node.publicKey]) })).code).toBe(ErrorCode.ValidationFailed);
      const ledger = new TrustLedger({ keys: keyRing([node.publicKey]) });
      expect(catchOnexError(() => ledger.apply(forged)).code).toBe(ErrorCode.ValidationFailed);
      expect(ledger.score("node-1")).toBe(0.5);
    });
  }
});

/** A record with one field replaced by an arbitrary JSON value, or one field added or removed. */
function mutations(record: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(record);
  const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom("", "2099", "2099-12-31T00:00:00", "sha256:" + "0".repeat(64), -1, 1e308, 0.5, 99, "ed25519:x"));
  return fc.oneof(
    fc.tuple(fc.constantFrom(...keys), anyValue).map(([key, value]) => ({ ...record, [key]: value })),
    fc.constantFrom(...keys).map((key) => Object.fromEntries(Object.entries(record).filter(([k]) => k !== key))),
    fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), anyValue).map(([key, value]) => ({ ...record, [key]: value })),
  );
}

describe("the runtime's record rules never accept what the generated validators reject", () => {
  const identity = createNodeIdentity(node, buildFingerprint("b"), ZONE);
  const authority = generateKeyPair();
  const cases: [string, Record<string, unknown>, (r: unknown) => unknown, StandaloneValidator[]][] = [
    ["ExecutionAttestation", attestation as unknown as Record<string, unknown>, (r) => verifyAttestation(r, { keys: keyRing([node.publicKey]) }), [v0_1.validators.ExecutionAttestation, v0_2.validators.ExecutionAttestation]],
    ["AgentKey", agentKeyRecord(node) as unknown as Record<string, unknown>, (r) => verifyAgentKey(r), [v0_1.validators.AgentKey, v0_2.validators.AgentKey]],
    ["NodeIdentity", identity as unknown as Record<string, unknown>, (r) => verifyNodeIdentity(r), [v0_1.validators.NodeIdentity, v0_2.validators.NodeIdentity]],
    [
      "RegistryEntry",
      signRegistryEntry({ node_id: identity.node_id, address: "nats://10.0.0.1:4222", zone: ZONE, health: { status: "passing", check_url: "https://n/health", interval_ms: 5000 }, capabilities: ["render"] }, node) as unknown as Record<string, unknown>,
      (r) => verifyRegistryEntry(r, node.publicKey),
      [v0_1.validators.RegistryEntry, v0_2.validators.RegistryEntry],
    ],
    [
      "SessionGrant",
      issueSessionGrant(authority, { subject: "s", zone: ZONE, messageTypes: ["*"], notBefore: NOW, expiresAt: NOW + 1000 }) as unknown as Record<string, unknown>,
      (r) => verifyGrantAuthenticity(r, new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }])),
      [v0_1.validators.SessionGrant, v0_2.validators.SessionGrant],
    ],
  ];
  for (const [name, record, check, validators] of cases) {
    it(`${name}: the original passes both; every mutation the runtime accepts passes the generated validators`, () => {
      for (const validate of validators) expect(validate(record)).toBe(true);
      expect(() => check(record)).not.toThrow();
      fc.assert(
        fc.property(mutations(record), (mutated) => {
          let accepted = true;
          try {
            check(mutated);
          } catch {
            accepted = false;
          }
          if (accepted) for (const validate of validators) expect(validate(mutated)).toBe(true);
        }),
        { numRuns: 400 },
      );
    });
  }
});
