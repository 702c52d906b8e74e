/**
 * A deployment taking part in a federation: it serves its negotiation endpoint, negotiates
 * with each peer once, publishes in its own version while refusing — at the sender — what a
 * named peer cannot represent, and receives every version in its own through the
 * version-aware subscription.
 *
 * Each side converts what it receives (the receiver knows which version it wants), so one
 * message in the shared stream serves peers of every version; the agreements decide which
 * peers are talked to at all, and what each of them can be sent.
 */
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ControlPlane, PublishOptions, PublishReceipt, VersionedSubscribeOptions, VersionedSubscription } from "../control-plane.js";
import type { ProtocolSdk, PublishableMessage, TransportMessageClass } from "../protocol-sdk.js";
import { findMigrationPath, type VersionGraph } from "../transform.js";
import type { Agreement, ProtocolBlock } from "./agreement.js";
import { negotiate } from "./handshake.js";
import { serveNegotiation, type NegotiationService } from "./negotiation-service.js";
import type { SchemaIndex } from "./schema-index.js";

/** A generated SDK module with its protocol declaration (`import * as v0_2 from "onex/v0.2"`). */
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
  /** Handshake timeout; default 2 s. */
  timeoutMs?: number;
}

/** A peer that will not receive a published message, and why. */
export interface PeerRefusal {
  peer: string;
  version: string;
  code: typeof ErrorCode.NoCounterpart | typeof ErrorCode.NoPath;
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
  readonly #agreements = new Map<string, Agreement>();
  readonly #rejections = new Map<string, OnexError>();

  private constructor(options: FederationNodeOptions<S>) {
    this.#options = options;
    this.#service = serveNegotiation(options.connection, {
      deployment: options.deployment,
      protocol: options.sdk.protocolBlock(),
      indexes: options.indexes,
      graph: options.graph,
      // A peer that opened the handshake is as negotiated as one we opened it with.
      onHandshake: (peer, outcome) => {
        if (isOnexError(outcome)) this.#rejections.set(peer, outcome);
        else this.#agreements.set(peer, outcome);
      },
    });
  }

  /** Starts serving negotiation for `options.deployment` and returns the node. */
  static async start<S extends NegotiatingSdk>(options: FederationNodeOptions<S>): Promise<FederationNode<S>> {
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
    return this.#agreements;
  }

  /** Peers rejected (by either side), by deployment. */
  get rejections(): ReadonlyMap<string, OnexError> {
    return this.#rejections;
  }

  /**
   * Handshakes with `peer` and records the outcome. Throws ONEX_E_INCOMPATIBLE_PEER,
   * ONEX_E_SCHEMA_HASH_MISMATCH, ONEX_E_NEGOTIATION_TIMEOUT or ONEX_E_NEGOTIATION_INVALID.
   */
  async negotiate(peer: string): Promise<Agreement> {
    try {
      const agreement = await negotiate(this.#options.connection, this.#service.offer, peer, { timeoutMs: this.#options.timeoutMs ?? 2_000 });
      this.#agreements.set(peer, agreement);
      this.#rejections.delete(peer);
      return agreement;
    } catch (error) {
      if (isOnexError(error) && (error.code === ErrorCode.IncompatiblePeer || error.code === ErrorCode.SchemaHashMismatch)) {
        this.#rejections.set(peer, error);
        this.#agreements.delete(peer);
      }
      throw error;
    }
  }

  /**
   * Publishes `message` in its own version. With `to`, the message is for that peer: it is
   * refused here (ONEX_E_NO_COUNTERPART, nothing published) when the peer's version cannot
   * represent it, and a peer not negotiated with is ONEX_E_INCOMPATIBLE_PEER. Without `to`,
   * it is published for everyone and the receipt lists the peers that cannot read it.
   */
  async publish(message: PublishableMessage, options: PublishOptions & { to?: string } = {}): Promise<FederatedReceipt> {
    const from = String((message.constructor as Partial<TransportMessageClass>).version ?? this.version);
    if (options.to !== undefined) {
      const agreement = this.#agreements.get(options.to);
      if (agreement === undefined) {
        const rejected = this.#rejections.get(options.to);
        throw new OnexError(
          ErrorCode.IncompatiblePeer,
          rejected ? `"${options.to}" was rejected: ${rejected.message}` : `no agreement with "${options.to}": negotiate with it first`,
          { peer: options.to },
          rejected ? { cause: rejected } : undefined,
        );
      }
      const refusal = refusalFor(this.#options.graph, message.type, from, agreement);
      if (refusal) throw new OnexError(refusal.code, `not sent to "${options.to}": ${refusal.message}`, { peer: options.to, type: message.type, from, to: refusal.version });
    }
    const refusedBy: PeerRefusal[] = [];
    for (const agreement of this.#agreements.values()) {
      const refusal = refusalFor(this.#options.graph, message.type, from, agreement);
      if (refusal) refusedBy.push(refusal);
    }
    const { to: _to, ...publishOptions } = options;
    const receipt = await this.#options.client.publish(message, publishOptions);
    return { ...receipt, refusedBy };
  }

  /** Subscribes to every message type of this node's version, from peers of every version, converted to it. */
  subscribe(options: VersionedSubscribeOptions = {}): Promise<VersionedSubscription<SdkMessage<S>>> {
    // The subscription parses with this node's SDK classes, so its messages are that SDK's.
    return this.#options.client.subscribeVersioned({ sdk: this.#options.sdk, sources: this.#options.sources, graph: this.#options.graph }, options) as Promise<
      VersionedSubscription<SdkMessage<S>>
    >;
  }

  /** Stops answering negotiation (the client stays open: it is the caller's). */
  async stop(): Promise<void> {
    await this.#service.stop();
  }
}

/** Why a peer at `agreement.peer.version` cannot represent a `type` message of `from`, or undefined when it can. */
export function refusalFor(graph: VersionGraph, type: string, from: string, agreement: Agreement): PeerRefusal | undefined {
  const to = agreement.peer.version;
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
