/**
 * The health watcher: follows a registry and puts what it sees on the control plane —
 * `event.node.failed` when a node's TTL lapses without a heartbeat (once per registration),
 * and `event.node.register` when a node joins — published by a control-plane client that
 * signs with the watcher's own key, so receivers know which watcher saw it.
 *
 * It publishes through the control plane it is given (`client`), which signs what it
 * publishes: a deployment passes a client whose identity is the watcher's key. The messages
 * are built with the SDK it is given (`messages: v0_2`, any generated version with
 * `event.node.failed` and `event.node.register`), because the runtime never imports
 * generated code: the envelope is laid out as that version's generated layout says, and the
 * payload takes the shape that version's schema has (a failure reason as a string, or as
 * `{message, code}`; a build fingerprint flat, or in a `build` object).
 */
import type { ControlPlane } from "../control-plane.js";
import type { PublishableMessage } from "../protocol-sdk.js";
import { MessageBuilder, type ServiceSdk, type TrustInit } from "../service-messages.js";
import type { EnvelopeSource } from "../trust/envelope.js";
import type { KeyPair } from "../trust/keys.js";
import { LAST_RFC3339_TIME } from "../trust/rfc3339-time.js";
import { parseAddress } from "./address.js";
import { forgetOldest } from "../forget-oldest.js";
import { checkFunction, checkObject, checkPositive } from "../option-check.js";
import type { Registry, RegistryChange, ResolvedEntry } from "./registry.js";

/** Addresses whose announced failure is remembered (one a node whose id changes at every start leaves behind). */
const FAILED_REMEMBERED = 100_000;

/** The SDK the watcher builds its announcements with: any generated version module with `event.node.failed` and `event.node.register`. */
export type ControlPlaneMessages = ServiceSdk;

/** The `reason.code` of a failure announced for a lapsed TTL, in versions whose reason is structured. */
export const HEARTBEAT_LAPSED = "heartbeat_lapsed";

/** How a health watcher is wired. */
export interface HealthWatcherOptions {
  registry: Registry;
  /** The watcher's key: announcements name it as signer, and the client that publishes them signs with it. */
  key: KeyPair;
  /** The watcher's canonical address (`onex://<zone>/node/<id>`): the source of its announcements. */
  address: string;
  /** The zone whose nodes it watches (default: its own). */
  zone?: string;
  /** The SDK of the version announcements are written in (`import * as v0_2 from "@onex/sdk/v0.2"`). */
  messages: ControlPlaneMessages;
  /** Signs and publishes the announcements (a client whose identity is `key`). */
  client: ControlPlane;
  /** `trust.level` of announcements (default `verified`): a level of the SDK's version. */
  level?: string;
  /** How long an announcement's trust is valid (default 5 minutes): more than 0 and finite, as `trust.expires_at` is a time. */
  trustTtlMs?: number;
  /**
   * Told when publishing fails (after the client's own retries), the announcement dropped, and when
   * the registry's watch fails, which ends the watcher, `message` undefined (default: console.warn).
   * What it throws is logged with console.warn; the watcher carries on.
   */
  onError?(error: unknown, message: PublishableMessage | undefined): void;
}

/** Watches a zone and announces node failures and joins. */
export class HealthWatcher {
  readonly #options: HealthWatcherOptions;
  readonly #source: EnvelopeSource;
  readonly #failureMessage: MessageBuilder;
  readonly #joinMessage: MessageBuilder;
  // The registration announced as failed per address, so a failure is announced once however
  // often it is seen; the addresses not heard of for longest are forgotten past FAILED_REMEMBERED.
  readonly #failed = new Map<string, string>();
  // The registration each address is known to be alive under: one a node's heartbeat merely
  // restores (after a store writer tampered with it) is not a join.
  readonly #alive = new Map<string, string>();
  #changes: AsyncIterableIterator<RegistryChange> | undefined;
  #loop: Promise<void> | undefined;

  /** Throws ONEX_E_SDK_MISMATCH when `messages` lacks `event.node.failed` or `event.node.register`, ONEX_E_USAGE for a `trustTtlMs` that is not a finite number above 0, or a registry, client or onError it cannot call. */
  constructor(options: HealthWatcherOptions) {
    // Each announcement's `trust.expires_at` is now plus this: Infinity or NaN was a RangeError
    // (an invalid Date) for every announcement, each reported to onError and dropped. The schema
    // requires a time there, so there is no "never expires".
    checkObject("HealthWatcher", "options", options, { required: true });
    checkPositive("HealthWatcher", "trustTtlMs", options.trustTtlMs, { max: LAST_RFC3339_TIME - Date.now() });
    this.#options = options;
    const self = parseAddress(options.address);
    this.#source = { zone: self.zone, entityType: self.entityType, entityId: self.id };
    this.#failureMessage = new MessageBuilder(options.messages, "event.node.failed", "the health watcher");
    this.#joinMessage = new MessageBuilder(options.messages, "event.node.register", "the health watcher");
    // Without them the watcher failed later: start() as a raw TypeError, every announcement dropped to onError.
    checkFunction("HealthWatcher", "registry.watch", (options.registry as Partial<Registry> | undefined)?.watch);
    checkFunction("HealthWatcher", "client.publish", (options.client as Partial<ControlPlane> | undefined)?.publish);
    if (options.onError !== undefined) checkFunction("HealthWatcher", "onError", options.onError);
  }

