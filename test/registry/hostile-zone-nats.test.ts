/**
 * A NATS KV registry on a server running the configuration `onex nats-auth` generates, attacked
 * by a hostile party of zone A with exactly the identity the configuration gives it. A zone's
 * registry clients connect as the zone's admin (docs/security.md), so its buckets live in the
 * zone's account: a member, whose JetStream permissions name only its zone's event streams, must
 * not read, write or announce (publish a mark on) any registry key, and zone A's admin must not
 * reach zone B's registry at all, whatever it writes into its own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { natsKvKey } from "../../runtime/registry/nats-kv.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, ZONE_B, refusedByServer, startTwoZones, type TwoZones } from "../jetstream/zones.js";
import { makeNode, partsOf } from "./fixtures.js";

const BUCKET = "onex_registry";
let zones: TwoZones;
const opened: Registry[] = [];

/** The registry URL of `user` on the deployment's server. */
const urlOf = (user: string, password: string) => `${zones.server.url.replace("nats://", `nats://${user}:${password}@`)}?bucket=${BUCKET}&ttl=30s`;

async function registryOf(user: string, password: string): Promise<Registry> {
  const registry = await openRegistry(urlOf(user, password), { onTampered: () => {}, logger: { warn() {} } });
  opened.push(registry);
  return registry;
}

beforeAll(async () => {
  zones = await startTwoZones();
});

afterAll(async () => {
  await Promise.all(opened.map((r) => r.close()));
  await zones?.stop();
  await removeTempDirs();
});

describe("a zone's NATS KV registry against a hostile party of another zone, or a member of its own", () => {
  it("a member can neither open its zone's registry nor write, read or announce any of its keys", async () => {
    const admin = await registryOf("admin-a", "admin-a-pw");
    const node = makeNode(ZONE_A);
    await admin.register(node.entry, node.identity);

    const refused = await openRegistry(urlOf("node-a", "a-pw"), { logger: { warn() {} } }).then(
      (registry) => {
        opened.push(registry);
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OnexError);
    expect((refused as OnexError).code).toBe(ErrorCode.RegistryUnavailable);

    const { nc } = await zones.raw("a");
    const key = natsKvKey(partsOf(node));
    const forged = JSON.stringify({ format: 1, entry: { ...node.entry, health: { status: "critical" } }, identity: node.identity });
    // Writes of the entry and of its mark (a publish the stream stores, and the marks' tap hears), reads, the buckets' API.
    expect(await refusedByServer(nc, `$KV.${BUCKET}.${key}`, forged)).toBe(true);
    expect(await refusedByServer(nc, `$KV.${BUCKET}_marks.${key}`, forged)).toBe(true);
    expect(await refusedByServer(nc, `$JS.API.DIRECT.GET.KV_${BUCKET}`, JSON.stringify({ last_by_subj: `$KV.${BUCKET}.${key}` }))).toBe(true);
    expect(await refusedByServer(nc, `$JS.API.STREAM.INFO.KV_${BUCKET}`)).toBe(true);
    expect(await refusedByServer(nc, `$JS.API.STREAM.PURGE.KV_${BUCKET}`)).toBe(true);
    expect(await refusedByServer(nc, `$JS.API.STREAM.DELETE.KV_${BUCKET}_marks`)).toBe(true);

    // The node is as it registered.
    expect((await admin.resolve(node.address)).entry.health.status).toBe("passing");
    expect((await admin.list({ zone: ZONE_A })).map((e) => e.address)).toContain(node.address);
  });

  it("zone A's admin reaches none of zone B's registry: what it writes into its own bucket under zone B's keys stays in zone A", async () => {
    const registryB = await registryOf("admin-b", "admin-b-pw");
    const registryA = await registryOf("admin-a", "admin-a-pw");
    const node = makeNode(ZONE_B);
    await registryB.register(node.entry, node.identity);

    // Zone A's admin sees no zone-B entry, and its deregistration of one finds nothing to remove.
    expect(await registryA.list({ zone: ZONE_B })).toEqual([]);
    expect(await registryA.deregister(node.address)).toBe(false);
    // It registers the zone-B node's genuine registration (captured) in its own bucket, and writes a
    // forged one, older, at the same key with the raw client: zone B's registry is untouched.
    await registryA.register(node.entry, node.identity);
    const { js } = await zones.raw("adminA");
    const { Kvm } = await import("@nats-io/kv");
    const kv = await new Kvm(js).open(BUCKET);
    await kv.put(natsKvKey(partsOf(node)), JSON.stringify({ format: 1, entry: { ...node.entry, health: { status: "critical" } }, identity: node.identity }));

    const resolved = await registryB.resolve(node.address);
    expect(resolved.entry.signature).toBe(node.entry.signature);
    expect(resolved.entry.health.status).toBe("passing");
    expect((await registryB.list({ zone: ZONE_B })).map((e) => e.address)).toEqual([node.address]);
  });
});
