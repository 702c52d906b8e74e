import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { inboxPrefixOf } from "../../runtime/jetstream/authorization.js";
import { getDeadLetter, listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { readHistory } from "../../runtime/jetstream/history.js";
import { runCli } from "../support/run-cli.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { eventually } from "../registry/fixtures.js";
import { client, makeKeys } from "./fixtures.js";

const keys = makeKeys();
let server: NatsServer;

function update(zone: string, entity = "n-1"): v0_1.StateUpdate {
  return v0_1.StateUpdate.create({
    source: { zone, entity_type: "node", entity_id: entity },
    trust: { signer: "x", level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { state: "idle" },
  });
}

beforeAll(async () => {
  const dir = await tempDir();
  const identities = join(dir, "identities.yaml");
  await writeFile(
    identities,
    [
      "- { user: admin-a, password: admin-a-pw, zone: zone.a, role: admin }",
      "- { user: admin-b, password: admin-b-pw, zone: zone.b, role: admin }",
      "- { user: node-a, password: a-pw, zone: zone.a }",
      "- { user: node-b, password: b-pw, zone: zone.b }",
    ].join("\n"),
    // Passwords: owner-only, or onex warns that others can read them.
    { mode: 0o600 },
  );
  const generated = runCli(["nats-auth", identities]);
  expect(generated.status).toBe(0);
  expect(generated.stdout).toContain("accounts {");
  server = await startNatsServer({ config: generated.stdout });
  // As an operator does it: each zone's streams, in its account, as its admin.
  const applied = runCli(["streams", "apply", "--identities", identities, "--server", server.url]);
  expect(applied.stderr).toBe("");
  expect(applied.stdout).toMatch(/zone zone\.a \(account ONEX_ZONE_zone~2Ea, as admin-a\)\ncreated\s+ONEX_DLQ\ncreated\s+ONEX_DLQ~zone~2Ea\ncreated\s+ONEX_EVENT~zone~2Ea/);
});

afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

const member = (user: string, password: string) =>
  client(server.url, keys.node, [keys.node], { user, pass: password, inboxPrefix: inboxPrefixOf(user), trust: { logger: { warn() {} } } });

describe("zone isolation from `onex nats-auth`", () => {
  it("a zone-A identity publishes and subscribes in zone A", async () => {
    const a = await member("node-a", "a-pw");
    const msg = update("zone.a");
    await a.publish(msg);
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: "zone.a" });
    for await (const d of sub) {
      await d.ack();
      expect(d.message.id).toBe(msg.id);
      break;
    }
    await a.close();
  });

  it("a zone-A identity can neither publish on zone-B subjects nor read them", async () => {
    const a = await member("node-a", "a-pw");
    const b = await member("node-b", "b-pw");
    await b.publish(update("zone.b"));

    const published = await a.publish(update("zone.b"), { retryForMs: 0, timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(published).toBeInstanceOf(OnexError);
    expect((published as OnexError).code).toBe(ErrorCode.PermissionDenied);

    const subscribed = await a.subscribe([v0_1.StateUpdate], { zone: "zone.b" }).catch((e: unknown) => e);
    expect(subscribed).toBeInstanceOf(OnexError);
    expect((subscribed as OnexError).code).toBe(ErrorCode.PermissionDenied);

    const everything = await a.subscribe([v0_1.StateUpdate]).catch((e: unknown) => e);
    expect((everything as OnexError).code).toBe(ErrorCode.PermissionDenied);

    // A plain core subscription to zone B is refused by the server too.
    const errors: string[] = [];
    const core = await natsConnect({ servers: server.url, user: "node-a", pass: "a-pw", inboxPrefix: inboxPrefixOf("node-a") });
    const statusLoop = (async () => {
      for await (const s of core.status()) if (s.type === "error") errors.push(String((s as { error?: unknown }).error ?? ""));
    })();
    const sneaky = core.subscribe(update("zone.b").subject());
    const closed = await Promise.race([sneaky.closed.then((e) => String(e ?? "")), new Promise<string>((r) => setTimeout(() => r("still open"), 3_000))]);
    expect(closed + errors.join(" ")).toMatch(/permissions violation/i);
    await core.close();
    await statusLoop;
    await a.close();
    await b.close();
  });

  it("a member reading the dead letters or a stream's history is told it is not permitted, not that the stream is missing", async () => {
    const nc = await natsConnect({ servers: server.url, user: "node-a", pass: "a-pw", inboxPrefix: inboxPrefixOf("node-a") });
    try {
      // A member may not ask for account-wide counters, so the manager skips that check.
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const codeOf = (p: Promise<unknown>) => p.then(() => "read", (e: unknown) => (e instanceof OnexError ? e.code : String(e)));
      const history = async () => {
        for await (const _ of readHistory(jetstream(nc), jsm, "ONEX_DLQ~zone~2Ea", { fromSequence: 1 }));
      };
      expect([await codeOf(listDeadLetters(jsm)), await codeOf(listDeadLetters(jsm, { zone: "zone.a" })), await codeOf(getDeadLetter(jsm, 1, "zone.a")), await codeOf(history())]).toEqual([
        ErrorCode.PermissionDenied,
        ErrorCode.PermissionDenied,
        ErrorCode.PermissionDenied,
        ErrorCode.PermissionDenied,
      ]);
    } finally {
      await nc.close();
    }
    // The CLI says the same (its JetStream commands run as a zone's admin).
    const cli = runCli(["dlq", "list", "--server", server.url, "--user", "node-a", "--password", "a-pw"]);
    expect([cli.status, cli.stderr]).toEqual([1, expect.stringContaining(`error ${ErrorCode.PermissionDenied}: this user may not ask ${server.url} for JetStream`)]);
  });
  it("a member's subscription, which may not read its dead-letter stream's limits, still letters what it refuses", async () => {
    const a = await member("node-a", "a-pw");
    const forged = update("zone.a", "n-forged");
    await a.publish(forged);
    await a.close();
    // Trusting only a stranger's key: what node-a signed is refused, and lettered.
    const warnings: string[] = [];
    const receiver = await client(server.url, keys.agent, [keys.stranger], { user: "node-a", pass: "a-pw", inboxPrefix: inboxPrefixOf("node-a"), trust: { zone: "zone.a", logger: { warn: (text: string) => warnings.push(text) } } });
    const sub = await receiver.subscribe([v0_1.StateUpdate], { zone: "zone.a", durable: "letters" });
    const consuming = (async () => {
      for await (const d of sub) await d.ack();
    })();
    await eventually(async () => sub.stats.deadLettered >= 1, 20_000, "the letter");
    await sub.stop();
    await consuming;
    await receiver.close();
    expect(warnings.filter((w) => w.includes("cannot dead-letter"))).toEqual([]);
    const nc = await natsConnect({ servers: server.url, user: "admin-a", pass: "admin-a-pw" });
    try {
      const letters = await listDeadLetters(await jetstreamManager(nc), { zone: "zone.a" });
      expect(letters.some((l) => l.writerZone === "zone.a" && l.reason === ErrorCode.SignerUnknown)).toBe(true);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
