/**
 * A deployment taking part in a federation: it serves its negotiation endpoint, negotiates
 * with each peer once, publishes in its own version while refusing — at the sender — what a
 * named peer cannot represent, and receives every version in its own through the
 * version-aware subscription.
 *
 * Each side converts what it receives (the receiver knows which version it wants), so one
 * message in the shared stream serves peers of every version; the agreements decide which
 * peers are talked to at all, and what each of them can be sent.
 *
 * An agreement is the law of the link, on every path. Offers are signed with the key the
 * deployment's messages are signed with, so a receiver knows which agreement a message falls
 * under: messages of a rejected peer, or in a version found to hash differently with that
 * peer (`Agreement.unused`), are refused, not converted. A message sent `to` a peer travels
 * in the agreed version, converted at the sender.
 */
import { randomBytes } from "node:crypto";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { checkFunction, checkObject, checkPositive, describeValue } from "../option-check.js";
import { callOnRefusal } from "../refusal-callback.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ControlPlane, PublishOptions, PublishReceipt, Refusal, VersionedDelivery, VersionedSubscribeOptions, VersionedSubscription } from "../control-plane.js";
import type { ProtocolSdk, PublishableMessage, TransportMessageClass } from "../protocol-sdk.js";
import { findMigrationPath, migrateAlongGraph, type JsonObject, type VersionGraph } from "../transform.js";
import type { KeyPair, KeyResolver } from "../trust/keys.js";
import { freshOffer, type Agreement, type ProtocolBlock, type ProtocolOffer } from "./agreement.js";
import { handshake } from "./handshake.js";
import { checkConnection, serveNegotiation, type NegotiationService } from "./negotiation-service.js";
import { PeerBook } from "./peer-book.js";
import { parseRfc3339 } from "../trust/rfc3339-time.js";
import { compareVersions } from "../version-order.js";
import type { SchemaIndex } from "./schema-index.js";

/** A generated SDK module with its protocol declaration (`import * as v0_2 from "@onex/sdk/v0.2"`). */
export interface NegotiatingSdk extends ProtocolSdk {
  protocolBlock(): ProtocolBlock;
}

/** A message of an SDK: any instance its classes parse (`NodeRegister | StateUpdate | ...`). */
export type SdkMessage<S extends ProtocolSdk> = ReturnType<S["messageClasses"][keyof S["messageClasses"]]["parse"]>;

/** What a federation node is made of. */
export interface FederationNodeOptions<S extends NegotiatingSdk = NegotiatingSdk> {
  /** Publishes and receives this deployment's messages. */
  client: ControlPlane;
  /** The NATS connection negotiation request/reply runs on (handshakes and probes are plain NATS, not JetStream). */
  connection: NatsConnection;
  /** This deployment's name: its negotiation subjects are `onex.negotiate.<name>` and `onex.schemas.<name>`. */
  deployment: string;
  /** The SDK of the version this deployment runs. */
  sdk: S;
  /** SDKs of every version it can read (for validating originals before conversion). */
  sources: readonly ProtocolSdk[];
  /** The generated adapters' version graph. */
  graph: VersionGraph;
  /** Schema indexes of the versions it knows (the bundled `generated/v*\/index.json`). */
  indexes: readonly SchemaIndex[];
  /** The key this deployment's client signs messages with: it signs the offer, so peers tell this deployment's messages apart. */
  identity: KeyPair;
  /** Keys that verify peers' offers (the control plane's key ring): a peer's verified signer ties its messages to its agreement. */
  keys: KeyResolver;
  /** Handshake timeout; default 2 s, more than 0. */
  timeoutMs?: number;
  /**
   * Deployments bound to their keys ahead of any handshake (deployment name -> key id), as
   * ssh's known_hosts binds hosts: no other trusted key may negotiate for those names, even
   * first. Others bind on first use, unless `knownPeersOnly`.
   */
  knownPeers?: Readonly<Record<string, string>>;
  /** Only the deployments of `knownPeers` may negotiate with this one (default false). */
  knownPeersOnly?: boolean;
}

/**
 * ONEX_E_USAGE, before anything is served, for what plain JavaScript can give `start` that is not
 * a node's parts: options of null and an `sdk` without its protocol block were raw TypeErrors, and
 * a connection-like `connection` without `flush` one after the negotiation service had
 * subscribed; the control-plane client given as the connection (its `nc` is one), or anything else
 * that is none, was refused in serveNegotiation's words ("nc"), which name no option of `start`.
 * A `client` that is no control plane, or `keys` that are no resolver, were taken, to fail later.
 */
