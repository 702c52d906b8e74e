/**
 * A zoned deployment (`onex nats-auth`, `onex streams apply --identities`) whose protocol team
 * grows v0.3 (test/support/grown-v03.ts: a new subject template `task` with a zone part, a new
 * type on it, a renamed field, a type v0.2 lacks), and an operator who does what the docs say:
 * `onex generate`, `onex nats-auth` again (the running server reloads it), `onex streams apply
 * --identities` again — all in the project's folder, on its own schemas. Then v0.2 and v0.3
 * services side by side, and a hostile zone-A member against the grown deployment, with every
 * stream and subject taken from the SDKs rather than written down.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Refusal } from "../../runtime/control-plane.js";
import { ErrorCode } from "../../runtime/errors.js";
import { inboxPrefixOf } from "../../runtime/jetstream/authorization.js";
import { connect, type OnexClient } from "../../runtime/jetstream/client.js";
import { DEAD_LETTER_STREAM, hasZonePart, zoneFilterOf, zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import type { ProtocolSdk } from "../../runtime/protocol-sdk.js";
import type { VersionGraph } from "../../runtime/transform.js";
import { exportPublicKey, generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { onex, type Run } from "../cli/cli-harness.js";
import { TASK_TEMPLATE, writeGrownV03 } from "../support/grown-v03.js";
import { trimToV02 } from "../support/v03-from-v02.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { copySchemas, removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { refusedByServer } from "./zones.js";

const ZONE_A = "zone.a";
const ZONE_B = "zone.b";
const USERS = {
  adminA: { user: "admin-a", password: "admin-a-pw", zone: ZONE_A, role: "admin" },
  adminB: { user: "admin-b", password: "admin-b-pw", zone: ZONE_B, role: "admin" },
  a: { user: "node-a", password: "a-pw", zone: ZONE_A, role: "member" },
  b: { user: "node-b", password: "b-pw", zone: ZONE_B, role: "member" },
} as const;
const keys = { a: generateKeyPair(), b: generateKeyPair() };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Sdk = ProtocolSdk & Record<string, any>;
let root: string;
let server: NatsServer;
let v02: Sdk;
let v03: Sdk;
let graph: VersionGraph;
/** What `streams apply --identities` printed after the growth. */
let reapplied: Run;
/** Messages zone A's stream of the `event` template held before the growth. */
let eventsBefore: number;
const opened: { close(): Promise<void> }[] = [];

