/**
 * The attacker of the registry tests: someone with write access to the store, going around
 * onex entirely — raw NATS KV operations on the bucket, and etcd's own v3 API over HTTP (the
 * JSON gateway etcdctl's requests map to; the test machines have etcd but no etcdctl).
 */
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsKvKey } from "../../runtime/registry/nats-kv.js";
import { pathKeyOf } from "../../runtime/registry/store-key.js";
import type { CanonicalAddress } from "../../runtime/registry/address.js";

/** Raw access to the entries of one registry namespace. */
export interface StoreWriter {
  /** The stored bytes at the address (what a writer copies now to replay later). */
  read(key: CanonicalAddress): Promise<string | undefined>;
  /** Writes bytes at the address's key, with the store's TTL where the store attaches one to every write (NATS), or a lease of the registry TTL (etcd). */
  put(key: CanonicalAddress, value: string): Promise<void>;
  /** Removes the key outright (not a deregistration). */
  delete(key: CanonicalAddress): Promise<void>;
  close(): Promise<void>;
}

/** A writer on the NATS KV bucket `bucket`. */
export async function natsKvWriter(url: string, bucket: string): Promise<StoreWriter & { kv: KV }> {
  const nc: NatsConnection = await connect({ servers: url });
  const kv = await new Kvm(nc).open(bucket, { bindOnly: true });
  return {
    kv,
    async read(key) {
      const entry = await kv.get(natsKvKey(key));
      return entry === null || entry.operation !== "PUT" ? undefined : entry.string();
    },
    async put(key, value) {
      await kv.put(natsKvKey(key), value);
    },
    async delete(key) {
      await kv.delete(natsKvKey(key));
    },
    close: () => nc.close(),
  };
}

/** A writer on etcd's v3 API at `clientUrl`, under key prefix `prefix`; puts attach a fresh lease of `leaseSeconds`. */
export function etcdWriter(clientUrl: string, prefix: string, leaseSeconds: number): StoreWriter & { raw: EtcdRaw; keyOf(key: CanonicalAddress): string } {
  const raw = etcdRaw(clientUrl);
  const keyOf = (key: CanonicalAddress) => pathKeyOf(prefix, key);
  return {
    raw,
    keyOf,
    async read(key) {
      return (await raw.range(keyOf(key)))?.value;
    },
    async put(key, value) {
      await raw.put(keyOf(key), value, await raw.grant(leaseSeconds));
    },
    async delete(key) {
      await raw.del(keyOf(key));
    },
    async close() {},
  };
}

/** etcd v3 calls over HTTP, as etcdctl makes them. */
export interface EtcdRaw {
  /** A new lease (with the id given, which a writer may choose: a revoked lease's, say); its id. */
  grant(ttlSeconds: number, id?: string): Promise<string>;
  revoke(lease: string): Promise<void>;
  /** Puts a key, on a lease or (lease "0") on none. */
  put(key: string, value: string, lease?: string): Promise<void>;
  del(key: string): Promise<void>;
  range(key: string): Promise<{ value: string; lease: string } | undefined>;
}

export function etcdRaw(clientUrl: string): EtcdRaw {
  const b64 = (text: string) => Buffer.from(text).toString("base64");
  const call = async (path: string, body: unknown) => {
    const response = await fetch(`${clientUrl}/v3/${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`etcd ${path} answered HTTP ${response.status}: ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  return {
    async grant(ttlSeconds, id) {
      return String((await call("lease/grant", { TTL: ttlSeconds, ...(id === undefined ? {} : { ID: id }) })).ID);
    },
    async revoke(lease) {
      await call("lease/revoke", { ID: lease });
    },
    async put(key, value, lease = "0") {
      await call("kv/put", { key: b64(key), value: b64(value), ...(lease === "0" ? {} : { lease }) });
    },
    async del(key) {
      await call("kv/deleterange", { key: b64(key) });
    },
    async range(key) {
      const kvs = (await call("kv/range", { key: b64(key) })).kvs as { value?: string; lease?: string }[] | undefined;
      const kv = kvs?.[0];
      return kv === undefined ? undefined : { value: Buffer.from(kv.value ?? "", "base64").toString(), lease: kv.lease ?? "0" };
    },
  };
}