function checkNodeOptions(options: FederationNodeOptions): void {
  checkObject("FederationNode.start", "options", options, { required: true });
  const connection: unknown = options.connection;
  // The control-plane client given as the connection: its NATS connection is its `nc`.
  if (connection !== null && typeof connection === "object" && typeof (connection as { nc?: unknown }).nc === "object" && typeof (connection as { flush?: unknown }).flush !== "function") {
    throw new OnexError(ErrorCode.Usage, "FederationNode.start: connection must be a NATS connection (the client's own is client.nc), not the client");
  }
  checkConnection("FederationNode.start", "connection", connection);
  checkFunction("FederationNode.start", "connection.flush", (connection as Record<string, unknown>).flush);
  checkObject("FederationNode.start", "client", options.client, { required: true });
  for (const method of ["publish", "subscribeVersioned"]) checkFunction("FederationNode.start", `client.${method}`, (options.client as unknown as Record<string, unknown>)[method]);
  const sdk = options.sdk as Partial<NegotiatingSdk> | null | undefined;
  if (sdk === null || typeof sdk !== "object" || typeof sdk.protocolBlock !== "function" || typeof sdk.version !== "string") {
    throw new OnexError(ErrorCode.Usage, `FederationNode.start: sdk must be a generated SDK module (import * as sdk from "@onex/sdk/<version>"), not ${describeValue(sdk)}`);
  }
  // null was taken, to fail only once a peer's offer came to be checked against it.
  if (typeof options.keys !== "function") throw new OnexError(ErrorCode.Usage, `FederationNode.start: keys must be a key resolver (keyRing([...])), not ${describeValue(options.keys)}`);
  if (!Array.isArray(options.sources)) throw new OnexError(ErrorCode.Usage, `FederationNode.start: sources must be an array of generated SDK modules, not ${describeValue(options.sources)}`);
}

/** A peer that will not receive a published message, and why. */
export interface PeerRefusal {
  peer: string;
  version: string;
  code: typeof ErrorCode.NoCounterpart | typeof ErrorCode.NoPath | typeof ErrorCode.SchemaHashMismatch;
  message: string;
}

/** The result of a federated publish. */
export interface FederatedReceipt extends PublishReceipt {
  /** Negotiated peers that cannot represent the message (it is still in the stream for the others). */
  refusedBy: PeerRefusal[];
}

/** One deployment of a federation. */
export class FederationNode<S extends NegotiatingSdk = NegotiatingSdk> {
  readonly #options: FederationNodeOptions<S>;
  readonly #service: NegotiationService;
  /** Both directions' handshakes, recorded only from fresh offers a trusted key signed (see PeerBook). */
  readonly #book: PeerBook;

