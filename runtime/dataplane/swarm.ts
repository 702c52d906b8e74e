/**
 * The swarm on the control plane: peers announce the artifacts they serve
 * (`event.artifact.announced`, carrying the signed descriptor), say which pieces they hold
 * (`signal.artifact.have`) and ask for artifacts (`signal.artifact.request`). Every message
 * is signed and judged by the trust policy like any other; descriptors are judged again on
 * their own (`judgeDescriptor`), because the announcing peer need not be the publisher:
 * any trusted peer may serve pieces, only a publisher granted the name may say what
 * `name@version` is.
 *
 * Nothing is decided by who speaks first. Every accepted descriptor of a `name@version` is
 * kept; two with different root hashes are a conflict, refused with both named, never a
 * silent choice. Refused announcements are kept apart and never hide an accepted one: they
 * only explain, when nothing acceptable arrived, what was refused and why.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { checkPositive } from "../option-check.js";
import type { PublishableMessage } from "../protocol-sdk.js";
import { MessageBuilder, type ServiceSdk } from "../service-messages.js";
import { createdAtOf, envelopeData } from "../trust/envelope.js";
import { LAST_RFC3339_TIME } from "../trust/rfc3339-time.js";
import type { ControlPlane, Subscription } from "../control-plane.js";
import type { TrustPolicy } from "../trust/policy.js";
import { Bitfield } from "./bitfield.js";
import { DATA_PLANE_TRUST_POLICY, judgeDescriptor, type ArtifactDescriptorRecord } from "./descriptor.js";
import type { PeerDirectory, PeerInfo } from "./fetcher.js";
import type { PublisherGrant } from "./publishers.js";


/** Payload of `event.artifact.announced`. */
export interface AnnouncedPayload {
  descriptor: ArtifactDescriptorRecord;
  peer_id: string;
  endpoint: string;
}

/** Payload of `signal.artifact.have`. */
export interface HavePayload {
  root_hash: string;
  peer_id: string;
  endpoint: string;
  bitfield: string;
  have: number;
  complete: boolean;
}

/** Payload of `signal.artifact.request`. */
export interface RequestPayload {
  peer_id: string;
  name?: string;
  version?: string;
  root_hash?: string;
  endpoint?: string;
}

/**
 * The SDK the swarm speaks (`import * as v0_2 from "@onex/sdk/v0.2"`: pass `v0_2`): any
 * generated version with `event.artifact.announced`, `signal.artifact.have` and
 * `signal.artifact.request`; the runtime never imports generated code.
 */
export type SwarmMessages = ServiceSdk;

/** The message types the swarm speaks: an SDK without one of them cannot carry a swarm. */
export const SWARM_MESSAGE_TYPES = ["event.artifact.announced", "signal.artifact.have", "signal.artifact.request"] as const;

/** How a peer joins the swarm of its zone. */
export interface SwarmOptions {
  client: ControlPlane;
  messages: SwarmMessages;
  /** This peer's node id: the source entity of its messages. */
  peerId: string;
  zone: string;
  /** Base URL of this peer's piece server. */
  endpoint: string;
  /** Placeholder for `trust.signer` until the client signs (it sets its own key id). */
  signer: string;
  /** Who may sign descriptors, for which names (serving pieces needs only a trusted message signer). */
  publishers: readonly PublisherGrant[];
  /** Applied to descriptors (default: `DATA_PLANE_TRUST_POLICY`, zone_match strict). */
  policy?: TrustPolicy;
  /** `trust.level` of this peer's messages (default `verified`): a level of the SDK's version. */
  level?: string;
  /** How long this peer's messages stay valid (default 10 minutes): more than 0 and finite, as `trust.expires_at` is a time. */
  trustTtlMs?: number;
  /** `have` messages of one artifact are sent at most this often (default 200 ms): a burst of pieces is one message. */
  haveIntervalMs?: number;
  /** Told about refused descriptors and failed publishes (default: console.warn). */
  logger?: { warn(message: string, details?: Record<string, unknown>): void };
}

/** An artifact as the swarm knows it. */
export interface KnownArtifact {
  descriptor: ArtifactDescriptorRecord;
  peers: PeerInfo[];
  /** Root hashes of other accepted descriptors of the same name@version: when not empty, none of them is fetched by name. */
  conflictsWith: string[];
}

/** A descriptor the swarm refused, and who announced it. */
export interface RefusedAnnouncement {
  rootHash: string;
  publisher: string;
  peerId: string;
  error: OnexError;
}

