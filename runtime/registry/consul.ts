/**
 * The Consul registry adapter (`consul` client, Consul's documented HTTP API). Each entity
 * is a Consul service with a TTL check (so Consul's own health views show it) and a KV key,
 * `<prefix><zone token>/<entity_type>/<id token>`, holding the signed entry. The KV key is
 * acquired by a session with the same TTL and `behavior=delete`, so Consul deletes the
 * entry when heartbeats stop. A heartbeat renews the session and passes the check. Watches
 * are blocking queries on the KV prefix (the client's `watch` helper).
 *
 * Consul sessions cannot live shorter than 10 s, so the effective TTL is at least that.
 * A deregistration removes the service before the key; a watcher that sees a key vanish
 * while its service still exists therefore knows the node expired rather than left.
 *
 * A key held by no session (a store writer's plain KV write) is not alive: reads skip it.
 * High-water marks are plain KV keys under `<prefix without its last "/">#marks/`.
 *
 * No Consul agent runs in CI: this adapter is exercised by the conformance suite only when
 * CONSUL_HTTP_ADDR is set (see docs/registry.md).
 */
import type Consul from "consul";
import { ErrorCode, OnexError } from "../errors.js";
import { encodeSubjectToken } from "../subject-token.js";
import type { CanonicalAddress } from "./address.js";
import { ChangeQueue } from "./change-queue.js";
import { parsePathKey, pathKeyOf, pathPrefixOf } from "./store-key.js";
import type { RegistryStore, StoreChange, StoredMark, StorePrefix, StoredSlot, StoredValue, WrittenRevisions } from "./registry.js";

/** Options of the Consul adapter. */
export interface ConsulStoreOptions {
  /** `host:port` of a Consul agent's HTTP API. */
  host: string;
  /** KV prefix (default `onex/registry/`). */
  prefix?: string;
  ttlMs: number;
  /** ACL token. */
  token?: string;
}

/** Consul's minimum session TTL. */
export const CONSUL_MIN_TTL_MS = 10_000;

interface KvItem {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
  Session?: string;
}

type ConsulClient = InstanceType<typeof Consul>;

/** The Consul client package, loaded when a Consul registry is first opened, not as this module is (as etcd.ts loads etcd3). */
let ConsulClient: typeof Consul;

/** Loads the Consul client package; fails as its import fails (open-registry.ts names what to install). */
export async function loadConsulClient(): Promise<void> {
  ConsulClient ??= (await import("consul")).default;
}

/** Connects to a Consul agent and checks it answers. */
export async function openConsulStore(options: ConsulStoreOptions): Promise<RegistryStore> {
  await loadConsulClient();
  const [host, port] = options.host.split(":");
  const client = new ConsulClient({ host: host!, port: Number(port ?? 8500), ...(options.token ? { defaults: { token: options.token } } : {}) });
  try {
    await client.status.leader();
  } catch (cause) {
    throw new OnexError(ErrorCode.RegistryUnavailable, `cannot reach Consul at ${options.host}: ${(cause as Error).message}`, { host: options.host }, { cause });
  }
  return new ConsulStore(client, options.prefix ?? "onex/registry/", Math.max(CONSUL_MIN_TTL_MS, options.ttlMs));
}

class ConsulStore implements RegistryStore {
  readonly kind = "consul";

  constructor(
    readonly client: ConsulClient,
    readonly prefix: string,
    readonly ttlMs: number,
  ) {}

  keyOf(key: CanonicalAddress): string {
    return pathKeyOf(this.prefix, key);
  }

  serviceIdOf(key: CanonicalAddress): string {
    return `onex-${encodeSubjectToken(key.zone)}-${key.entityType}-${encodeSubjectToken(key.id)}`;
  }

  parseKey(raw: string): CanonicalAddress | undefined {
    return parsePathKey(this.prefix, raw);
  }

  async read(key: CanonicalAddress): Promise<StoredSlot> {
    // Consul's KV transactions need write access for reads too; two reads sent together cost one round trip.
    const [item, mark] = await this.#call(() => Promise.all([this.client.kv.get({ key: this.keyOf(key) }) as Promise<KvItem | null>, this.client.kv.get({ key: this.#markKey(key) }) as Promise<KvItem | null>]));
    return {
      ...(item?.Value != null && item.Session ? { stored: { key, value: item.Value, revision: String(item.ModifyIndex) } } : {}),
      revision: item === null ? "" : String(item.ModifyIndex),
      ...(mark?.Value != null ? { mark: { value: mark.Value, revision: String(mark.ModifyIndex) } } : {}),
    };
  }

