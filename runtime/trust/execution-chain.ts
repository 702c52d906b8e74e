/**
 * Verifying the execution trust chain end to end: the attestation was signed by the key of
 * a node identity, that identity is the one the signed registry entry announces, and (when
 * a grant is given) a zone authority allowed that node to act in the zone at that time.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { verifyAttestation } from "./attestation.js";
import { verifyNodeIdentity } from "./identity.js";
import { keyRing, type PublicKey } from "./keys.js";
import type { ExecutionAttestationRecord, NodeIdentityRecord, RegistryEntryRecord, SessionGrantRecord } from "./records.js";
import { verifyRegistryEntry } from "./registry-entry.js";
import { retiredKeySet } from "./retired-keys.js";
import { verifySessionGrant, type RevocationList } from "./session-grant.js";
import type { ZoneAuthorities } from "./zone-authorities.js";

/** The links to check, from node identity to attestation. */
export interface ExecutionChain {
  identity: NodeIdentityRecord;
  registryEntry: RegistryEntryRecord;
  attestation: ExecutionAttestationRecord;
  /** The task and result the attestation claims to cover; both required (a result may be null). */
  task: unknown;
  result: unknown;
  /** The grant under which the node acted; required when `authorities` is given. */
  grant?: SessionGrantRecord;
}

/** What the chain is checked against. */
export interface VerifyChainOptions {
  /** Zone authorities; when given, the chain must include a valid grant for the node from an authority of its zone. */
  authorities?: ZoneAuthorities;
  revocations?: RevocationList;
  /** The message type the grant must cover (default `signal.result.ready`). */
  messageType?: string;
  now?: Date | number;
  /** Registry entries older than this are stale. */
  maxRegistryAgeMs?: number;
  /**
   * Key ids of node keys that no longer speak for their nodes (stolen, or rotated away), as the
   * registry's `retiredKeys`: a chain whose identity holds one is ONEX_E_SIGNER_UNKNOWN. Every
   * link but the grant is self-certifying (the identity names its own key), so without this a
   * thief holding an old node key builds a chain that verifies for as long as it likes.
   */
  retiredKeys?: readonly string[] | ReadonlySet<string>;
}

/** Verifies every link; returns the node's key. Throws the code of the first link that fails. */
export function verifyExecutionChain(chain: ExecutionChain, options: VerifyChainOptions = {}): PublicKey {
  const nodeKey = verifyNodeIdentity(chain.identity);
  if (retiredKeySet("verifyExecutionChain", options.retiredKeys).has(nodeKey.keyId)) {
    throw new OnexError(ErrorCode.SignerUnknown, `node ${chain.identity.node_id} holds key ${nodeKey.keyId}, which is retired (retiredKeys)`, { keyId: nodeKey.keyId, reason: "retired" });
  }
  verifyRegistryEntry(chain.registryEntry, nodeKey, {
    identity: chain.identity,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.maxRegistryAgeMs === undefined ? {} : { maxAgeMs: options.maxRegistryAgeMs }),
  });
  // The chain vouches for exactly this task and result: without them verifyAttestation checks no
  // trace hash, and a chain sent without them (every signed link genuine) passed, binding no work.
  for (const part of ["task", "result"] as const) {
    if (chain[part] === undefined) throw new OnexError(ErrorCode.TraceMismatch, `the chain has no ${part}: an attestation is checked against the task and result it covers`, { instancePath: `/${part}` });
  }
  // Only the node's own key may attest for it: a key ring of exactly that key.
  verifyAttestation(chain.attestation, { keys: keyRing([nodeKey]), task: chain.task, result: chain.result, node: chain.identity.node_id });
  if (options.authorities !== undefined) {
    if (chain.grant === undefined) throw new OnexError(ErrorCode.GrantInvalid, `no session grant for node ${chain.identity.node_id}`, { reason: "missing" });
    const grant = verifySessionGrant(chain.grant, {
      authorities: options.authorities,
      messageType: options.messageType ?? "signal.result.ready",
      zone: chain.identity.zone,
      ...(options.revocations === undefined ? {} : { revocations: options.revocations }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    if (grant.subject !== chain.identity.node_id && grant.subject !== nodeKey.keyId) {
      throw new OnexError(ErrorCode.GrantInvalid, `grant ${grant.grant_id} is for ${grant.subject}, not node ${chain.identity.node_id}`, { reason: "subject" });
    }
  }
  return nodeKey;
}
