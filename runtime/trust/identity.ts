/**
 * The first links of the execution trust chain: an agent's key record and a node's
 * identity. A node id is a hash of the node's public key, build fingerprint and zone, so a
 * rebuilt binary or a move to another zone yields a new id that must be registered anew.
 */
import { createHash } from "node:crypto";
import { ErrorCode, OnexError } from "../errors.js";
import { canonicalize } from "./canonical-json.js";
import { generateKeyPair, publicKeyFromRaw, type KeyPair, type PublicKey } from "./keys.js";
import { AGENT_KEY_SCHEMA, NODE_IDENTITY_SCHEMA } from "./record-schemas.js";
import { assertRecord } from "./record-shape.js";
import type { AgentKeyRecord, NodeIdentityRecord } from "./records.js";
import { forgetOldest } from "../forget-oldest.js";
import { describeValue } from "../option-check.js";

const BUILD_FINGERPRINT = /^sha256:[0-9a-f]{64}$/;

/** `sha256:<hex>` of build artefact bytes: the build fingerprint a node identity is tied to. */
export function buildFingerprint(artefact: Uint8Array | string): string {
  // Anything else reached node:crypto as its own ERR_INVALID_ARG_TYPE.
  if (typeof artefact !== "string" && !ArrayBuffer.isView(artefact)) {
    throw new OnexError(ErrorCode.Usage, `buildFingerprint: artefact must be the build's bytes (a Uint8Array) or text, not ${describeValue(artefact)}`);
  }
  return "sha256:" + createHash("sha256").update(artefact).digest("hex");
}

/** The `AgentKey` record of a keypair; `issuedBy` names the onboarding authority's key id when one issued it. */
export function agentKeyRecord(key: KeyPair, options: { issuedBy?: string; createdAt?: Date } = {}): AgentKeyRecord {
  return {
    key_id: key.keyId,
    algorithm: "ed25519",
    public_key: key.publicKey.raw.toString("base64url"),
    created_at: (options.createdAt ?? new Date()).toISOString(),
    ...(options.issuedBy === undefined ? {} : { issued_by: options.issuedBy }),
  };
}

/** Onboarding: an authority generates a keypair for an agent and records that it issued it. */
export function issueAgentKey(authority: KeyPair): { key: KeyPair; record: AgentKeyRecord } {
  const key = generateKeyPair();
  return { key, record: agentKeyRecord(key, { issuedBy: authority.keyId }) };
}

/** Checks an `AgentKey` record (the key id is the public key's fingerprint) and returns its public key; throws ONEX_E_KEY_INVALID or ONEX_E_IDENTITY_MISMATCH. */
export function verifyAgentKey(record: unknown): PublicKey {
  // The key itself first, so a wrong algorithm or a weak key is named as what it is.
  const fields = (record ?? {}) as { algorithm?: unknown; public_key?: unknown };
  if (typeof fields.algorithm === "string" && fields.algorithm !== "ed25519") throw new OnexError(ErrorCode.KeyInvalid, `unsupported key algorithm "${fields.algorithm.slice(0, 32)}"`, { instancePath: "/algorithm" });
  if (typeof fields.public_key === "string") publicKeyFromRaw(fields.public_key);
  assertRecord(record, AGENT_KEY_SCHEMA, "agent key");
  const key = publicKeyFromRaw(record.public_key as string);
  if (key.keyId !== record.key_id) {
    throw new OnexError(ErrorCode.IdentityMismatch, `key id ${String(record.key_id)} is not the fingerprint of the public key (${key.keyId})`, { instancePath: "/key_id" });
  }
  return key;
}

/** The node id of a public key, build fingerprint and zone: `node-` and 128 bits of the SHA-256 of their canonical form. */
export function deriveNodeId(publicKey: PublicKey | Uint8Array, build: string, zone: string): string {
  const raw = "raw" in publicKey ? publicKey.raw : Buffer.from(publicKey);
  const publicKeyText = raw.toString("base64url");
  // Every verification of a node's identity derives its id again (a registry: each new revision of
  // the node's entry), so the ids of the inputs met are remembered, as keys are remembered. The
  // inputs as a JSON array name them unambiguously, at a fraction of the canonical form's cost.
  // Only inputs of the sizes a real identity has are remembered (a zone id, a build fingerprint),
  // so the memory stays small whatever a caller passes.
  const memoKey = typeof build === "string" && typeof zone === "string" && build.length + zone.length <= REMEMBERED_INPUT_CHARS ? JSON.stringify([build, zone, publicKeyText]) : undefined;
  const known = memoKey === undefined ? undefined : derivedIds.get(memoKey);
  if (known !== undefined) return known;
  // Canonical JSON rather than concatenation, so no choice of fields can collide with another.
  const input = canonicalize({ build_fingerprint: build, public_key: publicKeyText, zone });
  const id = "node-" + createHash("sha256").update(input).digest("hex").slice(0, 32);
  if (memoKey === undefined) return id;
  derivedIds.set(memoKey, id);
  if (derivedIds.size > DERIVED_IDS_REMEMBERED) forgetOldest(derivedIds);
  return id;
}

const derivedIds = new Map<string, string>();
const DERIVED_IDS_REMEMBERED = 10_000;
const REMEMBERED_INPUT_CHARS = 512;