interface PeerRecord {
  peerId: string;
  /** The key that announced it (see #peer). */
  signer: string | undefined;
  endpoint: string;
  have: Bitfield | undefined;
  /** When the message that told us was created (ms since the epoch). */
  at: number;
}

/** Something this peer serves and answers requests for. */
interface Served {
  descriptor: ArtifactDescriptorRecord;
  have: Bitfield;
}

/** This peer's view of the zone's swarm, and its voice in it. */
export class Swarm implements PeerDirectory {
  readonly #o: SwarmOptions;
  /**
   * Accepted descriptors by name@version and root hash. One content may be published under
   * several names (two versions of one file, a publisher of other names copying it under its
   * own): kept by root hash alone, each such announcement replaced the one before, and the name
   * it replaced could no longer be fetched or listed.
   */
  readonly #descriptors = new Map<string, ArtifactDescriptorRecord>();
  /** One accepted descriptor of each root hash, to read have messages by: all list the same pieces (the root hash is their digest). */
  readonly #byRoot = new Map<string, ArtifactDescriptorRecord>();
  /** Refused descriptors by name@version, then root hash. */
  readonly #refused = new Map<string, Map<string, RefusedAnnouncement>>();
  /** Root hash -> peers serving it, each keyed by its id and the key that announced it (#peer). */
  readonly #peers = new Map<string, Map<string, PeerRecord>>();
  readonly #served = new Map<string, Served>();
  readonly #haveTimers = new Map<string, NodeJS.Timeout>();
  readonly #waiters = new Set<() => void>();
  /** This peer's own requests by message id, resolved when they come back through the stream. */
  readonly #echoes = new Map<string, () => void>();
  #subscription: Subscription<PublishableMessage> | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;

  readonly #announced: MessageBuilder;
  readonly #have: MessageBuilder;
  readonly #request: MessageBuilder;

  private constructor(options: SwarmOptions) {
    // Every message's `trust.expires_at` is now plus this: Infinity or NaN was a RangeError at the
    // first announcement (an invalid Date), after the swarm had joined. The schema requires a
    // time there, so there is no "never expires".
    checkPositive("Swarm", "trustTtlMs", options.trustTtlMs, { max: LAST_RFC3339_TIME - Date.now() });
    // A have interval of NaN or a negative one read as 0 (a have message per piece) without saying so; 0 asks for that.
    checkPositive("Swarm", "haveIntervalMs", options.haveIntervalMs, { finite: true, zero: true });
    this.#o = options;
    this.#announced = new MessageBuilder(options.messages, SWARM_MESSAGE_TYPES[0], "the swarm");
    this.#have = new MessageBuilder(options.messages, SWARM_MESSAGE_TYPES[1], "the swarm");
    this.#request = new MessageBuilder(options.messages, SWARM_MESSAGE_TYPES[2], "the swarm");
  }

  /**
   * Subscribes to the zone's swarm messages (from the start of the stream, so earlier
   * announcements count) and returns the swarm. Throws ONEX_E_SDK_MISMATCH when the SDK lacks
   * one of the three artifact message types.
   */
  static async join(options: SwarmOptions): Promise<Swarm> {
    const swarm = new Swarm(options);
    swarm.#subscription = (await options.client.subscribe([swarm.#announced.cls, swarm.#have.cls, swarm.#request.cls], { zone: options.zone, entityType: "node", deliver: "all" })) as unknown as Subscription<PublishableMessage>;
    swarm.#loop = swarm.#consume();
    return swarm;
  }

