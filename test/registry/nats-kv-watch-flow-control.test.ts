/**
 * A NATS KV registry watch is an ordered push consumer with flow control: past a few megabytes
 * in flight, nats-server waits for the watch to answer a flow-control request, published to
 * `$JS.FC.KV_<bucket>.…`, before it delivers more. A user granted only the subjects
 * docs/registry.md used to name ($KV.<bucket>.>, $KV.<bucket>_marks.>, $JS.API.>, and the
 * replies' _INBOX.>) may not publish there: the server refused each answer (an asynchronous
 * error no request waits for), and the watch stalled, delivering nothing more and never its
 * first state, and said nothing; a list, read through such a consumer, never answered. Both now
 * end with the refusal, typed, naming the grant, as any other refusal does; with the grant, the
 * same burst is delivered whole.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { settledWithin } from "../support/settled-within.js";

const SUBJECTS = '"$KV.reg.>", "$KV.reg_marks.>", "$JS.API.>"';
const NATS_CONFIG = `authorization { users: [
  { user: admin, password: "admin-pass" },
  { user: listed, password: "listed-pass", permissions: { publish: { allow: [${SUBJECTS}] }, subscribe: { allow: [${SUBJECTS}, "_INBOX.>"] } } },
  { user: granted, password: "granted-pass", permissions: { publish: { allow: [${SUBJECTS}, "$JS.FC.KV_reg.>"] }, subscribe: { allow: [${SUBJECTS}, "_INBOX.>"] } } }
] }`;
const VALUES = 100;

let nats: NatsServer;
let writer: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer({ config: NATS_CONFIG });
  // The bucket made by the registry, then filled by a store writer: 6 MB of values the watch reads as its first state.
  const admin = await openRegistry(`nats://admin:admin-pass@${nats.url.replace(/^[a-z]+:\/\//, "")}?bucket=reg&ttl=5m`, { logger: { warn() {} } });
  await admin.close();
  writer = await connect({ servers: nats.url, user: "admin", pass: "admin-pass" });
  const value = "x".repeat(60_000);
  for (let i = 0; i < VALUES; i++) writer.publish(`$KV.reg.z.node.n${i}`, value);
  await writer.flush();
});
afterAll(async () => {
  await writer?.close();
  await nats?.stop();
});

/** Pulls the watch until its first state is reported (`onSynced`) or it ends; what it came to, and how many changes (each value a tampered report) came first. */
async function firstState(user: string): Promise<{ outcome: string; error: unknown; changes: number }> {
  const registry = await openRegistry(`nats://${user}:${user}-pass@${nats.url.replace(/^[a-z]+:\/\//, "")}?bucket=reg&ttl=5m`, { logger: { warn() {} } });
  let changes = 0;
  let error: unknown;
  let synced!: () => void;
  const reported = new Promise<void>((resolve) => (synced = resolve));
  const watch = registry.watch({}, { onSynced: () => synced() });
  try {
    const pulling = (async () => {
      for (;;) {
        if ((await watch.next()).done) return;
        changes++;
      }
    })().catch((e: unknown) => {
      error = e;
      throw e;
    });
    // "pending" (the watch stalled, reporting nothing more and no error) is the failure.
    return { outcome: await settledWithin(Promise.race([reported, pulling]), 20_000), error, changes };
  } finally {
    await watch.return?.();
    await registry.close();
  }
}

describe("a NATS KV watch whose answers to flow control the server refuses", () => {
  it("ends with the refusal, typed, naming the grant, rather than stalling in silence", async () => {
    const { outcome, error } = await firstState("listed");
    expect(outcome).toBe(`rejected ${ErrorCode.RegistryUnavailable}`);
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).details).toMatchObject({ permission: "publish" });
    expect(String((error as OnexError).details.subject)).toMatch(/^\$JS\.FC\.KV_reg\./);
    expect((error as OnexError).message).toContain("$JS.FC.KV_reg.>");
  }, 60_000);

  it("a list, which reads through such a consumer, fails with the refusal rather than never answering", async () => {
    const registry = await openRegistry(`nats://listed:listed-pass@${nats.url.replace(/^[a-z]+:\/\//, "")}?bucket=reg&ttl=5m`, { onTampered: () => {}, logger: { warn() {} } });
    try {
      const listing = registry.list();
      expect(await settledWithin(listing, 20_000)).toBe(`rejected ${ErrorCode.RegistryUnavailable}`);
      const error = await listing.catch((e: unknown) => e);
      expect((error as OnexError).details).toMatchObject({ permission: "publish" });
      expect(String((error as OnexError).details.subject)).toMatch(/^\$JS\.FC\.KV_reg\./);
    } finally {
      await registry.close();
    }
  }, 60_000);

  it("with the grant, delivers the same burst whole", async () => {
    const { outcome, changes } = await firstState("granted");
    expect(outcome).toBe("resolved");
    expect(changes).toBe(VALUES);
  }, 60_000);
});
