/**
 * Execution attestations, the last link of the trust chain: a node signs the outcome of a
 * task together with a hash binding the exact task and result, so the attestation cannot be
 * reused for another task or an altered result.
 */
import { createHash } from "node:crypto";
import { ErrorCode, OnexError } from "../errors.js";
import { canonicalize } from "./canonical-json.js";
import type { KeyPair, KeyResolver, PublicKey } from "./keys.js";
import { EXECUTION_ATTESTATION_SCHEMA } from "./record-schemas.js";
import { assertRecord } from "./record-shape.js";
import { signRecord, verifyRecordSignature } from "./record-signature.js";
import type { ExecutionAttestationRecord } from "./records.js";

/** `sha256:<hex>` of the canonical form of `{task, result}`: what an attestation binds. */
export function traceHash(task: unknown, result: unknown): string {
  return "sha256:" + createHash("sha256").update(canonicalize({ result, task }), "utf8").digest("hex");
}

/** What a node attests about a task it ran. */
export interface AttestInput {
  /** The task as dispatched (for example the `signal.task.dispatch` payload); must carry `task_id`. */
  task: { task_id: string } & Record<string, unknown>;
  /** The result (for example the `signal.result.ready` payload without its `attestation`). */
  result: unknown;
  /** Node id of the node that ran the task. */
  node: string;
  outcome: ExecutionAttestationRecord["outcome"];
  /** Reputation change the attester proposes, in [-1, 1]. */
  trustDelta: number;
  /** Whether the attester checked the result (re-ran or validated it) rather than only relaying it. */
  verified: boolean;
  /** Wall-clock execution time in milliseconds. */
  executionTime: number;
  cost?: number;
}

/** A signed `ExecutionAttestation`; `signer` is the key id of `key`. */
export function attestExecution(input: AttestInput, key: KeyPair): ExecutionAttestationRecord {
  const task: unknown = input.task;
  if (task === null || typeof task !== "object" || Array.isArray(task) || typeof (task as { task_id?: unknown }).task_id !== "string") {
    throw new OnexError(ErrorCode.ValidationFailed, "the task to attest must be an object with a string task_id", { instancePath: "/task_id" });
  }
  if (!(input.trustDelta >= -1 && input.trustDelta <= 1)) throw new OnexError(ErrorCode.ValidationFailed, `trust_delta must be within [-1, 1], not ${input.trustDelta}`, { instancePath: "/trust_delta" });
  if (!(input.executionTime >= 0)) throw new OnexError(ErrorCode.ValidationFailed, `execution_time must be >= 0, not ${input.executionTime}`, { instancePath: "/execution_time" });
  if (input.cost !== undefined && !(input.cost >= 0)) throw new OnexError(ErrorCode.ValidationFailed, `cost must be >= 0, not ${input.cost}`, { instancePath: "/cost" });
  const attestation = signRecord<ExecutionAttestationRecord>(
    {
      task_id: input.task.task_id,
      node: input.node,
      outcome: input.outcome,
      trace_hash: traceHash(input.task, input.result),
      signer: key.keyId,
      ...(input.cost === undefined ? {} : { cost: input.cost }),
      trust_delta: input.trustDelta,
      verified: input.verified,
      execution_time: input.executionTime,
    },
    key,
  );
  // Never sign what verifyAttestation refuses (an outcome of "bogus", a trust_delta of "0.5").
  assertRecord(attestation, EXECUTION_ATTESTATION_SCHEMA, "execution attestation");
  return attestation;
}

/** What an attestation is checked against. */
export interface VerifyAttestationOptions {
  keys: KeyResolver;
  /** With `result`: the trace hash must be the hash of exactly this task and result. */
  task?: unknown;
  result?: unknown;
  /** The node the attestation must be about. */
  node?: string;
}

/**
 * Verifies an attestation's signature (and, given the task and result, its trace hash);
 * returns the signer's key. Throws ONEX_E_SIGNATURE_MISSING/INVALID, ONEX_E_SIGNER_UNKNOWN,
 * ONEX_E_TRACE_MISMATCH, ONEX_E_IDENTITY_MISMATCH, or ONEX_E_VALIDATION when it breaks its schema.
 */
export function verifyAttestation(attestation: unknown, options: VerifyAttestationOptions): PublicKey {
  // Before the signature: a signed trust_delta of 1e308 or an unknown outcome must never count.
  assertRecord(attestation, EXECUTION_ATTESTATION_SCHEMA, "execution attestation");
  const record = attestation as unknown as ExecutionAttestationRecord;
  const key = options.keys(record.signer);
  if (key === undefined || key.keyId !== record.signer) throw new OnexError(ErrorCode.SignerUnknown, `attestation signer ${record.signer} is not in the key ring`, { signer: record.signer });
  verifyRecordSignature(record, key, "execution attestation");
  if (options.node !== undefined && record.node !== options.node) {
    throw new OnexError(ErrorCode.IdentityMismatch, `the attestation is about node ${record.node}, not ${options.node}`, { instancePath: "/node" });
  }
  if (options.task !== undefined || options.result !== undefined) {
    const expected = traceHash(options.task, options.result);
    if (expected !== record.trace_hash) {
      throw new OnexError(ErrorCode.TraceMismatch, `trace_hash ${record.trace_hash} is not the hash of the given task and result (${expected})`, { instancePath: "/trace_hash" });
    }
    const taskId = (options.task as { task_id?: unknown } | null)?.task_id;
    if (taskId !== record.task_id) {
      throw new OnexError(ErrorCode.TraceMismatch, `the attestation is for task ${record.task_id}, not ${String(taskId)}`, { instancePath: "/task_id" });
    }
  }
  return key;
}
