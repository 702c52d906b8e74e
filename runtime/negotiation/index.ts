/** Version negotiation between federated deployments: schema indexes, probing, the handshake, the federation node. */
export { agreeOnVersion, buildOffer, compareVersions, offerSigner, parseOffer, type Agreement, type NegotiationFlag, type OfferInput, type ProtocolBlock, type ProtocolOffer, type VersionHash } from "./agreement.js";
export { FederationNode, refusalFor, type FederatedReceipt, type FederationNodeOptions, type NegotiatingSdk, type PeerRefusal, type SdkMessage } from "./federation-node.js";
export { negotiate, type NegotiateOptions } from "./handshake.js";
export { checkPeerOffer, withChecks, type CheckedOffer } from "./offer-check.js";
export { negotiateSubject, schemasSubject, serveNegotiation, type HandshakeAnswer, type NegotiationService, type SchemasDocument, type ServeNegotiationOptions } from "./negotiation-service.js";
export { probe, type ProbedVersion, type ProbeOptions, type ProbeResult } from "./probe.js";
export { SCHEMA_INDEX_FORMAT, contentHashOf, differingSchemas, parseSchemaIndex, readSchemaIndex, type SchemaIndex, type SchemaIndexMessage, type SchemaIndexSchema } from "./schema-index.js";
export { declaredVersionOf } from "../receive/pipeline.js";
export type { MessageOf, Refusal, VersionedDelivery, VersionedReceiver, VersionedSubscribeOptions, VersionedSubscription, VersionedSubscriptionStats } from "../control-plane.js";