  private constructor(options: FederationNodeOptions<S>) {
    this.#options = options;
    this.#book = new PeerBook(options.knownPeers, options.knownPeersOnly);
    this.#service = serveNegotiation(options.connection, {
      deployment: options.deployment,
      protocol: options.sdk.protocolBlock(),
      indexes: options.indexes,
      graph: options.graph,
      identity: options.identity,
      keys: options.keys,
      // A peer that opened the handshake is as negotiated as one we opened it with.
      book: this.#book,
    });
  }

  /** Starts serving negotiation for `options.deployment` and returns the node. */
  static async start<S extends NegotiatingSdk>(options: FederationNodeOptions<S>): Promise<FederationNode<S>> {
    checkNodeOptions(options);
    // Before anything is served, not at the first handshake (nats.js waits its default second for 0 or NaN).
    checkPositive("FederationNode", "timeoutMs", options.timeoutMs);
    const node = new FederationNode(options);
    // The responder must be registered with the server before a peer's first request.
    await options.connection.flush();
    return node;
  }

  get deployment(): string {
    return this.#options.deployment;
  }

  get version(): string {
    return this.#options.sdk.version;
  }

  /** Agreements with peers, by deployment. */
  get agreements(): ReadonlyMap<string, Agreement> {
    return this.#book.agreements;
  }

  /** Peers rejected (by either side), by deployment. */
  get rejections(): ReadonlyMap<string, OnexError> {
    return this.#book.rejections;
  }

  /**
   * Handshakes with `peer` and records the outcome. Throws ONEX_E_INCOMPATIBLE_PEER,
   * ONEX_E_SCHEMA_HASH_MISMATCH, ONEX_E_NEGOTIATION_TIMEOUT, ONEX_E_PERMISSION_DENIED or
   * ONEX_E_NEGOTIATION_INVALID (among others, for an answer no trusted key signed for this
   * handshake, or signed by a key another deployment negotiated with: nothing is recorded then).
   */
  async negotiate(peer: string): Promise<Agreement> {
    const offer = freshOffer(this.#service.offer, this.#options.identity, { audience: peer, nonce: randomBytes(16).toString("base64url") });
    let answered: { agreement: Agreement; theirs: ProtocolOffer };
    try {
      answered = await handshake(this.#options.connection, offer, peer, { timeoutMs: this.#options.timeoutMs ?? 2_000, keys: this.#options.keys, preferSigned: true, admit: (deployment, signer) => this.#book.admit(deployment, signer) });
    } catch (error) {
      // Recorded only when this side found the peer incompatible itself: a rejection the answer
      // states (`rejectedBy`) is outside the signed offer, and anyone answering first could state one.
      const signer = isOnexError(error) ? error.details.signer : undefined;
      if (isOnexError(error) && (error.code === ErrorCode.IncompatiblePeer || error.code === ErrorCode.SchemaHashMismatch) && typeof signer === "string" && error.details.rejectedBy === undefined) {
        this.#book.record(peer, error, signer);
      }
      throw error;
    }
    const { agreement, theirs } = answered;
    const signer = agreement.peer.signer;
    if (signer === undefined) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `"${peer}" answered without an offer a trusted key signed: nothing was agreed with it`, { peer });
    }
    // The answer's time (the peer's clock): an opening offer of its issued before it is no newer than this handshake.
    const issuedAt = parseRfc3339(theirs.issued_at);
    this.#book.record(peer, agreement, signer, Number.isFinite(issuedAt) ? issuedAt : undefined);
    return agreement;
  }

  /**
   * Forgets `peer`: its agreement or rejection, and the key it negotiated with, which nothing
   * else may replace while the node runs. For a peer that rotated its key: its next handshake,
   * signed with the new key, binds that one.
   */
  forget(peer: string): void {
    this.#book.forget(peer);
  }

  /**
   * Publishes `message`. With `to`, the message is for that peer: it travels in the agreed
   * version (converted here when that is not the message's own), it is refused here
   * (ONEX_E_NO_COUNTERPART, nothing published) when the peer's version cannot represent it,
   * and a peer not negotiated with is ONEX_E_INCOMPATIBLE_PEER. Without `to`, it is
   * published in its own version for everyone and the receipt lists the peers that cannot
   * read it, or must not (a version unused with them).
   */
  async publish(message: PublishableMessage, options: PublishOptions & { to?: string } = {}): Promise<FederatedReceipt> {
    const from = String((message.constructor as Partial<TransportMessageClass>).version ?? this.version);
    let outgoing = message;
    if (options.to !== undefined) {
      const agreement = this.#book.agreements.get(options.to);
      if (agreement === undefined) {
        const rejected = this.#book.rejections.get(options.to);
        throw new OnexError(
          ErrorCode.IncompatiblePeer,
          rejected ? `"${options.to}" was rejected: ${rejected.message}` : `no agreement with "${options.to}": negotiate with it first`,
          { peer: options.to },
          rejected ? { cause: rejected } : undefined,
        );
      }
      // The agreed version first: the peer is never sent one unused with it, whatever the message was written in.
      try {
        outgoing = this.#convert(message, from, agreement.version);
      } catch (error) {
        if (!isOnexError(error)) throw error;
        throw new OnexError(error.code, `not sent to "${options.to}": ${error.message}`, { peer: options.to, type: message.type, from, to: agreement.version }, { cause: error });
      }
      const refusal = refusalFor(this.#options.graph, message.type, agreement.version, agreement);
      if (refusal) throw new OnexError(refusal.code, `not sent to "${options.to}": ${refusal.message}`, { peer: options.to, type: message.type, from, to: refusal.version });
    }
    const sent = String((outgoing.constructor as Partial<TransportMessageClass>).version ?? from);
    const subject = outgoing.subject();
    const template = (outgoing.constructor as Partial<TransportMessageClass>).subjectTemplate?.key ?? "(unknown)";
    const refusedBy: PeerRefusal[] = [];
    for (const agreement of this.#book.agreements.values()) {
      const refusal = refusalFor(this.#options.graph, outgoing.type, sent, agreement) ?? unread(sent, agreement) ?? this.#unseen(outgoing.type, sent, template, subject, agreement);
      if (refusal) refusedBy.push(refusal);
    }
    const { to: _to, ...publishOptions } = options;
    const receipt = await this.#options.client.publish(outgoing, publishOptions);
    return { ...receipt, refusedBy };
  }

  /**
   * Subscribes to every message type of this node's version, from peers of every version,
   * converted to it. A message from a peer this node rejected, or in a version unused with
   * its peer, is refused (recorded, `onRefusal`, acknowledged for this consumer), never converted.
   */
  async subscribe(options: VersionedSubscribeOptions = {}): Promise<VersionedSubscription<SdkMessage<S>>> {
    const inner = await this.#options.client.subscribeVersioned({ sdk: this.#options.sdk, sources: this.#options.sources, graph: this.#options.graph }, options);
    const own: Refusal[] = [];
    const remember = Math.max(0, options.rememberRefusals ?? 1_000);
    let refused = 0;
    let failure: OnexError | undefined;
    const unlawful = (delivery: VersionedDelivery<unknown>) => this.#unlawful(delivery);
    async function* deliveries(): AsyncGenerator<VersionedDelivery<SdkMessage<S>>> {
      for await (const delivery of inner) {
        const refusal = unlawful(delivery);
        if (refusal === undefined) {
          yield delivery as VersionedDelivery<SdkMessage<S>>;
          continue;
        }
        refused++;
        own.push(refusal);
        if (own.length > remember) own.shift();
        await delivery.ack();
        callOnRefusal(options.onRefusal, refusal, (error) => {
          failure ??= error;
          void inner.stop();
        });
        if (failure !== undefined) break;
      }
      if (failure !== undefined) throw failure;
    }
    const iterator = deliveries();
    return {
      stream: inner.stream,
      consumer: inner.consumer,
      get stats() {
        return { ...inner.stats, delivered: inner.stats.delivered - refused, refused: inner.stats.refused + refused };
      },
      get refusals() {
        return [...inner.refusals, ...own];
      },
      [Symbol.asyncIterator]: () => iterator,
      async stop() {
        await inner.stop();
        await iterator.return(undefined);
      },
    };
  }

  /** Stops answering negotiation (the client stays open: it is the caller's). */
  async stop(): Promise<void> {
    await this.#service.stop();
  }

  /** Why a delivery breaks its sender's agreement (or rejection), or undefined when it does not. */
  #unlawful(delivery: VersionedDelivery<unknown>): Refusal | undefined {
    const peer = delivery.signer === undefined ? undefined : this.#book.deploymentOf(delivery.signer);
    if (peer === undefined) return undefined;
    const from = delivery.receivedVersion;
    const base = {
      type: String(delivery.original.type),
      fromVersion: from,
      toVersion: this.version,
      ...(typeof delivery.original.id === "string" ? { messageId: delivery.original.id } : {}),
      ...(delivery.signer ? { signer: delivery.signer } : {}),
      subject: delivery.subject,
      sequence: delivery.sequence,
    };
    const rejected = this.#book.rejections.get(peer);
    if (rejected !== undefined) return { ...base, code: rejected.code, message: `"${peer}" was rejected in negotiation (${rejected.code}): ${rejected.message}` };
    const agreement = this.#book.agreements.get(peer);
    if (agreement?.unused.includes(from)) {
      const flag = agreement.flags.find((f) => f.version === from);
      return { ...base, code: ErrorCode.SchemaHashMismatch, message: `v${from} is not used with "${peer}": ${flag?.message ?? "its schemas hash differently on the two sides"}` };
    }
    return undefined;
  }

  /**
   * Why a peer would never see a message published on `subject`: its version puts the type on
   * another subject template (v0.3 moving the signals to a template of their own, say), and a
   * versioned subscription reads its own version's templates. Sent `to` the peer, the message is
   * converted and published on the peer's subject instead.
   */
  #unseen(type: string, sent: string, template: string, subject: string, agreement: Agreement): PeerRefusal | undefined {
    const to = agreement.peer.version;
    const sdk = this.#sdkOf(to);
    const cls = sdk !== undefined && Object.hasOwn(sdk.messageClasses, type) ? sdk.messageClasses[type] : undefined;
    // A missing counterpart is refusalFor's to report; an SDK this node does not hold cannot be judged.
    if (cls === undefined) return undefined;
    try {
      cls.subjectTemplate.parse(subject);
      return undefined;
    } catch {
      return {
        peer: agreement.peer.deployment,
        version: to,
        code: ErrorCode.NoCounterpart,
        message: `message type "${type}" travels on subject template ${template} in v${sent}, and on ${cls.subjectTemplate.key} (${cls.subjectTemplate.template}) in v${to}, which "${agreement.peer.deployment}" reads: publish it with { to: "${agreement.peer.deployment}" } to reach it`,
      };
    }
  }

  /** The SDK of `version` among this node's own and its sources. */
  #sdkOf(version: string): ProtocolSdk | undefined {
    return [this.#options.sdk, ...this.#options.sources].find((s) => s.version === version);
  }

  /** `message` in version `to`, through the generated adapters (itself when already there). */
  #convert(message: PublishableMessage, from: string, to: string): PublishableMessage {
    if (from === to) return message;
    const sdk = this.#sdkOf(to);
    const cls = sdk?.messageClasses[message.type];
    if (cls === undefined) throw new OnexError(ErrorCode.NoCounterpart, `message type "${message.type}" has no class in v${to}, the version agreed for this peer`, { type: message.type, from, to });
    const data = migrateAlongGraph(this.#options.graph, (message as unknown as { toJSON(): JsonObject }).toJSON(), from, to);
    return cls.parse(data) as unknown as PublishableMessage;
  }
}