function ok(run: Run): Run {
  if (run.code !== 0) throw new Error(`exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}

/** `onex ...args` in the project's folder, as its operator runs it. */
const inProject = (args: string[], input?: string, env?: Record<string, string>) => onex(root, args, input, env);

async function member(who: "a" | "b"): Promise<OnexClient> {
  const u = USERS[who];
  const client = await connect({
    servers: server.url,
    identity: keys[who],
    keys: keyRing([keys.a.publicKey, keys.b.publicKey]),
    user: u.user,
    pass: u.password,
    inboxPrefix: inboxPrefixOf(u.user),
    trust: { zone: u.zone, logger: { warn() {} } },
  });
  opened.push(client);
  return client;
}

async function raw(who: keyof typeof USERS): Promise<NatsConnection> {
  const u = USERS[who];
  const nc = await natsConnect({ servers: server.url, user: u.user, pass: u.password, inboxPrefix: inboxPrefixOf(u.user) });
  opened.push({ close: () => nc.close() });
  return nc;
}

const trustOf = (zone: string) => ({ signer: "unsigned", level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() });
const source = (zone: string, entityType: string, entityId: string) => ({ zone, entity_type: entityType, entity_id: entityId });

/**
 * The server config as an operator writes it: JetStream in the file, beside the accounts of
 * `onex nats-auth`. (Started with `-js` on the command line instead, nats-server 2.9 shuts
 * JetStream down on every reload of a file without a `jetstream` block.)
 */
const serverConfig = (storeDir: string, auth: string) => `jetstream { store_dir: ${JSON.stringify(storeDir)} }\n${auth}`;

/** Writes `onex nats-auth`'s config where the server reads it and has the running server reload it. */
async function reloadAuth(auth: string): Promise<void> {
  const reloaded = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString().includes("Reloaded server configuration")) {
        server.process.stderr!.off("data", onData);
        resolve();
      }
    };
    server.process.stderr!.on("data", onData);
  });
  await writeFile(join(server.storeDir, "server.conf"), serverConfig(server.storeDir, auth));
  server.process.kill("SIGHUP");
  await reloaded;
}

const load = async (path: string) => (await import(pathToFileURL(join(root, "generated", path)).href)) as Record<string, unknown>;

beforeAll(async () => {
  const project = await copySchemas();
  root = project.root;
  await trimToV02(project.schemas);
  ok(inProject(["generate"]));
  await writeFile(join(root, "identities.yaml"), Object.values(USERS).map((u) => `- { user: ${u.user}, password: ${u.password}, zone: ${u.zone}, role: ${u.role} }`).join("\n"), { mode: 0o600 });

  // The deployment at v0.2, with a zone member's messages in it.
  const storeDir = await tempDir("onex-grown-nats-");
  server = await startNatsServer({ jetstream: false, storeDir, config: serverConfig(storeDir, ok(inProject(["nats-auth", "identities.yaml"])).stdout) });
  ok(inProject(["streams", "apply", "--identities", "identities.yaml", "--server", server.url]));
  v02 = (await load("v0.2/index.ts")) as Sdk;
  const a = await member("a");
  for (let i = 0; i < 3; i++) {
    await a.publish(v02.ResultReady.create({ source: source(ZONE_A, "task", `t-${i}`), trust: trustOf(ZONE_A), payload: { task_id: `t-${i}`, status: "succeeded", output: { n: i } } }));
  }
  const adminA = await jetstreamManager(await raw("adminA"));
  eventsBefore = (await adminA.streams.info(zoneStreamNameOf("event", ZONE_A))).state.messages;

  // The protocol grows; the operator regenerates, reloads the permissions and applies the streams.
  await writeGrownV03(project.schemas);
  ok(inProject(["generate"]));
  await reloadAuth(ok(inProject(["nats-auth", "identities.yaml"])).stdout);
  reapplied = ok(inProject(["streams", "apply", "--identities", "identities.yaml", "--server", server.url]));
  v03 = (await load("v0.3/index.ts")) as Sdk;
  graph = (await load("transforms/index.ts")).versionGraph as VersionGraph;
}, 180_000);

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
  await server?.stop();
  await removeTempDirs();
});

/** Every subject template with a zone part, of every version the project has, by key. */
function zoneTemplates(): Map<string, ProtocolSdk["subjectTemplates"][string]> {
  const out = new Map<string, ProtocolSdk["subjectTemplates"][string]>();
  for (const sdk of [v02, v03]) for (const [key, template] of Object.entries(sdk.subjectTemplates)) if (hasZonePart(template)) out.set(key, template);
  return out;
}

describe("growing the protocol in a zoned deployment", () => {
  it("streams apply creates each zone's stream of the new template and leaves the old ones, and their messages, as they were", async () => {
    expect([...zoneTemplates().keys()].sort()).toEqual(["event", TASK_TEMPLATE]);
    const lines = reapplied.stdout.split("\n").map((line) => line.trim().split(/\s+/));
    for (const zone of [ZONE_A, ZONE_B]) {
      expect(lines).toContainEqual(["created", zoneStreamNameOf(TASK_TEMPLATE, zone)]);
      expect(lines).toContainEqual(["unchanged", zoneStreamNameOf("event", zone)]);
    }
    const adminA = await jetstreamManager(await raw("adminA"));
    expect((await adminA.streams.info(zoneStreamNameOf("event", ZONE_A))).state.messages).toBe(eventsBefore);
    expect((await adminA.streams.info(zoneStreamNameOf(TASK_TEMPLATE, ZONE_A))).config.subjects).toEqual([zoneFilterOf(v03.subjectTemplates[TASK_TEMPLATE]!, ZONE_A)]);
  });

  it("a member publishes and subscribes on the new template in its own zone, on that zone's stream of it", async () => {
    const a = await member("a");
    const progress = v03.TaskProgress.create({ source: source(ZONE_A, "task", "t-p"), trust: trustOf(ZONE_A), payload: { task_id: "t-p", percent: 40 } });
    expect((await a.publish(progress)).stream).toBe(zoneStreamNameOf(TASK_TEMPLATE, ZONE_A));
    const sub = await a.subscribe([v03.TaskProgress], { zone: ZONE_A, entityId: "t-p", deliver: "all" });
    expect(sub.stream).toBe(zoneStreamNameOf(TASK_TEMPLATE, ZONE_A));
    const got = await sub[Symbol.asyncIterator]().next();
    expect(got.value!.message.id).toBe(progress.id);
    await got.value!.ack();
    await sub.stop();
  });

  it("v0.2 and v0.3 services read each other: the renamed field converted both ways, the type v0.2 lacks refused, the log migrated", async () => {
    const a = await member("a");
    // A v0.3 service reads what the v0.2 service stored before the growth, in v0.3.
    const up = await a.subscribeVersioned({ sdk: v03, sources: [v02, v03], graph }, { zone: ZONE_A, entityType: "task", entityId: "t-1", deliver: "all" });
    const old = (await up[Symbol.asyncIterator]().next()).value!;
    expect([old.receivedVersion, old.message.protocol.version, old.message.payload]).toEqual(["0.2", "0.3", { task_id: "t-1", status: "succeeded", result: { n: 1 } }]);
    await old.ack();
    await up.stop();

    // A v0.2 service reads a v0.3 service's result in v0.2, and is told of the drained node it cannot represent.
    const refusals: Refusal[] = [];
    const down = await a.subscribeVersioned({ sdk: v02, sources: [v02, v03], graph }, { zone: ZONE_A, entityType: "node", entityId: "n-new", onRefusal: (r) => refusals.push(r) });
    await a.publish(v03.NodeDrained.create({ source: source(ZONE_A, "node", "n-new"), trust: trustOf(ZONE_A), payload: { node_id: "n-new" } }));
    const result = v03.ResultReady.create({ source: source(ZONE_A, "node", "n-new"), trust: trustOf(ZONE_A), payload: { task_id: "t-9", status: "failed", result: { why: "x" } } });
    await a.publish(result);
    const got = (await down[Symbol.asyncIterator]().next()).value!;
    expect([got.receivedVersion, got.message.id, got.message.payload]).toEqual(["0.3", result.id, { task_id: "t-9", status: "failed", output: { why: "x" } }]);
    await got.ack();
    await down.stop();
    expect(refusals.map((r) => [r.code, r.type, r.fromVersion])).toEqual([[ErrorCode.NoCounterpart, "event.node.drained", "0.3"]]);

    // The v0.2 log, migrated across with the project's own transform.
    const log = [0, 2].map((i) => JSON.stringify(v02.ResultReady.create({ source: source(ZONE_A, "task", `t-${i}`), trust: trustOf(ZONE_A), payload: { task_id: `t-${i}`, status: "succeeded", output: { n: i } } }))).join("\n") + "\n";
    const migrated = ok(inProject(["migrate", "v0.2", "v0.3", "-"], log)).stdout.trim().split("\n").map((line) => JSON.parse(line) as { payload: object; protocol: { version: string } });
    expect(migrated.map((m) => [m.protocol.version, m.payload])).toEqual([0, 2].map((i) => ["0.3", { task_id: `t-${i}`, status: "succeeded", result: { n: i } }]));
  });
});

describe("a hostile zone-A member in the grown deployment", () => {
  it("is confined on every zone template, the new one included, exactly as on the old: zone B's subjects, streams and consumers, and every dead-letter stream, are refused", async () => {
    const nc = await raw("a");
    const letters = [DEAD_LETTER_STREAM, `${DEAD_LETTER_STREAM}~zone~2Ea`, `${DEAD_LETTER_STREAM}~zone~2Eb`];
    const attempts: [string, string][] = [];
    for (const [key, template] of zoneTemplates()) {
      const mine = zoneStreamNameOf(key, ZONE_A);
      const theirs = zoneStreamNameOf(key, ZONE_B);
      const filterA = zoneFilterOf(template, ZONE_A);
      const filterB = zoneFilterOf(template, ZONE_B);
      attempts.push(
        [filterB.replaceAll("*", "x"), "{}"],
        [`$JS.API.CONSUMER.CREATE.${theirs}`, JSON.stringify({ stream_name: theirs, config: { filter_subject: filterA } })],
        [`$JS.API.CONSUMER.CREATE.${theirs}.spy.${filterB}`, JSON.stringify({ stream_name: theirs, config: { name: "spy", filter_subject: filterB } })],
        [`$JS.API.CONSUMER.DURABLE.CREATE.${theirs}.spy`, JSON.stringify({ stream_name: theirs, config: { durable_name: "spy" } })],
        [`$JS.API.CONSUMER.INFO.${theirs}.any`, "{}"],
        [`$JS.API.CONSUMER.DELETE.${theirs}.any`, "{}"],
        [`$JS.API.CONSUMER.MSG.NEXT.${theirs}.any`, JSON.stringify({ batch: 1 })],
        [`$JS.API.CONSUMER.NAMES.${theirs}`, "{}"],
        [`$JS.API.STREAM.INFO.${theirs}`, "{}"],
        [`$JS.API.STREAM.MSG.GET.${theirs}`, JSON.stringify({ seq: 1 })],
        [`$JS.ACK.${theirs}.any.1.1.1.0.0`, ""],
        // Its own zone's stream of the template may be read, never changed or removed.
        [`$JS.API.STREAM.UPDATE.${mine}`, JSON.stringify({ name: mine, subjects: [filterB] })],
        [`$JS.API.STREAM.DELETE.${mine}`, "{}"],
        [`$JS.API.STREAM.PURGE.${mine}`, "{}"],
        [`$JS.API.STREAM.MSG.DELETE.${mine}`, JSON.stringify({ seq: 1 })],
        [`$JS.API.STREAM.CREATE.MIRROR_${key.toUpperCase()}`, JSON.stringify({ name: `MIRROR_${key.toUpperCase()}`, mirror: { name: theirs } })],
      );
    }
    for (const stream of letters) {
      attempts.push([`$JS.API.CONSUMER.CREATE.${stream}`, JSON.stringify({ stream_name: stream, config: {} })], [`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ seq: 1 })], [`$JS.API.STREAM.INFO.${stream}`, "{}"]);
    }
    const notRefused: string[] = [];
    for (const [subject, body] of attempts) if (!(await refusedByServer(nc, subject, body))) notRefused.push(subject);
    expect(notRefused).toEqual([]);

    // The typed client: refused on zone B's stream of the new template, with its code.
    const a = await member("a");
    await expect(a.subscribe([v03.TaskProgress], { zone: ZONE_B })).rejects.toMatchObject({ code: ErrorCode.PermissionDenied });
    await expect(a.publish(v03.TaskProgress.create({ source: source(ZONE_B, "task", "t-b"), trust: trustOf(ZONE_B), payload: { task_id: "t-b", percent: 1 } }))).rejects.toMatchObject({ code: ErrorCode.PermissionDenied });
  });
  it("its letters of the new template are its zone's, and the zone's admin lists them with their targets and replays the genuine one onto its own subject", async () => {
    const b = await member("b");
    // One delivery only: a message the handler fails is dead-lettered at once, with its genuine body.
    const sub = await b.subscribe([v03.TaskProgress], { zone: ZONE_B, entityId: "t-letters", maxDeliver: 1 });
    // Zone B's member again, with a key nobody trusts: a forgery, dead-lettered as it arrives.
    const forger = await connect({ servers: server.url, identity: generateKeyPair(), keys: keyRing([keys.b.publicKey]), user: USERS.b.user, pass: USERS.b.password, inboxPrefix: inboxPrefixOf(USERS.b.user) });
    opened.push(forger);
    const forged = v03.TaskProgress.create({ source: source(ZONE_B, "task", "t-letters"), trust: trustOf(ZONE_B), payload: { task_id: "t-letters", percent: 99 } });
    await forger.publish(forged);
    const genuine = v03.TaskProgress.create({ source: source(ZONE_B, "task", "t-letters"), trust: trustOf(ZONE_B), payload: { task_id: "t-letters", percent: 1 } });
    await b.publish(genuine);
    const got = (await sub[Symbol.asyncIterator]().next()).value!;
    expect(got.message.id).toBe(genuine.id);
    await got.nak();
    await sub.stop();

    const asAdminB = (args: string[]) => inProject([...args, "--server", server.url, "--user", USERS.adminB.user], undefined, { NATS_PASSWORD: USERS.adminB.password });
    const rows = ok(asAdminB(["dlq", "list", "--zone", ZONE_B, "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { sequence: number; deadLetterStream: string; stream: string; reason: string; target: string; writer: string });
    expect(rows.map((r) => [r.deadLetterStream, r.stream, r.writer.split("/")[0], r.target])).toEqual([
      [`${DEAD_LETTER_STREAM}~zone~2Eb`, zoneStreamNameOf(TASK_TEMPLATE, ZONE_B), ZONE_B, forged.subject()],
      [`${DEAD_LETTER_STREAM}~zone~2Eb`, zoneStreamNameOf(TASK_TEMPLATE, ZONE_B), ZONE_B, genuine.subject()],
    ]);
    expect(rows[0]!.reason).toBe(ErrorCode.SignerUnknown);

    const keyFile = join(root, "b.pub");
    await writeFile(keyFile, exportPublicKey(keys.b.publicKey));
    const replayed = ok(asAdminB(["dlq", "replay", String(rows[1]!.sequence), "--zone", ZONE_B, "--key", keyFile]));
    expect(replayed.stdout).toContain(`-> ${zoneStreamNameOf(TASK_TEMPLATE, ZONE_B)}#`);
    expect(replayed.stdout).toContain(`(${genuine.subject()}, signed by ${keys.b.keyId})`);
    const forgery = asAdminB(["dlq", "replay", String(rows[0]!.sequence), "--zone", ZONE_B, "--key", keyFile]);
    expect([forgery.code, forgery.stderr]).toEqual([1, expect.stringContaining(`error ${ErrorCode.DeadLetterRefused}:`)]);
  });
});
