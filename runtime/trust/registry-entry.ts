/**
 * Signed registry entries: a node publishes where it is reachable and signs the entry with
 * its own key, so anyone holding that key (or the node's identity record) can tell a real
 * entry from one a compromised registry or a man in the middle made up.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { checkPositive } from "../option-check.js";
import { toMillis } from "./envelope.js";
import type { KeyPair, PublicKey } from "./keys.js";
import { REGISTRY_ENTRY_SCHEMA } from "./record-schemas.js";
import { assertRecord } from "./record-shape.js";
import { parseRfc3339 } from "./rfc3339-time.js";
import { signRecord, verifyRecordSignature } from "./record-signature.js";
import type { NodeIdentityRecord, RegistryEntryRecord } from "./records.js";
import { verifyNodeIdentity } from "./identity.js";

/** What a node declares about itself when it registers. */
export type RegistryEntryInput = Omit<RegistryEntryRecord, "key_id" | "registered_at" | "signature"> & { registered_at?: string };

/** A registry entry signed by the node's key; `key_id` is set to that key. */
export function signRegistryEntry(entry: RegistryEntryInput, nodeKey: KeyPair): RegistryEntryRecord {
  const { signature: _previous, ...rest } = entry as RegistryEntryInput & { signature?: string };
  return signRecord<RegistryEntryRecord>({ ...rest, key_id: nodeKey.keyId, registered_at: entry.registered_at ?? new Date().toISOString() }, nodeKey);
}

/** How a registry entry is checked. */
export interface VerifyRegistryEntryOptions {
  /** The node's identity: the entry must name its node id and zone, and be signed by its key. */
  identity?: NodeIdentityRecord;
  /** Entries older than this are stale and rejected (ONEX_E_TRUST_EXPIRED); no limit by default. */
  maxAgeMs?: number;
  now?: Date | number;
}

/**
 * Verifies a registry entry against the node's public key (or its identity record).
 * Throws ONEX_E_SIGNATURE_MISSING/INVALID, ONEX_E_IDENTITY_MISMATCH or ONEX_E_TRUST_EXPIRED.
 */
export function verifyRegistryEntry(entry: unknown, key: PublicKey | undefined, options: VerifyRegistryEntryOptions = {}): RegistryEntryRecord {
  assertRecord(entry, REGISTRY_ENTRY_SCHEMA, "registry entry");
  const record = entry as unknown as RegistryEntryRecord;
  let nodeKey = key;
  if (options.identity !== undefined) {
    const identityKey = verifyNodeIdentity(options.identity);
    if (nodeKey !== undefined && nodeKey.keyId !== identityKey.keyId) {
      throw new OnexError(ErrorCode.IdentityMismatch, `the given key ${nodeKey.keyId} is not the key of node ${options.identity.node_id}`);
    }
    nodeKey = identityKey;
    assertEntryOfIdentity(record, options.identity);
  }
  if (nodeKey === undefined) throw new OnexError(ErrorCode.SignerUnknown, "no key or node identity to verify the registry entry with");
  assertSignedBy(record, nodeKey, options);
  return record;
}

/**
 * Verifies the identity record of a node (id derivation) and an entry against it, as
 * `verifyRegistryEntry(entry, undefined, { identity })` does, and returns the identity's key:
 * what a registry hands out. The identity is checked first and its key imported once.
 */
export function verifyRegistryEntryOfNode(entry: unknown, identity: NodeIdentityRecord, options: Omit<VerifyRegistryEntryOptions, "identity"> = {}): PublicKey {
  const key = verifyNodeIdentity(identity);
  assertRecord(entry, REGISTRY_ENTRY_SCHEMA, "registry entry");
  const record = entry as unknown as RegistryEntryRecord;
  assertEntryOfIdentity(record, identity);
  assertSignedBy(record, key, options);
  return key;
}

function assertEntryOfIdentity(record: RegistryEntryRecord, identity: NodeIdentityRecord): void {
  if (record.node_id !== identity.node_id) {
    throw new OnexError(ErrorCode.IdentityMismatch, `the entry is for node ${record.node_id}, the identity is node ${identity.node_id}`, { instancePath: "/node_id" });
  }
  if (record.zone !== identity.zone) {
    throw new OnexError(ErrorCode.IdentityMismatch, `the entry puts node ${record.node_id} in zone ${record.zone}, its identity is in zone ${identity.zone}`, { instancePath: "/zone" });
  }
}

function assertSignedBy(record: RegistryEntryRecord, nodeKey: PublicKey, options: VerifyRegistryEntryOptions): void {
  // A maxAgeMs of NaN or "1m" compared false with every age, and let an entry of any age through.
  checkPositive("verifyRegistryEntry", "maxAgeMs", options.maxAgeMs, { finite: true });
  if (record.key_id !== nodeKey.keyId) {
    throw new OnexError(ErrorCode.IdentityMismatch, `the entry names key ${record.key_id}, node ${record.node_id} holds key ${nodeKey.keyId}`, { instancePath: "/key_id" });
  }
  verifyRecordSignature(record, nodeKey, "registry entry");
  if (options.maxAgeMs !== undefined) {
    const registered = parseRfc3339(record.registered_at);
    const now = toMillis(options.now, "now");
    if (Number.isNaN(registered) || now - registered > options.maxAgeMs) {
      throw new OnexError(ErrorCode.TrustExpired, `the registry entry of ${record.node_id} (registered ${record.registered_at}) is older than ${options.maxAgeMs} ms; the node must re-register`, {
        instancePath: "/registered_at",
      });
    }
  }
}
