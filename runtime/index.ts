/**
 * The runtime core of onex: what a service imports beside its generated SDK. It loads no
 * transport: the control plane (`@onex/runtime/jetstream`), the registry
 * (`@onex/runtime/registry`), negotiation (`@onex/runtime/negotiation`) and the data plane
 * (`@onex/runtime/dataplane`) are entry points of their own, whose dependencies (nats.js,
 * etcd3, consul) are optional peers that a service installs only when it uses them.
 */
export { ErrorCode, OnexError, isOnexError, type OnexErrorDetails } from "./errors.js";
export { MAX_TIMER_MS } from "./timer.js";
export { durationMs } from "./duration-text.js";
export { addressSecrets, hideSecrets, redactedAddress, withoutSecrets } from "./address-secrets.js";
export { OnexMessage, type MessageClass, type MessageInput } from "./message.js";
export { decodeSubjectToken, encodeSubjectToken } from "./subject-token.js";
export { assertZoneId, isZoneId, ZONE_ID_RULE } from "./zone-id.js";
export { assertValid, type StandaloneValidator, type ValidationIssue } from "./validation.js";

// O.M.N.I. trust: canonical JSON, keys, signatures, policies and the execution trust chain.
export { canonicalize, canonicalBytes, MAX_CANONICAL_DEPTH } from "./trust/canonical-json.js";
export {
  COMPACT_PRIVATE_PREFIX,
  COMPACT_PUBLIC_PREFIX,
  exportPrivateKey,
  exportPublicKey,
  generateKeyPair,
  importPrivateKey,
  importPublicKey,
  isKeyId,
  keyIdOf,
  keyPairFromSeed,
  keyRing,
  assertStrongPublicKey,
  assertUsablePublicKey,
  publicKeyFromRaw,
  type KeyFormat,
  type KeyPair,
  type KeyResolver,
  type PublicKey,
} from "./trust/keys.js";
export { SIGNATURE_PREFIX, decodeSignature, isValidSignature, signBytes, verifyBytes } from "./trust/signature.js";
export { ed25519Library } from "./trust/ed25519-verify.js";
export { envelopeData, MAX_DATE_MS, type Envelope, type EnvelopeInput, type MessageData, type TrustBlock } from "./trust/envelope.js";
export { checkTrustExpiry, checkZone, messageSigningBytes, signMessage, verifyMessage, verifyMessageSignature, type VerifyMessageOptions } from "./trust/sign-message.js";
export {
  DEFAULT_TRUST_POLICY,
  PolicyMode,
  judge,
  parseTrustPolicy,
  trustPolicy,
  type JudgeContext,
  type PolicyName,
  type TrustPolicy,
  type TrustWarning,
  type Verdict,
} from "./trust/policy.js";
export { recordSigningBytes, signRecord, verifyRecordSignature } from "./trust/record-signature.js";
export type { AgentKeyRecord, ExecutionAttestationRecord, NodeIdentityRecord, RegistryEntryRecord, SessionGrantRecord } from "./trust/records.js";
export { agentKeyRecord, buildFingerprint, createNodeIdentity, deriveNodeId, issueAgentKey, verifyAgentKey, verifyNodeIdentity } from "./trust/identity.js";
export { signRegistryEntry, verifyRegistryEntry, type RegistryEntryInput, type VerifyRegistryEntryOptions } from "./trust/registry-entry.js";
export {
  ANY_SCOPE,
  GrantBook,
  RevocationList,
  issueSessionGrant,
  revokeSessionGrant,
  verifyGrantAuthenticity,
  verifySessionGrant,
  type GrantRevocation,
  type IssueGrantOptions,
  type VerifyGrantOptions,
} from "./trust/session-grant.js";
export { attestExecution, traceHash, verifyAttestation, type AttestInput, type VerifyAttestationOptions } from "./trust/attestation.js";
export { verifyExecutionChain, type ExecutionChain, type VerifyChainOptions } from "./trust/execution-chain.js";
export { TrustLedger, type LedgerEntry, type ScoreExplanation, type TrustLedgerOptions } from "./trust/trust-ledger.js";
export { ReplayGuard, type ReplayGuardOptions } from "./trust/replay-guard.js";
export { ZoneAuthorities, type ZoneAuthority } from "./trust/zone-authorities.js";
export { parseRfc3339, isRfc3339 } from "./trust/rfc3339-time.js";
// Protocol versions: the one order, and the envelope layouts generated SDKs register (where each version keeps its declared version, time, source and signature).
export { compareVersions } from "./version-order.js";
export { declaredVersionOf, envelopeLayoutOf, envelopeLayouts, type EnvelopeLayout } from "./trust/envelope.js";
// Moving a message between versions along the generated transforms (what `onex migrate` and `onex check` run).
export { findMigrationPath, jsonEqual, migrateAlongGraph, runTransformStep, type JsonObject, type VersionGraph } from "./transform.js";
// The runtime's services (health watcher, router, swarm) in a version that reshaped a payload they build.
export { convertingSdk, type ConvertVia, type ServiceSdk } from "./service-messages.js";
// Loading a CommonJS dependency from ESM the same way under Node, bundlers and vitest.
export { commonJsDefault } from "./commonjs.js";
export { parseJson, parseJsonWithLines, stringifyJson, MAX_JSON_DEPTH, type BigIntegerMode, type JsonParseOptions, type ParsedJson } from "./json-text.js";

// The control plane as an interface (its NATS JetStream implementation is `@onex/runtime/jetstream`).
export type { ControlPlane, Delivery, DeliverFrom, PublishOptions, PublishReceipt, Subscription, SubscribeOptions, SubscriptionStats } from "./control-plane.js";
// The receive pipeline every transport feeds: decode, validate, judge, migrate, deliver or refuse.
export { typedPipeline, versionedPipeline, type Inbound, type Outcome, type ReceivePipeline, type TrustSettings } from "./receive/pipeline.js";
export { StoredMessageReplay } from "./receive/stored-message-replay.js";
export type { ProtocolSdk, PublishableMessage } from "./protocol-sdk.js";