  async write(key: CanonicalAddress, value: string, expected: { revision: string; mark: string }, writeMark: boolean): Promise<WrittenRevisions | undefined> {
    const ttl = `${Math.ceil(this.ttlMs / 1_000)}s`;
    return this.#call(async () => {
      // Mark first (compare-and-set), so a reader that finds the entry finds its mark.
      if (writeMark && !((await this.client.kv.set({ key: this.#markKey(key), value, cas: expected.mark === "" ? 0 : Number(expected.mark) })) as boolean)) return undefined;
      const serviceId = this.serviceIdOf(key);
      await this.client.agent.service.register({
        id: serviceId,
        name: `onex-${key.entityType}`,
        tags: [`zone=${key.zone}`, `entity_type=${key.entityType}`],
        check: { ttl, deregistercriticalserviceafter: "1m", status: "passing" } as never,
      });
      const session = (await this.client.session.create({ name: serviceId, ttl, behavior: "delete", lockdelay: "0s" })) as { ID: string };
      const previous = (await this.client.kv.get({ key: this.keyOf(key) })) as KvItem | null;
      const ok = (await this.client.kv.set({ key: this.keyOf(key), value, acquire: session.ID, cas: expected.revision === "" ? 0 : Number(expected.revision) })) as boolean;
      // The previous session held only this key; the new one holds it now.
      const stale = ok ? previous?.Session : session.ID;
      if (stale) await this.client.session.destroy(stale).catch(() => undefined);
      if (!ok) return undefined;
      const written = (await this.client.kv.get({ key: this.keyOf(key) })) as KvItem | null;
      const markItem = writeMark ? ((await this.client.kv.get({ key: this.#markKey(key) })) as KvItem | null) : null;
      return { revision: String(written?.ModifyIndex ?? ""), ...(markItem === null ? {} : { markRevision: String(markItem.ModifyIndex) }) };
    });
  }

  async get(key: CanonicalAddress): Promise<StoredValue | undefined> {
    const item = await this.#call(() => this.client.kv.get({ key: this.keyOf(key) }) as Promise<KvItem | null>);
    return item?.Value == null || !item.Session ? undefined : { key, value: item.Value, revision: String(item.ModifyIndex) };
  }

  async heartbeat(key: CanonicalAddress, revision: string): Promise<boolean> {
    return this.#call(async () => {
      const item = (await this.client.kv.get({ key: this.keyOf(key) })) as KvItem | null;
      if (item === null || !item.Session || String(item.ModifyIndex) !== revision) return false;
      const renewed = (await this.client.session.renew(item.Session).catch(() => [])) as unknown[];
      if (!Array.isArray(renewed) || renewed.length === 0) return false;
      await this.client.agent.check.pass({ id: `service:${this.serviceIdOf(key)}` }).catch(() => undefined);
      return true;
    });
  }

  async delete(key: CanonicalAddress, revision?: string): Promise<boolean> {
    return this.#call(async () => {
      const item = (await this.client.kv.get({ key: this.keyOf(key) })) as KvItem | null;
      // Of that revision alone: the key's delete is a compare-and-set on it (the service, which has
      // no revision, is deregistered whatever was written since; not run in CI).
      if (revision !== undefined && (item === null || String(item.ModifyIndex) !== revision)) return false;
      // Service first: a watcher that then sees the key vanish finds no service and reports a departure.
      await this.client.agent.service.deregister(this.serviceIdOf(key)).catch(() => undefined);
      if (item === null) return false;
      const deleted = (await this.client.kv.del({ key: this.keyOf(key), ...(revision === undefined ? {} : { cas: Number(revision) }) })) as boolean | undefined;
      if (revision !== undefined && deleted === false) return false;
      if (item.Session) await this.client.session.destroy(item.Session).catch(() => undefined);
      return true;
    });
  }

  async getMark(key: CanonicalAddress): Promise<StoredMark | undefined> {
    const item = await this.#call(() => this.client.kv.get({ key: this.#markKey(key) }) as Promise<KvItem | null>);
    return item?.Value == null ? undefined : { value: item.Value, revision: String(item.ModifyIndex) };
  }

  async list(prefix: StorePrefix): Promise<StoredValue[]> {
    const items = await this.#call(() => this.client.kv.get({ key: this.#scope(prefix), recurse: true }) as Promise<KvItem[] | KvItem | null>);
    return this.#values(items, prefix);
  }

  watch(prefix: StorePrefix, signal: AbortSignal): AsyncIterable<StoreChange> {
    const queue = new ChangeQueue<StoreChange>(signal);
    let known: Map<string, StoredValue> | undefined;
    let chain = Promise.resolve();
    const watch = this.client.watch({ method: this.client.kv.get, options: { key: this.#scope(prefix), recurse: true } as never });
    watch.on("change", (data: KvItem[] | KvItem | null) => {
      // Blocking-query results are whole snapshots; diff them against the last one, in order.
      chain = chain.then(async () => {
        const values = this.#values(data, prefix);
        const next = new Map(values.map((v) => [this.keyOf(v.key), v]));
        const initial = known === undefined;
        for (const [k, v] of next) {
          if (known?.get(k)?.revision !== v.revision) queue.push({ op: "put", stored: v, initial });
        }
        for (const [k, v] of known ?? []) {
          if (next.has(k)) continue;
          const services = (await this.client.agent.service.list().catch(() => ({}))) as Record<string, unknown>;
          queue.push({ op: "delete", key: v.key, reason: Object.hasOwn(services, this.serviceIdOf(v.key)) ? "expired" : "deregistered" });
        }
        known = next;
        if (initial) queue.push({ op: "synced" });
      });
    });
    // The helper retries with back-off on errors, which is what carries a watch across agent restarts.
    watch.on("error", () => undefined);
    signal.addEventListener("abort", () => watch.end(), { once: true });
    return queue;
  }

  async close(): Promise<void> {
    // The HTTP client holds no connection to close.
  }

  #markKey(key: CanonicalAddress): string {
    return pathKeyOf(`${this.prefix.replace(/\/$/, "")}#marks/`, key);
  }

  #scope(prefix: StorePrefix): string {
    return pathPrefixOf(this.prefix, prefix);
  }

  #values(items: KvItem[] | KvItem | null, prefix: StorePrefix): StoredValue[] {
    const list = items === null ? [] : Array.isArray(items) ? items : [items];
    const values: StoredValue[] = [];
    for (const item of list) {
      const key = this.parseKey(item.Key);
      // Held by no session, it would never lapse: not alive.
      if (key === undefined || item.Value == null || !item.Session) continue;
      if (prefix.entityType !== undefined && key.entityType !== prefix.entityType) continue;
      values.push({ key, value: item.Value, revision: String(item.ModifyIndex) });
    }
    return values;
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof OnexError) throw cause;
      throw new OnexError(ErrorCode.RegistryUnavailable, `Consul request failed: ${(cause as Error).message}`, {}, { cause });
    }
  }
}
