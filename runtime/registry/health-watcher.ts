/**
 * The health watcher: follows a registry and puts what it sees on the control plane —
 * `event.node.failed` when a node's TTL lapses without a heartbeat (once per registration),
 * and `event.node.register` when a node joins — published by a control-plane client that
 * signs with the watcher's own key, so receivers know which watcher saw it.
 *
 * It publishes through the control plane it is given (`client`), which signs what it
 * publishes: a deployment passes a client whose identity is the watcher's key. Message
 * classes are injected too (`messages: v0_1` from the generated SDK), because the runtime
 * never imports generated code.
 */
import type { ControlPlane } from "../control-plane.js";
import type { PublishableMessage } from "../protocol-sdk.js";
import type { KeyPair } from "../trust/keys.js";
import { parseAddress } from "./address.js";
import type { Registry, RegistryChange, ResolvedEntry } from "./registry.js";

type Source = { zone: string; entity_type: "node" | "agent" | "session" | "task"; entity_id: string };
type Trust = { signer: string; level: "untrusted" | "basic" | "verified" | "trusted"; zone: string; expires_at: string };

/** The control-plane message classes the watcher builds; the generated v0.1 SDK module fits. */
export interface ControlPlaneMessages {
  NodeFailed: { create(input: { source: Source; trust: Trust; payload: { node_id: string; reason: string; severity: "warning" | "error" | "fatal" } }): PublishableMessage };
  NodeRegister: { create(input: { source: Source; trust: Trust; payload: { node_id: string; address: string; build_fingerprint: string; capabilities: string[] } }): PublishableMessage };
}

/** How a health watcher is wired. */
export interface HealthWatcherOptions {
  registry: Registry;
  /** The watcher's key: announcements name it as signer, and the client that publishes them signs with it. */
  key: KeyPair;
  /** The watcher's canonical address (`onex://<zone>/node/<id>`): the source of its announcements. */
  address: string;
  /** The zone whose nodes it watches (default: its own). */
  zone?: string;
  messages: ControlPlaneMessages;
  /** Signs and publishes the announcements (a client whose identity is `key`). */
  client: ControlPlane;
  /** `trust.level` of announcements (default `verified`). */
  level?: Trust["level"];
  /** How long an announcement's trust is valid (default 5 minutes). */
  trustTtlMs?: number;
  /** Told when publishing fails (after the client's own retries); the announcement is dropped (default: console.warn). */
  onError?(error: unknown, message: PublishableMessage): void;
}

/** Watches a zone and announces node failures and joins. */
export class HealthWatcher {
  readonly #options: HealthWatcherOptions;
  readonly #source: Source;
  // Registrations already announced as failed, so a failure is announced once however often it is seen.
  readonly #failed = new Set<string>();
  // The registration each address is known to be alive under: one a node's heartbeat merely
  // restores (after a store writer tampered with it) is not a join.
  readonly #alive = new Map<string, string>();
  #changes: AsyncIterableIterator<RegistryChange> | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: HealthWatcherOptions) {
    this.#options = options;
    const self = parseAddress(options.address);
    this.#source = { zone: self.zone, entity_type: self.entityType, entity_id: self.id };
  }

  /** Starts watching; the nodes already registered are known but not announced. */
  start(): void {
    if (this.#changes) return;
    this.#changes = this.#options.registry.watch({ zone: this.#options.zone ?? this.#source.zone, entityType: "node" });
    this.#loop = this.#run(this.#changes);
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    await this.#changes?.return?.();
    await this.#loop;
    this.#changes = undefined;
  }

  async #run(changes: AsyncIterableIterator<RegistryChange>): Promise<void> {
    for await (const change of changes) {
      if (change.kind === "expired" && change.last) await this.#nodeFailed(change.last);
      else if (change.kind === "registered" && change.initial) this.#alive.set(change.address, change.entry.entry.registered_at);
      else if (change.kind === "registered") await this.#nodeJoined(change.entry);
      else if (change.kind === "deregistered") this.#alive.delete(change.address);
    }
  }

  async #nodeFailed(last: ResolvedEntry): Promise<void> {
    const once = `${last.address}\u0000${last.entry.registered_at}`;
    this.#alive.delete(last.address);
    if (this.#failed.has(once)) return;
    this.#failed.add(once);
    const reason = `no heartbeat within the registry TTL of ${this.#options.registry.ttlMs} ms (seen by ${this.#options.address})`;
    await this.#send(this.#options.messages.NodeFailed.create({ source: this.#source, trust: this.#trust(), payload: { node_id: last.entry.node_id, reason, severity: "error" } }));
  }

  async #nodeJoined(entry: ResolvedEntry): Promise<void> {
    if (this.#alive.get(entry.address) === entry.entry.registered_at) return;
    this.#alive.set(entry.address, entry.entry.registered_at);
    // A node that comes back under the same registration after a failure may fail again later.
    this.#failed.delete(`${entry.address}\u0000${entry.entry.registered_at}`);
    await this.#send(
      this.#options.messages.NodeRegister.create({
        source: this.#source,
        trust: this.#trust(),
        payload: { node_id: entry.entry.node_id, address: entry.address, build_fingerprint: entry.identity.build_fingerprint, capabilities: entry.entry.capabilities ?? [] },
      }),
    );
  }

  #trust(): Trust {
    // The publishing client sets signer to its own key id when it signs; the schema requires the field now.
    return { signer: this.#options.key.keyId, level: this.#options.level ?? "verified", zone: this.#source.zone, expires_at: new Date(Date.now() + (this.#options.trustTtlMs ?? 300_000)).toISOString() };
  }

  async #send(message: PublishableMessage): Promise<void> {
    try {
      await this.#options.client.publish(message);
    } catch (error) {
      if (this.#options.onError) this.#options.onError(error, message);
      else console.warn(`onex registry: announcing ${message.type} failed: ${(error as Error).message}`);
    }
  }
}