  /** Starts watching; the nodes already registered are known but not announced. Again after `stop()`, or after its watch failed, it watches anew. */
  start(): void {
    if (this.#changes) return;
    const changes = this.#options.registry.watch({ zone: this.#options.zone ?? this.#source.zone, entityType: "node" });
    this.#changes = changes;
    this.#loop = this.#run(changes);
  }

  /** Stops watching; resolves (never rejects) once the last announcement under way is done. */
  async stop(): Promise<void> {
    await this.#changes?.return?.();
    await this.#loop;
    this.#changes = undefined;
  }

  async #run(changes: AsyncIterableIterator<RegistryChange>): Promise<void> {
    try {
      for await (const change of changes) {
        if (change.kind === "expired") await this.#nodeFailed(change.address, change.last);
        else if (change.kind === "registered" && change.initial) this.#alive.set(change.address, change.entry.entry.registered_at);
        else if (change.kind === "registered") await this.#nodeJoined(change.entry);
        else if (change.kind === "deregistered") this.#alive.delete(change.address);
      }
    } catch (error) {
      // Nobody awaits this loop until stop(): a failed watch (an onTampered that throws, a user who
      // may not create the watch's consumer) rejected it unhandled, which ends a Node process, and
      // the watcher went silent with no one told. It is told to onError, and start() may watch anew.
      if (this.#changes === changes) this.#changes = undefined;
      this.#report(error, undefined, `onex registry: the health watcher's watch failed, and it announces nothing until started again: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  /**
   * A lapse comes with the last entry the watch verified there, or without one when the last bytes
   * stored there did not verify (a store writer's, which a live node's heartbeat replaces within the
   * TTL): a node known alive is announced all the same, by its address's id (a node's id), and
   * forgotten either way.
   */
  async #nodeFailed(address: string, last: ResolvedEntry | undefined): Promise<void> {
    const registeredAt = last?.entry.registered_at ?? this.#alive.get(address);
    this.#alive.delete(address);
    if (registeredAt === undefined || this.#failed.get(address) === registeredAt) return;
    this.#failed.delete(address);
    this.#failed.set(address, registeredAt);
    if (this.#failed.size > FAILED_REMEMBERED) forgetOldest(this.#failed);
    const reason = `no heartbeat within the registry TTL of ${this.#options.registry.ttlMs} ms (seen by ${this.#options.address})`;
    const payload = { node_id: last?.entry.node_id ?? parseAddress(address).id, severity: "error" };
    await this.#send(() => this.#failureMessage.build(this.#source, this.#trust(), [{ ...payload, reason }, { ...payload, reason: { message: reason, code: HEARTBEAT_LAPSED } }]));
  }

  async #nodeJoined(entry: ResolvedEntry): Promise<void> {
    if (this.#alive.get(entry.address) === entry.entry.registered_at) return;
    this.#alive.set(entry.address, entry.entry.registered_at);
    // A node that comes back after a failure (under the same registration or a new one) may fail again later.
    this.#failed.delete(entry.address);
    const payload = { node_id: entry.entry.node_id, address: entry.address, capabilities: entry.entry.capabilities ?? [] };
    const fingerprint = entry.identity.build_fingerprint;
    // The registry knows a node's build by its fingerprint only; "unknown" is the schema's default version.
    await this.#send(() => this.#joinMessage.build(this.#source, this.#trust(), [{ ...payload, build_fingerprint: fingerprint }, { ...payload, build: { fingerprint, version: "unknown" } }]));
  }

  #trust(): TrustInit {
    // The publishing client sets signer to its own key id when it signs; the schema requires the field now.
    return { signer: this.#options.key.keyId, level: this.#options.level ?? "verified", zone: this.#source.zone, expires_at: new Date(Date.now() + (this.#options.trustTtlMs ?? 300_000)).toISOString() };
  }

  async #send(build: () => PublishableMessage): Promise<void> {
    let message: PublishableMessage | undefined;
    try {
      message = build();
      await this.#options.client.publish(message);
    } catch (error) {
      this.#report(error, message, `onex registry: announcing ${message?.type ?? "a registry change"} failed: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  /** Tells onError, or console.warn without one; an onError that throws must not end the watcher's loop. */
  #report(error: unknown, message: PublishableMessage | undefined, warning: string): void {
    if (!this.#options.onError) return console.warn(warning);
    try {
      this.#options.onError(error, message);
    } catch (thrown) {
      console.warn(`onex registry: the health watcher's onError threw (${(thrown as Error)?.message ?? String(thrown)}) on: ${warning}`);
    }
  }
}
