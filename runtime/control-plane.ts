/**
 * The control plane as services see it: publish a typed message, subscribe to verified,
 * judged deliveries (in the sender's version or converted to the receiver's). The JetStream
 * client implements it; services (`Swarm`, `DataPlanePeer`, `FederationNode`, the health
 * watcher) depend on this interface, not on the NATS client.
 */
import type { ErrorCode } from "./errors.js";
import type { MessageClass } from "./message.js";
import type { ProtocolSdk, PublishableMessage } from "./protocol-sdk.js";
import type { JsonObject, VersionGraph } from "./transform.js";
import type { TrustWarning } from "./trust/policy.js";

/** Publishing knobs. */
export interface PublishOptions {
  /** How long to retry (same message id: the server de-duplicates) while the server is unreachable; default 10 s, 0 for one attempt, Infinity for no limit. */
  retryForMs?: number;
  /** Per-attempt acknowledgement timeout; default 5 s, more than 0, Infinity for no limit. */
  timeoutMs?: number;
}

/** The result of a publish: the stream and sequence, and whether the server had it already. */
export interface PublishReceipt {
  stream: string;
  sequence: number;
  duplicate: boolean;
  subject: string;
}

/** Where a new consumer starts. An existing durable consumer resumes where it stopped. */
export type DeliverFrom = "all" | "new" | { fromSequence: number } | { fromTime: Date | string };

/** Subscription options. */
export interface SubscribeOptions {
  /** Only messages from this zone / entity type / entity id (subject parts; missing ones match all). */
  zone?: string;
  entityType?: string;
  entityId?: string;
  /** Subject template params by their manifest names, for templates with other placeholders. */
  filter?: Record<string, string>;
  /** Durable consumer name: a subscription with the same name resumes where the last one stopped. */
  durable?: string;
  deliver?: DeliverFrom;
  /** Messages delivered but not yet acknowledged, at most (`max_ack_pending`, and the client's buffer). Default 256. */
  maxInFlight?: number;
  /** Deliveries before a message the handler keeps failing is dead-lettered. Default 5. */
  maxDeliver?: number;
  /** How long a delivery may stay unacknowledged before redelivery. Default 30 s. */
  ackWaitMs?: number;
  /**
   * Acknowledged (or terminated, or dead-lettered) stream sequences remembered (default 10 000):
   * a message delivered again after its ack was lost (a server crash), or redelivered while its
   * handler outran ackWaitMs, is acknowledged and skipped instead of handled twice.
   * (The same message published again is a new sequence: the replay guard judges that.)
   */
  rememberAcked?: number;
}

/** One message handed to the caller, verified and judged. */
export interface Delivery<M> {
  message: M;
  /** Advisory trust failures (the message was accepted despite them). */
  warnings: TrustWarning[];
  /** The key id whose signature verified, when the signature policy checked it. */
  signer?: string;
  subject: string;
  /** Sequence in the stream: replay from here with `deliver: { fromSequence }`. */
  sequence: number;
  /** How often this message has been delivered (1 the first time). */
  deliveries: number;
  /** Done: the message will not be handed out again (a redelivery after a lost ack is acknowledged and skipped). */
  ack(): Promise<void>;
  /** Failed: deliver again after `delayMs`; after `maxDeliver` deliveries it is dead-lettered instead. */
  nak(delayMs?: number): Promise<void>;
  /** Never deliver again, without dead-lettering (a copy the server already sent is not handed out either). */
  term(): void;
  /** Still working: extends the ack deadline (and the last-delivery deadline). */
  working(): void;
}

/** Counts of what a subscription did. */
export interface SubscriptionStats {
  delivered: number;
  deadLettered: number;
  /** Messages of types this subscription does not handle. */
  skipped: number;
  /** Messages delivered again after they were acknowledged, terminated or dead-lettered, and not handed out again. */
  duplicates: number;
}

/** An open subscription: iterate it for deliveries, `stop()` to end it. */
export interface Subscription<M> extends AsyncIterable<Delivery<M>> {
  readonly stream: string;
  readonly consumer: string;
  readonly stats: SubscriptionStats;
  stop(): Promise<void>;
}

/** A message this receiver could not take in its own version. */
export interface Refusal {
  /** ONEX_E_NO_COUNTERPART (type has no counterpart), ONEX_E_UNKNOWN_VERSION, or the code the conversion failed with. */
  code: ErrorCode;
  message: string;
  type: string;
  /** The version the message was written in. */
  fromVersion: string;
  /** The receiver's version. */
  toVersion: string;
  messageId?: string;
  /** The verified signer of the original, when the signature policy checked it. */
  signer?: string;
  subject: string;
  sequence: number;
}

/** A delivery converted to the receiver's version. */
export interface VersionedDelivery<M> extends Delivery<M> {
  /** The version the sender wrote the message in. */
  receivedVersion: string;
  /** The message as received and verified, before conversion: parsed from the bytes again when read (a getter, so a spread or JSON.stringify of the delivery leaves it out). */
  readonly original: JsonObject;
  /** Versions the conversion passed through, both ends included (`[v]` when none was needed). */
  path: string[];
}

/** Counts of a versioned subscription. */
export interface VersionedSubscriptionStats extends SubscriptionStats {
  /** Delivered after conversion from another version. */
  converted: number;
  refused: number;
}

/** Options of a versioned subscription. */
export interface VersionedSubscribeOptions extends SubscribeOptions {
  /** The subject template to follow (default: the template of the receiver's first message class). */
  templateKey?: string;
  /** Called once per refused message, as it is refused. */
  onRefusal?: (refusal: Refusal) => void;
  /** Refusals kept in `refusals` (the most recent); default 1 000. */
  rememberRefusals?: number;
}

/** A subscription yielding messages of every version, in the receiver's version. */
export interface VersionedSubscription<M> extends AsyncIterable<VersionedDelivery<M>> {
  readonly stream: string;
  readonly consumer: string;
  readonly stats: VersionedSubscriptionStats;
  /** The most recent refusals, oldest first. */
  readonly refusals: readonly Refusal[];
  stop(): Promise<void>;
}

/** What the versioned receive path needs: the receiver's SDK, every SDK it can read, and the adapters between them. */
/** Any message of an SDK's version: the union of what its classes' `parse` returns (`AnyMessage` of a generated SDK). */
export type MessageOf<S extends ProtocolSdk> = { [T in keyof S["messageClasses"]]: ReturnType<S["messageClasses"][T]["parse"]> }[keyof S["messageClasses"]];

export interface VersionedReceiver<S extends ProtocolSdk = ProtocolSdk> {
  /** The receiver's own version's SDK: messages are handed out as its classes. */
  sdk: S;
  /** SDKs of the versions it reads (validation of the original); the receiver's own is added when missing. */
  sources: readonly ProtocolSdk[];
  /** The version graph of the generated adapters (generated/transforms `versionGraph`). */
  graph: VersionGraph;
}

/** What a service needs of the control plane. */
export interface ControlPlane {
  /** Validates, signs and publishes one message; resolves once it is stored. */
  publish(message: PublishableMessage, options?: PublishOptions): Promise<PublishReceipt>;
  /** Delivers verified, judged messages of the given classes. */
  subscribe<C extends MessageClass>(types: readonly C[], options?: SubscribeOptions): Promise<Subscription<ReturnType<C["parse"]>>>;
  /** Delivers verified, judged messages of every version `receiver` reads, converted to its own. */
  subscribeVersioned<S extends ProtocolSdk>(receiver: VersionedReceiver<S>, options?: VersionedSubscribeOptions): Promise<VersionedSubscription<MessageOf<S>>>;
}
