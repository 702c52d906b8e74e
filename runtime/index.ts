/** The public runtime of onex: what services import beside their generated SDK. */
export { ErrorCode, OnexError, isOnexError, type OnexErrorDetails } from "./errors.js";
export { OnexMessage, type MessageClass, type MessageInput } from "./message.js";
export { decodeSubjectToken, encodeSubjectToken } from "./subject-token.js";
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
export { envelopeData, type Envelope, type EnvelopeInput, type MessageData, type TrustBlock } from "./trust/envelope.js";
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
export { parseJson, parseJsonWithLines, stringifyJson, MAX_JSON_DEPTH, type BigIntegerMode, type JsonParseOptions, type ParsedJson } from "./json-text.js";

// The control plane on NATS JetStream.
export { connect, OnexClient, type ConnectOptions } from "./jetstream/client.js";
export type { ControlPlane, Delivery, DeliverFrom, PublishOptions, PublishReceipt, Subscription, SubscribeOptions, SubscriptionStats } from "./control-plane.js";
export { DEAD_LETTER_STREAM, applyStreams, planStreams, streamNameOf, zoneStreamNameOf, type StreamChange, type StreamLimits, type StreamPlan } from "./jetstream/streams.js";
export { getDeadLetter, listDeadLetters, type DeadLetter } from "./jetstream/dead-letter.js";
export { planReplay, replayDeadLetter, type ReplayCheck, type ReplayPlan } from "./jetstream/dead-letter-replay.js";
export { accountOf, inboxPrefixOf, natsAccountsConfig, zonesOf, type AuthIdentity } from "./jetstream/authorization.js";
// The receive pipeline every transport feeds: decode, validate, judge, migrate, deliver or refuse.
export { typedPipeline, versionedPipeline, type Inbound, type Outcome, type ReceivePipeline, type TrustSettings } from "./receive/pipeline.js";
export { StoredMessageReplay } from "./receive/stored-message-replay.js";
export type { ProtocolSdk, PublishableMessage } from "./protocol-sdk.js";

// Registry and discovery: canonical addresses, one registry interface over NATS KV, etcd and Consul, health, routing.
export { ADDRESS_SCHEME, EntityType, buildAddress, isCanonicalAddress, nodeAddress, parseAddress, type CanonicalAddress } from "./registry/address.js";
export { HealthStatus, type Registry, type RegistryChange, type RegistryFilter, type RegistryOptions, type RegistryStore, type ResolvedEntry, type StoredMark, type WatchOptions } from "./registry/registry.js";
export { REGISTRY_SCHEMES, openRegistry, parseRegistryUrl, type RegistryUrl } from "./registry/open-registry.js";
export { DEFAULT_TTL_MS, TrustedRegistry } from "./registry/trusted-registry.js";
// Version negotiation between federated deployments.
export * from "./negotiation/index.js";
export { HealthWatcher, type ControlPlaneMessages, type HealthWatcherOptions } from "./registry/health-watcher.js";
export { keepAlive, type KeepAliveOptions } from "./registry/keep-alive.js";
export { Router, type DispatchMessages, type DispatchOutcome, type DispatchTransport, type FallbackProof, type RouteRequest, type RouteResult, type RouterOptions } from "./registry/router.js";

// The data plane: content-addressed artifacts served peer to peer, coordinated on the control plane.
export { Bitfield } from "./dataplane/bitfield.js";
export {
  DATA_PLANE_TRUST_POLICY,
  DEFAULT_PIECE_SIZE,
  describeFile,
  judgeDescriptor,
  pieceCountOf,
  pieceDigest,
  pieceLengthOf,
  rootHashOf,
  verifyDescriptor,
  type ArtifactDescriptorRecord,
  type DescribeOptions,
  type DescriptorContext,
  type DescriptorVerdict,
} from "./dataplane/descriptor.js";
export { PieceStore, verifyWholeFile, type PieceListener, type PieceSource } from "./dataplane/piece-store.js";
export { PIECE_DIGEST_HEADER, PieceServer, type PieceServerOptions, type PieceServerStats } from "./dataplane/piece-server.js";
export { fetchArtifact, type CorruptPeerReport, type FetchOptions, type FetchProgress, type FetchResult, type PeerDirectory, type PeerInfo } from "./dataplane/fetcher.js";
export { Swarm, type AnnouncedPayload, type HavePayload, type KnownArtifact, type RefusedAnnouncement, type RequestPayload, type SwarmMessages, type SwarmOptions } from "./dataplane/swarm.js";
export { nameMatches, publisherKeyFor, publishersOf, type PublisherGrant } from "./dataplane/publishers.js";
export { DataPlanePeer, type DataPlanePeerOptions, type PeerFetchOptions } from "./dataplane/peer.js";
export { PIECE_SERVER_CAPABILITY, pieceServerHealth, registryPeerDirectory } from "./dataplane/registry-directory.js";