/** The `NodeIdentity` record of a node key in a zone, running the build with `build` fingerprint. */
export function createNodeIdentity(key: KeyPair | PublicKey, build: string, zone: string): NodeIdentityRecord {
  // A build left out was a raw TypeError, a zone left out an identity no verifier takes.
  if (typeof build !== "string") throw new OnexError(ErrorCode.Usage, `createNodeIdentity: build must be a build fingerprint "sha256:<64 hex>" (buildFingerprint), not ${describeValue(build)}`);
  if (typeof zone !== "string") throw new OnexError(ErrorCode.Usage, `createNodeIdentity: zone must be a zone id such as "zone.trusted.org", not ${describeValue(zone)}`);
  const raw = key !== null && typeof key === "object" ? ("publicKey" in key ? key.publicKey : key)?.raw : undefined;
  if (!(raw instanceof Uint8Array)) {
    throw new OnexError(ErrorCode.KeyInvalid, `createNodeIdentity: the key must be the node's key pair or public key, not ${key === null ? "null" : typeof key === "object" ? "an object without a public key's raw bytes" : typeof key}`);
  }
  if (!BUILD_FINGERPRINT.test(build)) throw new OnexError(ErrorCode.ValidationFailed, `a build fingerprint is "sha256:<64 hex>", not "${build.slice(0, 80)}"`);
  const publicKey = "publicKey" in key ? key.publicKey : key;
  return { node_id: deriveNodeId(publicKey, build, zone), public_key: publicKey.raw.toString("base64url"), build_fingerprint: build, zone };
}

/**
 * Checks that a `NodeIdentity`'s id derives from its key, build and zone (and, when given,
 * that the build and zone are the expected ones); returns the node's public key.
 * Throws ONEX_E_IDENTITY_MISMATCH.
 */
export function verifyNodeIdentity(record: unknown, expected: { build?: string; zone?: string } = {}): PublicKey {
  const { key, derived } = verifiedBefore(record) ?? checkNodeIdentity(record);
  const { build_fingerprint: build, zone } = record as NodeIdentityRecord;
  if (expected.build !== undefined && expected.build !== build) {
    throw new OnexError(ErrorCode.IdentityMismatch, `node ${derived} runs build ${build}, not the expected ${expected.build}`, { instancePath: "/build_fingerprint" });
  }
  if (expected.zone !== undefined && expected.zone !== zone) {
    throw new OnexError(ErrorCode.IdentityMismatch, `node ${derived} belongs to zone ${zone}, not ${expected.zone}`, { instancePath: "/zone" });
  }
  return key;
}

/** Identities that passed checkNodeIdentity, by node id: a node's next registration carries the same one. */
const verifiedIdentities = new Map<string, { publicKey: string; build: string; zone: string }>();
const VERIFIED_IDENTITIES_REMEMBERED = 10_000;

/**
 * The key of an identity equal to one checked before: its four fields, and no other (the shape
 * allows no other), the same strings. Checking it again is a pure function of those strings, and
 * the checks (shape, key text, id derivation) cost a registry watch a tenth of each new entry's
 * verification between network reads.
 */
function verifiedBefore(record: unknown): { key: PublicKey; derived: string } | undefined {
  if (record === null || typeof record !== "object" || Array.isArray(record)) return undefined;
  // Its own fields, as the shape check reads them: not an object whose fields are inherited.
  const names = Object.keys(record);
  if (names.length !== IDENTITY_FIELDS.length || !names.every((name) => IDENTITY_FIELDS.includes(name))) return undefined;
  const fields = record as Record<string, unknown>;
  const nodeId = fields.node_id;
  const known = typeof nodeId === "string" ? verifiedIdentities.get(nodeId) : undefined;
  if (known === undefined || fields.public_key !== known.publicKey || fields.build_fingerprint !== known.build || fields.zone !== known.zone) return undefined;
  return { key: publicKeyFromRaw(known.publicKey), derived: nodeId as string };
}

const IDENTITY_FIELDS: readonly string[] = Object.keys(NODE_IDENTITY_SCHEMA.required);

/** Checks an identity's shape, key and node id in full, and remembers it. */
function checkNodeIdentity(record: unknown): { key: PublicKey; derived: string } {
  const publicKey = ((record ?? {}) as { public_key?: unknown }).public_key;
  // Imported before the shape check, so a weak or malformed key is named as such; imported once,
  // because importing is the costly part (the weak-key check is big-integer arithmetic).
  const imported = typeof publicKey === "string" ? publicKeyFromRaw(publicKey) : undefined;
  assertRecord(record, NODE_IDENTITY_SCHEMA, "node identity");
  const key = imported ?? publicKeyFromRaw(record.public_key as string);
  const derived = deriveNodeId(key, record.build_fingerprint as string, record.zone as string);
  if (derived !== record.node_id) {
    throw new OnexError(ErrorCode.IdentityMismatch, `node id ${String(record.node_id)} does not derive from its key, build and zone (expected ${derived})`, { instancePath: "/node_id" });
  }
  // Only identities of the sizes a real one has (a zone id, a build fingerprint), as deriveNodeId remembers.
  const [build, zone] = [record.build_fingerprint as string, record.zone as string];
  if (build.length + zone.length <= REMEMBERED_INPUT_CHARS) {
    verifiedIdentities.set(derived, { publicKey: record.public_key as string, build, zone });
    if (verifiedIdentities.size > VERIFIED_IDENTITIES_REMEMBERED) forgetOldest(verifiedIdentities);
  }
  return { key, derived };
}
