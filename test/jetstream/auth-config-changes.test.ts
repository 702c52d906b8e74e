/**
 * `onex nats-auth --out auth.conf --force` run again on a live deployment: it says what the new
 * config changes against the one it replaces, and a running nats-server, reloaded, does exactly
 * that. A run without the limit flags of the last one lifted every zone's storage limit without
 * a word. And `onex streams apply --identities` run before the reload names the zone whose admin
 * the server does not know yet.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { inboxPrefixOf } from "../../runtime/jetstream/authorization.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer | undefined;
let dir: string;
let identities: string;
let auth: string;
const opened: NatsConnection[] = [];
afterAll(async () => {
  for (const nc of opened) await nc.close().catch(() => {});
  await server?.stop();
  await removeTempDirs();
});

const ADMIN = "- { user: adm-a, password: pa, zone: zone.a, role: admin }\n";
const NODE = "- { user: node-a, password: pn, zone: zone.a, role: member }\n";
const OTHER = "- { user: node-c, password: pc, zone: zone.a, role: member }\n";

/** Has the running server reload its config file, and waits until it says it did. */
async function reload(s: NatsServer): Promise<void> {
  const reloaded = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.toString().includes("Reloaded server configuration")) return;
      s.process.stderr!.off("data", onData);
      resolve();
    };
    s.process.stderr!.on("data", onData);
  });
  s.process.kill("SIGHUP");
  await reloaded;
}

async function as(s: NatsServer, user: string, pass: string): Promise<NatsConnection> {
  const nc = await natsConnect({ servers: s.url, user, pass, inboxPrefix: inboxPrefixOf(user), maxReconnectAttempts: 0 });
  opened.push(nc);
  return nc;
}

describe("nats-auth run again over its config", () => {
  it("says each change (a limit lifted, a user removed, one added, a password changed), and the reloaded server makes exactly those", async () => {
    dir = await tempDir("onex-auth-changes-");
    identities = join(dir, "identities.yaml");
    auth = join(dir, "auth.conf");
    await writeFile(identities, ADMIN + NODE + OTHER, { mode: 0o600 });
    const first = runCli(["nats-auth", identities, "--zone-storage", "10MB", "--zone-connections", "5", "--out", auth]);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe("");
    // JetStream in the file, as an operator configures it (a reload of a file without it shuts JetStream down).
    server = await startNatsServer({ jetstream: false, storeDir: dir, config: `jetstream { store_dir: ${JSON.stringify(dir)} }\ninclude "auth.conf"\n` });
    const admin = await as(server, "adm-a", "pa");
    expect((await (await jetstreamManager(admin)).getAccountInfo()).limits.max_storage).toBe(10 * 1024 * 1024);
    const node = await as(server, "node-a", "pn");
    const other = await as(server, "node-c", "pc");

    // The same run again: nothing to reload.
    const same = runCli(["nats-auth", identities, "--zone-storage", "10MB", "--zone-connections", "5", "--out", auth, "--force"]);
    expect(same.status).toBe(0);
    expect(same.stdout).toBe(`${auth}: no change\n`);

    // node-c leaves, node-a gets a new password, node-d joins; the limit flags are forgotten.
    await writeFile(identities, ADMIN + NODE.replace("pn", "pn-2") + "- { user: node-d, password: pd, zone: zone.a, role: member }\n", { mode: 0o600 });
    const again = runCli(["nats-auth", identities, "--out", auth, "--force"]);
    expect(again.status).toBe(0);
    expect(again.stdout.split("\n")).toEqual([
      `${auth}: 6 change(s); reload nats-server (nats-server --signal reload) to apply them`,
      `  account "ONEX_ZONE_zone~2Ea": jetstream max_file 10485760 -> (unset: no limit)`,
      `  account "ONEX_ZONE_zone~2Ea": jetstream max_mem 0 -> (unset: no limit)`,
      `  account "ONEX_ZONE_zone~2Ea~MEMBERS": limits max_conn 5 -> 1000`,
      `  removed user "node-c" (account "ONEX_ZONE_zone~2Ea~MEMBERS"): a reload closes its connections`,
      `  changed the password of user "node-a" (account "ONEX_ZONE_zone~2Ea~MEMBERS"): a reload closes its connections`,
      `  added user "node-d" (account "ONEX_ZONE_zone~2Ea~MEMBERS")`,
      "",
    ]);

    // What the server does on reload is what was said.
    await reload(server);
    expect(await node.closed()).toBeInstanceOf(Error);
    expect(await other.closed()).toBeInstanceOf(Error);
    expect(admin.isClosed()).toBe(false);
    expect((await (await jetstreamManager(admin)).getAccountInfo()).limits.max_storage).toBe(-1);
    await expect(as(server, "node-d", "pd")).resolves.toBeDefined();
    await expect(as(server, "node-a", "pn-2")).resolves.toBeDefined();
  }, 60_000);

  it("streams apply for a zone added to the identities before the server reloaded its config: names the zone and its admin, and changes nothing", async () => {
    const s = server!;
    const zoneA = ADMIN + NODE.replace("pn", "pn-2");
    await writeFile(identities, zoneA, { mode: 0o600 });
    const applyAll = () => runCli(["streams", "apply", "--identities", identities, "--server", s.url]);
    expect(applyAll().status).toBe(0);
    const streamsOfA = async () => {
      const names: string[] = [];
      for await (const info of (await jetstreamManager(await as(s, "adm-a", "pa"))).streams.list()) names.push(`${info.config.name}:${JSON.stringify(info.config)}`);
      return names.sort();
    };
    const before = await streamsOfA();
    // Zone B joins the identities; the config is not regenerated and reloaded yet.
    await writeFile(identities, zoneA + "- { user: adm-b, password: pb, zone: zone.b, role: admin }\n", { mode: 0o600 });
    const early = runCli(["streams", "apply", "--identities", identities, "--server", s.url, "--max-age", "7d"]);
    expect(early.status).toBe(69);
    expect(early.stderr).toContain(`error ONEX_E_CONNECTION: zone zone.b: the server does not let in its admin adm-b (cannot connect to ${s.url}: Authorization Violation); nothing was changed. Is it running the config \`onex nats-auth ${identities}\` writes, reloaded since the identities last changed (nats-server --signal reload)?`);
    expect(await streamsOfA()).toEqual(before);
    // Regenerated and reloaded, the same apply goes through.
    expect(runCli(["nats-auth", identities, "--out", auth, "--force"]).stdout).toContain(`added account "ONEX_ZONE_zone~2Eb" with 1 user(s)`);
    await reload(s);
    const late = runCli(["streams", "apply", "--identities", identities, "--server", s.url]);
    expect([late.status, late.stderr]).toEqual([0, ""]);
    expect(late.stdout).toContain("zone zone.b (account ONEX_ZONE_zone~2Eb, as adm-b)\ncreated        ONEX_DLQ");
  }, 60_000);
});
