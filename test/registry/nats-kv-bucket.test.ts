/**
 * The registry's own KV reads and compare-and-set writes (runtime/registry/nats-kv-bucket.ts)
 * against a real nats-server, held to nats.js's KV as the oracle: the same record for every state
 * a key can be in, and the same outcome for every write.
 */
import { Kvm, type KV } from "@nats-io/kv";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplyInbox } from "../../runtime/jetstream/reply-inbox.js";
import { KvBucket, type KvRecord } from "../../runtime/registry/nats-kv-bucket.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
let nc: NatsConnection;
let kv: KV;
let bucket: KvBucket;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  kv = await new Kvm(nc).create("bucket_test", { history: 1 });
  const direct = (await kv.status()).streamInfo.config.allow_direct === true;
  expect(direct).toBe(true);
  bucket = new KvBucket(kv, "bucket_test", direct, new ReplyInbox(nc), 2_000);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** What nats.js's KV reads for the key, in the record's terms. */
async function oracle(key: string): Promise<Omit<KvRecord, "string"> | null> {
  const entry = await kv.get(key);
  return entry === null ? null : { operation: entry.operation as string, revision: entry.revision, created: entry.created, value: entry.value };
}

const read = async (key: string) => {
  const record = await bucket.get(key);
  if (record === null) return null;
  const { string: text, ...rest } = record;
  expect(text()).toBe(new TextDecoder().decode(record.value));
  return rest;
};

describe("KvBucket", () => {
  it("reads a key in every state as nats.js does: never written, put, deleted, purged, written again", async () => {
    expect(await read("k.never")).toBeNull();
    await kv.put("k.one", "first \u00e9\u{1F600}");
    expect(await read("k.one")).toEqual(await oracle("k.one"));
    await kv.delete("k.one");
    expect((await read("k.one"))?.operation).toBe("DEL");
    expect(await read("k.one")).toEqual(await oracle("k.one"));
    await kv.purge("k.one");
    expect((await read("k.one"))?.operation).toBe("PURGE");
    expect(await read("k.one")).toEqual(await oracle("k.one"));
    await kv.put("k.one", new Uint8Array([0, 255, 10]));
    expect(await read("k.one")).toEqual(await oracle("k.one"));
    // A key that only shares a prefix with another is not the other.
    expect(await read("k")).toBeNull();
  });

  it("reads the server's sequence, time and subject, not the ones a store writer puts in its own headers", async () => {
    const forged = (operation?: string) => {
      const h = headers();
      h.set("Nats-Sequence", "12345");
      h.set("Nats-Time-Stamp", "2099-01-01T00:00:00Z");
      h.set("Nats-Subject", "$KV.bucket_test.f.other");
      if (operation !== undefined) h.set("KV-Operation", operation);
      return h;
    };
    for (const [key, operation] of [["f.a", undefined], ["f.b", "del"], ["f.c", "PURGE"]] as const) {
      await nc.request(`$KV.bucket_test.${key}`, new TextEncoder().encode("forged"), { headers: forged(operation), timeout: 2_000 });
      const record = await read(key);
      expect(record).toEqual(await oracle(key));
      expect(record!.created.getTime()).toBeLessThanOrEqual(Date.now());
    }
    const marker = headers();
    marker.set("Nats-Marker-Reason", "MaxAge");
    await nc.request("$KV.bucket_test.f.d", new TextEncoder().encode(""), { headers: marker, timeout: 2_000 });
    expect(await read("f.d")).toEqual(await oracle("f.d"));
    expect((await read("f.d"))?.operation).toBe("PURGE");
  });

  it("creates only where a key holds nothing or a delete or purge marker, as nats.js's create", async () => {
    const first = await bucket.create("c.a", "v1");
    expect((await oracle("c.a"))?.revision).toBe(first);
    const refused = await bucket.create("c.a", "v2").catch((error: unknown) => error);
    expect(refused).toMatchObject({ message: expect.stringMatching(/wrong last sequence/), errCode: 10071 });
    expect(new TextDecoder().decode((await oracle("c.a"))!.value)).toBe("v1");
    await kv.purge("c.a");
    const again = await bucket.create("c.a", "v3");
    expect(await oracle("c.a")).toMatchObject({ operation: "PUT", revision: again });
    await kv.delete("c.a");
    expect((await oracle("c.a"))?.revision).toBeLessThan(await bucket.create("c.a", "v4"));
  });

  it("updates only at the key's last revision", async () => {
    const at = await kv.put("u.a", "v1");
    const next = await bucket.update("u.a", "v2", at);
    expect(await oracle("u.a")).toMatchObject({ revision: next });
    await expect(bucket.update("u.a", "v3", at)).rejects.toMatchObject({ message: expect.stringMatching(/wrong last sequence/) });
    expect(new TextDecoder().decode((await oracle("u.a"))!.value)).toBe("v2");
  });
});
