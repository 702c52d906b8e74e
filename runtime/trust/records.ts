/**
 * The trust-chain records as the runtime builds and reads them. They mirror the manifest's
 * record schemas (schemas/v0.1/records/*.yaml); test/trust/records.test.ts proves both that
 * these types are assignable to and from the generated ones and that every record the
 * runtime builds passes the generated validators, so the two cannot drift apart silently.
 */

/** `AgentKey`: the public half of an agent keypair. */
export interface AgentKeyRecord {
  key_id: string;
  algorithm: "ed25519";
  /** Raw public key, base64url. */
  public_key: string;
  created_at: string;
  /** Key id of the authority that issued the key at onboarding; absent when self-generated. */
  issued_by?: string;
}

/** `NodeIdentity`: a node id bound to a public key, a build fingerprint and a zone. */
export interface NodeIdentityRecord {
  node_id: string;
  public_key: string;
  build_fingerprint: string;
  zone: string;
}

/** `RegistryEntry`: where a node is reachable, signed by the node. */
export interface RegistryEntryRecord {
  node_id: string;
  address: string;
  zone: string;
  key_id: string;
  health: {
    status: "passing" | "warning" | "critical";
    check_url?: string;
    interval_ms?: number;
  };
  capabilities?: string[];
  registered_at: string;
  signature?: string;
}

/** `SessionGrant`: a time-bound, revocable permission issued by a zone authority. */
export interface SessionGrantRecord {
  grant_id: string;
  issuer: string;
  subject: string;
  zone: string;
  scopes: {
    message_types: string[];
    zones: string[];
  };
  not_before: string;
  expires_at: string;
  signature?: string;
}

/** `ExecutionAttestation`: the signed outcome of a task on a node. */
export interface ExecutionAttestationRecord {
  task_id: string;
  node: string;
  outcome: "succeeded" | "failed" | "cancelled";
  trace_hash: string;
  signer: string;
  cost?: number;
  trust_delta: number;
  verified: boolean;
  execution_time: number;
  signature?: string;
}