  /** Artifacts announced in the zone whose descriptors the policy accepts. */
  artifacts(): KnownArtifact[] {
    return [...this.#descriptors.values()].map((descriptor) => ({
      descriptor,
      peers: this.peersOf(descriptor.root_hash),
      conflictsWith: this.#accepted(descriptor.name, descriptor.version)
        .map((d) => d.root_hash)
        .filter((h) => h !== descriptor.root_hash),
    }));
  }

  /** The control-plane consumer the swarm reads through (where a message it refused is dead-lettered). */
  get consumer(): string | undefined {
    return this.#subscription?.consumer;
  }

  /** Announcements of `name@version` whose descriptors were refused, and why. */
  refusedOf(name: string, version: string): RefusedAnnouncement[] {
    return [...(this.#refused.get(refKey(name, version))?.values() ?? [])];
  }

  /** Peers serving the artifact, with the pieces they last said they hold. */
  peersOf(rootHash: string): PeerInfo[] {
    const peers = this.#peers.get(rootHash);
    if (!peers) return [];
    return [...peers.values()].map((p) => ({ peerId: p.peerId, endpoint: p.endpoint, ...(p.signer === undefined ? {} : { signer: p.signer }), ...(p.have ? { have: p.have } : {}) }));
  }

  /**
   * The accepted descriptor of `name@version`, waiting up to `timeoutMs` for an announcement
   * (and asking the swarm with `signal.artifact.request`). ONEX_E_DESCRIPTOR_INVALID when two
   * accepted descriptors disagree (a conflict: both root hashes named), or when the deadline
   * passes with only refused descriptors announced (each named with why); ONEX_E_NO_PEERS
   * when nothing was announced at all. An abort of `signal` (Ctrl-C in `onex artifact fetch`)
   * ends the wait at once with ONEX_E_ARTIFACT_INCOMPLETE.
   */
  async descriptorOf(name: string, version: string, timeoutMs = 10_000, signal?: AbortSignal): Promise<ArtifactDescriptorRecord> {
    // Before the request goes out: NaN set a deadline no time reaches, polled every millisecond.
    checkPositive("Swarm.descriptorOf", "timeoutMs", timeoutMs);
    const deadline = Date.now() + timeoutMs;
    // Our own request comes back through the stream after everything announced before it, so once
    // it is back every earlier announcement has been judged: a conflict cannot hide behind a race.
    // It is awaited from before it is published: it can come back before the publish is
    // acknowledged, and an echo missed would hold the fetch until the deadline.
    let caughtUp = false;
    const request = this.#message(this.#request, { peer_id: this.#o.peerId, name, version, endpoint: this.#o.endpoint });
    const id = (request as unknown as { id: string }).id;
    void this.#echo(id).then(() => (caughtUp = true));
    // The wait wakes on an abort as on an announcement: it polled only its deadline, and a fetch
    // given a long --timeout could be stopped by SIGKILL alone.
    const wake = () => this.#notify();
    signal?.addEventListener("abort", wake);
    try {
      await this.#o.client.publish(request);
      return await this.#decide(name, version, deadline, () => caughtUp, signal);
    } finally {
      this.#echoes.delete(id);
      signal?.removeEventListener("abort", wake);
    }
  }

  async #decide(name: string, version: string, deadline: number, caughtUp: () => boolean, signal: AbortSignal | undefined): Promise<ArtifactDescriptorRecord> {
    for (;;) {
      if (signal?.aborted) {
        throw new OnexError(ErrorCode.ArtifactIncomplete, `fetch of ${name}@${version} interrupted while waiting for its announcement; nothing was written`, { name, version }, { cause: signal.reason });
      }
      const accepted = this.#accepted(name, version);
      if (accepted.length > 1) throw conflict(name, version, accepted);
      if (accepted.length === 1 && caughtUp()) return accepted[0]!;
      if (Date.now() >= deadline) {
        if (accepted.length === 1) return accepted[0]!;
        const refused = this.refusedOf(name, version);
        if (refused.length > 0) throw refusedOnly(name, version, refused);
        throw new OnexError(ErrorCode.NoPeers, `no peer in zone ${this.#o.zone} announced ${name}@${version}`, { name, version, zone: this.#o.zone });
      }
      await this.#changed(Math.min(500, deadline - Date.now()));
    }
  }

  /** Announces that this peer serves `have` of `descriptor`'s pieces, and answers requests for it from now on. */
  async announce(descriptor: ArtifactDescriptorRecord, have: Bitfield): Promise<void> {
    this.#served.set(descriptor.root_hash, { descriptor, have });
    await this.#publish(this.#announced, { descriptor, peer_id: this.#o.peerId, endpoint: this.#o.endpoint });
    await this.publishHave(descriptor.root_hash);
  }

  /** Stops answering for an artifact (its file went away). */
  withdraw(rootHash: string): void {
    this.#served.delete(rootHash);
  }

  /** Says which pieces of a served artifact this peer holds, now. */
  async publishHave(rootHash: string): Promise<void> {
    const served = this.#served.get(rootHash);
    if (!served || this.#stopped) return;
    const timer = this.#haveTimers.get(rootHash);
    if (timer) clearTimeout(timer);
    this.#haveTimers.delete(rootHash);
    await this.#publish(this.#have, {
      root_hash: rootHash,
      peer_id: this.#o.peerId,
      endpoint: this.#o.endpoint,
      bitfield: served.have.toBase64url(),
      have: served.have.count,
      complete: served.have.complete,
    });
  }

  /** Schedules a `have` message soon: pieces verified close together share one message. */
  noteHave(rootHash: string): void {
    if (this.#haveTimers.has(rootHash) || this.#stopped) return;
    const served = this.#served.get(rootHash);
    // The last piece is announced at once: peers waiting on a complete copy need not wait the interval.
    const delay = served?.have.complete ? 0 : (this.#o.haveIntervalMs ?? 200);
    this.#haveTimers.set(
      rootHash,
      setTimeout(() => {
        this.#haveTimers.delete(rootHash);
        void this.publishHave(rootHash).catch((error: unknown) => this.#warn("have not published", error));
      }, delay),
    );
  }

  /** Asks the zone for an artifact; peers holding it answer with `have`. Returns the request's message id. */
  async request(query: { name: string; version: string } | { rootHash: string }): Promise<string> {
    const payload: RequestPayload = "rootHash" in query ? { peer_id: this.#o.peerId, root_hash: query.rootHash } : { peer_id: this.#o.peerId, name: query.name, version: query.version };
    return this.#publish(this.#request, { ...payload, endpoint: this.#o.endpoint });
  }

  /** Leaves the swarm: stops the subscription and pending `have` messages. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#haveTimers.values()) clearTimeout(timer);
    this.#haveTimers.clear();
    await this.#subscription?.stop().catch(() => undefined);
    await this.#loop?.catch(() => undefined);
  }

  /** Every accepted descriptor of `name@version`, by root hash order. */
  #accepted(name: string, version: string): ArtifactDescriptorRecord[] {
    return [...this.#descriptors.values()].filter((d) => d.name === name && d.version === version).sort((a, b) => (a.root_hash < b.root_hash ? -1 : 1));
  }

  async #consume(): Promise<void> {
    const sub = this.#subscription!;
    try {
      for await (const delivery of sub) {
        const message = delivery.message as unknown as { id: string; type: string; payload: unknown };
        const echoed = this.#echoes.get(message.id);
        if (echoed) {
          this.#echoes.delete(message.id);
          echoed();
        }
        try {
          this.#handle(message, delivery.signer ?? (message as { trust?: { signer?: string } }).trust?.signer);
        } catch (error) {
          this.#warn(`swarm message ${message.type} ignored`, error);
        }
        void delivery.ack();
        this.#notify();
      }
    } catch (error) {
      if (!this.#stopped) this.#warn("swarm subscription ended", error);
    }
  }

  #handle(delivered: { type: string; payload: unknown }, signer: string | undefined): void {
    // Where the creation time is depends on the version: its generated envelope layout says.
    const at = createdAtOf(envelopeData(delivered));
    // In the version the swarm reads (another one, when its SDK came through convertingSdk).
    const builder = [this.#announced, this.#have, this.#request].find((b) => b.cls.type === delivered.type);
    if (builder === undefined) return;
    const message = builder.read(delivered) as { type: string; payload: unknown };
    if (message.type === this.#announced.cls.type) {
      const p = message.payload as AnnouncedPayload;
      const verdict = judgeDescriptor(p.descriptor, { publishers: this.#o.publishers, zone: this.#o.zone, ...(this.#o.logger ? { logger: { warn: (t, d) => this.#o.logger!.warn(t, d) } } : {}) }, this.#o.policy ?? DATA_PLANE_TRUST_POLICY);
      if (!verdict.accepted) {
        const d = p.descriptor as Partial<ArtifactDescriptorRecord>;
        const key = refKey(String(d.name), String(d.version));
        if (!this.#refused.has(key)) this.#refused.set(key, new Map());
        this.#refused.get(key)!.set(String(d.root_hash), { rootHash: String(d.root_hash), publisher: String(d.publisher), peerId: p.peer_id, error: verdict.rejection! });
        this.#warn(`descriptor of ${String(d.name)}@${String(d.version)} (${String(d.root_hash)}) from peer ${p.peer_id} refused`, verdict.rejection);
        return;
      }
      const rivals = this.#accepted(p.descriptor.name, p.descriptor.version).filter((d) => d.root_hash !== p.descriptor.root_hash);
      if (rivals.length > 0) this.#warn(`peer ${p.peer_id} announced ${p.descriptor.name}@${p.descriptor.version}`, conflict(p.descriptor.name, p.descriptor.version, [...rivals, p.descriptor]));
      this.#descriptors.set(`${refKey(p.descriptor.name, p.descriptor.version)}\u0000${p.descriptor.root_hash}`, p.descriptor);
      if (!this.#byRoot.has(p.descriptor.root_hash)) this.#byRoot.set(p.descriptor.root_hash, p.descriptor);
      if (p.peer_id !== this.#o.peerId) this.#peer(p.descriptor.root_hash, p.peer_id, signer, p.endpoint, at);
      return;
    }
    if (message.type === this.#have.cls.type) {
      const p = message.payload as HavePayload;
      const descriptor = this.#byRoot.get(p.root_hash);
      // Pieces of an artifact without an accepted descriptor cannot be checked; ignore them.
      if (!descriptor || p.peer_id === this.#o.peerId) return;
      const record = this.#peer(p.root_hash, p.peer_id, signer, p.endpoint, at);
      if (record) record.have = Bitfield.fromBase64url(p.bitfield, descriptor.pieces.length);
      return;
    }
    if (message.type === this.#request.cls.type) {
      const p = message.payload as RequestPayload;
      if (p.peer_id === this.#o.peerId) return;
      for (const served of this.#served.values()) {
        const wanted = p.root_hash !== undefined ? served.descriptor.root_hash === p.root_hash : served.descriptor.name === p.name && served.descriptor.version === p.version;
        if (wanted) this.noteHave(served.descriptor.root_hash);
      }
    }
  }

  /**
   * The record of a peer, updated unless the message is older than what we know. A peer is its
   * id as announced by one key: a peer id is chosen by its sender, so another trusted key
   * announcing the same id (at an endpoint that does not answer, say) is another peer, and
   * cannot move this one's endpoint or stand in for it.
   */
  #peer(rootHash: string, peerId: string, signer: string | undefined, endpoint: string, at: number): PeerRecord | undefined {
    let peers = this.#peers.get(rootHash);
    if (!peers) this.#peers.set(rootHash, (peers = new Map()));
    const key = `${peerId}\n${signer ?? ""}`;
    const known = peers.get(key);
    if (known && known.at > at) return undefined;
    const record: PeerRecord = { peerId, signer, endpoint, have: known?.endpoint === endpoint ? known.have : undefined, at };
    peers.set(key, record);
    return record;
  }

  /** Resolves when this peer's message `id` is delivered back to it. */
  #echo(id: string): Promise<void> {
    return new Promise((resolve) => this.#echoes.set(id, resolve));
  }

  async #publish(builder: MessageBuilder, payload: object): Promise<string> {
    const message = this.#message(builder, payload);
    await this.#o.client.publish(message);
    return (message as unknown as { id: string }).id;
  }

  #message(builder: MessageBuilder, payload: object): PublishableMessage {
    return builder.build(
      { zone: this.#o.zone, entityType: "node", entityId: this.#o.peerId },
      { signer: this.#o.signer, level: this.#o.level ?? "verified", zone: this.#o.zone, expires_at: new Date(Date.now() + (this.#o.trustTtlMs ?? 600_000)).toISOString() },
      [payload],
    );
  }

  #changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #warn(text: string, error: unknown): void {
    const detail = error instanceof OnexError ? `${error.code}: ${error.message}` : String((error as Error)?.message ?? error);
    (this.#o.logger ?? console).warn(`onex swarm: ${text}: ${detail}`, {});
  }
}

function refKey(name: string, version: string): string {
  return `${name}\u0000${version}`;
}

/** Two accepted descriptors name one name@version: neither is used, and both are named. */
function conflict(name: string, version: string, descriptors: readonly ArtifactDescriptorRecord[]): OnexError {
  const listed = descriptors.map((d) => `${d.root_hash} (publisher ${d.publisher}, published ${d.published_at})`).join(" and ");
  return new OnexError(
    ErrorCode.DescriptorInvalid,
    `conflicting descriptors for ${name}@${version}: ${listed}; one name and version must mean one content, so neither is fetched. Fetch by root hash, or have the publisher withdraw one`,
    { name, version, reason: "conflict", root_hashes: descriptors.map((d) => d.root_hash), publishers: descriptors.map((d) => d.publisher) },
  );
}

/** Nothing acceptable arrived, only refused descriptors: say which and why. */
function refusedOnly(name: string, version: string, refused: readonly RefusedAnnouncement[]): OnexError {
  const listed = refused.map((r) => `${r.rootHash} signed by ${r.publisher}, announced by peer ${r.peerId}: ${r.error.message}`).join("; ");
  const first = refused[0]!.error;
  return new OnexError(ErrorCode.DescriptorInvalid, `every descriptor announced for ${name}@${version} was refused: ${listed}`, {
    ...first.details,
    name,
    version,
    refused: refused.map((r) => ({ root_hash: r.rootHash, publisher: r.publisher, peer_id: r.peerId, code: r.error.code, reason: r.error.details.reason })),
  }, { cause: first });
}
