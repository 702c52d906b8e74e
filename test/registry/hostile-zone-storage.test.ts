/**
 * A zone's NATS KV registry lives in the zone's account (its clients connect as the zone's admin),
 * so its buckets share the account's JetStream storage (`onex nats-auth --zone-storage`) with the
 * zone's event streams, which every member publishes into. A hostile member publishing events
 * until the storage is full stops every registration of the zone: the refusal must say so and how
 * to free it, and size limits on the streams
 * (`onex streams apply --max-bytes`, `--dlq-max-bytes`), which the server reserves against the
 * account's storage, must keep the registry's room whatever the members publish.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, startTwoZones, type TwoZones } from "../jetstream/zones.js";
import { makeNode } from "./fixtures.js";

let zones: TwoZones;
let registry: Registry | undefined;

beforeAll(async () => {
  zones = await startTwoZones("", ["--zone-storage", "4MB"]);
});

afterAll(async () => {
  await registry?.close();
  await zones?.stop();
  await removeTempDirs();
});

/** What `run` rejects with, or "ok". */
async function outcome(run: () => Promise<unknown>): Promise<string | OnexError> {
  return run().then(
    () => "ok",
    (error: unknown) => error as OnexError,
  );
}

describe("a zone-A member filling its zone's storage with events", () => {
  it("stops the zone's registry with a refusal that says why, until the streams have size limits; with them, it no longer can", async () => {
    registry = await openRegistry(`${zones.server.url.replace("nats://", "nats://admin-a:admin-a-pw@")}?bucket=onex_registry&ttl=30s`, { onTampered: () => {}, logger: { warn() {} } });
    const present = makeNode(ZONE_A);
    await registry.register(present.entry, present.identity);

    const admin = await zones.raw("adminA");
    const stream = await (await admin.jsm()).streams.info(zoneStreamNameOf("event", ZONE_A));
    const subject = stream.config.subjects[0]!.replaceAll("*", "node");
    const { js } = await zones.raw("a");
    // The member publishes into its zone's stream, as it may, until the server refuses: events of
    // 200 kB, then of 10 kB and of 100 bytes to fill what is left.
    const publishUntilRefused = async (most: number, size: number) => {
      const event = "x".repeat(size);
      for (let n = 0; n < most; n++) if (!(await js.publish(subject, event).then(() => true, () => false))) return n;
      return most;
    };
    expect(await publishUntilRefused(100, 200_000)).toBeLessThan(100);
    expect(await publishUntilRefused(100, 10_000)).toBeLessThan(100);
    expect(await publishUntilRefused(1_000, 100)).toBeLessThan(1_000);

    const node = makeNode(ZONE_A);
    const registering = await outcome(() => registry!.register(node.entry, node.identity));
    expect(registering).toBeInstanceOf(OnexError);
    expect(registering).toMatchObject({ code: ErrorCode.RegistryUnavailable, details: { quota: true } });
    expect((registering as OnexError).message).toContain("onex streams apply --max-bytes");
    // (A heartbeat rewrites an entry already stored, in the room its bytes held: at the limit, it was
    // stored, but one made while a large event had overdrawn the storage was refused.)

    // The operator gives the streams size limits that leave the registry room (1 MB of events, 0.5 MB
    // of each zone account's two dead-letter streams, of 4 MB): the oldest events go, and the registry works.
    const applied = runCli(["streams", "apply", "--identities", join(zones.dir, "identities.yaml"), "--server", zones.server.url, "--max-bytes", "1000000", "--dlq-max-bytes", "500000"]);
    expect(applied.status).toBe(0);
    expect(await outcome(() => registry!.heartbeat(present.address))).toBe("ok");
    expect(await outcome(() => registry!.register(node.entry, node.identity))).toBe("ok");
    // The member publishes five times the zone's storage more: its stream drops its oldest, the registry keeps its room.
    expect(await publishUntilRefused(100, 200_000)).toBe(100);
    expect(await outcome(() => registry!.heartbeat(present.address))).toBe("ok");
    expect(await outcome(() => registry!.heartbeat(node.address))).toBe("ok");
    const late = makeNode(ZONE_A);
    expect(await outcome(() => registry!.register(late.entry, late.identity))).toBe("ok");
  }, 60_000);
});