/**
 * Why a peer would refuse every message written in `sent`, whatever its type: it is newer than
 * the peer's version and not the one agreed with it, and the peer's adapters do not convert it
 * (not in `convertedBy`: a deployment on an older SDK, which has never heard of this node's
 * newer version). It has no path from `sent` (ONEX_E_NO_PATH here; the peer records such a
 * broadcast as ONEX_E_UNKNOWN_VERSION); sent `to` it, the message is converted here to the
 * agreed version instead. A version older than the peer's is one its SDK reads and converts up
 * (a message written in v0.1 broadcast between two v0.2 nodes, whose `convertedBy` is empty).
 */
function unread(sent: string, agreement: Agreement): PeerRefusal | undefined {
  const peer = agreement.peer.deployment;
  if (compareVersions(sent, agreement.peer.version) <= 0 || sent === agreement.version || agreement.convertedBy.includes(peer)) return undefined;
  return {
    peer,
    version: agreement.peer.version,
    code: ErrorCode.NoPath,
    // Not "publish it again": the converted copy has the same id, and the stream keeps one message per id.
    message: `"${peer}" does not read v${sent}: it is at v${agreement.peer.version} and its adapters do not convert v${sent}; publish messages for it with { to: "${peer}" } to reach it in v${agreement.version}`,
  };
}

/** Why a peer at `agreement.peer.version` cannot represent a `type` message of `from`, or undefined when it can. */
export function refusalFor(graph: VersionGraph, type: string, from: string, agreement: Agreement): PeerRefusal | undefined {
  const to = agreement.peer.version;
  if ((agreement.unused ?? []).includes(from)) {
    return { peer: agreement.peer.deployment, version: to, code: ErrorCode.SchemaHashMismatch, message: `v${from} is not used with "${agreement.peer.deployment}": its schemas hash differently on the two sides` };
  }
  if (to === from) return undefined;
  try {
    for (const { step, direction } of findMigrationPath(graph, from, to)) {
      if (step.pairs[type] === undefined) {
        const [source, target] = direction === "up" ? [step.older, step.newer] : [step.newer, step.older];
        return { peer: agreement.peer.deployment, version: to, code: ErrorCode.NoCounterpart, message: `message type "${type}" of v${source} has no counterpart in v${target} (peer speaks v${to})` };
      }
    }
    return undefined;
  } catch (error) {
    return { peer: agreement.peer.deployment, version: to, code: ErrorCode.NoPath, message: isOnexError(error) ? error.message : String(error) };
  }
}
