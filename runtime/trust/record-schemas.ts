/** The record schemas of schemas/v0.1/records (identical in v0.2), as rules the runtime checks records with. */
import type { RecordSchema } from "./record-shape.js";

const nonEmpty = { type: "string", minLength: 1 } as const;
const time = { type: "string", format: "date-time" } as const;
const rawKey = { type: "string", pattern: /^[A-Za-z0-9_-]{43}$/ } as const;
const signature = { type: "string", pattern: /^ed25519:[A-Za-z0-9_-]+$/ } as const;

/** `AgentKey` (agent-key.yaml). */
export const AGENT_KEY_SCHEMA: RecordSchema = {
  required: { key_id: nonEmpty, algorithm: { type: "string", enum: ["ed25519"] }, public_key: rawKey, created_at: time },
  optional: { issued_by: { type: "string" } },
};

/** `NodeIdentity` (node-identity.yaml). */
export const NODE_IDENTITY_SCHEMA: RecordSchema = {
  required: { node_id: nonEmpty, public_key: rawKey, build_fingerprint: { type: "string", pattern: /^sha256:[0-9a-f]{64}$/ }, zone: nonEmpty },
};

/** `RegistryEntry` (registry-entry.yaml). */
export const REGISTRY_ENTRY_SCHEMA: RecordSchema = {
  required: {
    node_id: nonEmpty,
    address: nonEmpty,
    zone: nonEmpty,
    key_id: nonEmpty,
    health: {
      type: "object",
      schema: {
        required: { status: { type: "string", enum: ["passing", "warning", "critical"] } },
        optional: { check_url: { type: "string", format: "uri" }, interval_ms: { type: "integer", minimum: 100 } },
      },
    },
    registered_at: time,
  },
  optional: { capabilities: { type: "string[]" }, signature },
};

/** `SessionGrant` (session-grant.yaml). */
export const SESSION_GRANT_SCHEMA: RecordSchema = {
  required: {
    grant_id: nonEmpty,
    issuer: nonEmpty,
    subject: nonEmpty,
    zone: nonEmpty,
    scopes: { type: "object", schema: { required: { message_types: { type: "string[]" }, zones: { type: "string[]" } } } },
    not_before: time,
    expires_at: time,
  },
  optional: { signature },
};

/** A grant revocation (no manifest schema: it travels only between authorities and verifiers). */
export const GRANT_REVOCATION_SCHEMA: RecordSchema = {
  required: { grant_id: nonEmpty, issuer: nonEmpty, revoked_at: time, expires_at: time },
  optional: { reason: { type: "string" }, signature },
};

/** `ExecutionAttestation` (execution-attestation.yaml). */
export const EXECUTION_ATTESTATION_SCHEMA: RecordSchema = {
  required: {
    task_id: nonEmpty,
    node: nonEmpty,
    outcome: { type: "string", enum: ["succeeded", "failed", "cancelled"] },
    trace_hash: { type: "string", pattern: /^sha256:[0-9a-f]{64}$/ },
    signer: nonEmpty,
    trust_delta: { type: "number", minimum: -1, maximum: 1 },
    verified: { type: "boolean" },
    execution_time: { type: "number", minimum: 0 },
  },
  optional: { cost: { type: "number", minimum: 0 }, signature },
};
