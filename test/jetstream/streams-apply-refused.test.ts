/**
 * `onex streams apply` refused part-way by the server: the server's streams are afterwards
 * exactly as before (names and configurations), and the error names the cause. Each case
 * on a server of its own, since each needs other limits.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { applyStreams, planStreams, revertStreams } from "../../runtime/jetstream/streams.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { freePort, startNatsServer, type NatsServer } from "../support/nats-server.js";

const started: NatsServer[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.stop();
});
afterAll(removeTempDirs);

async function serve(config = ""): Promise<NatsServer> {
  const server = await startNatsServer({ config });
  started.push(server);
  return server;
}

/** `fn` with a JetStream manager of `user` (none: the server's default account). */
async function asUser<T>(server: NatsServer, fn: (jsm: JetStreamManager) => Promise<T>, user?: { user: string; pass: string }): Promise<T> {
  const nc = await natsConnect({ servers: server.url, ...(user ?? {}) });
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

/** Every stream of the account, by name, with its configuration. */
async function streamsOf(server: NatsServer, user?: { user: string; pass: string }): Promise<Record<string, StreamConfig>> {
  return asUser(
    server,
    async (jsm) => {
      const all: Record<string, StreamConfig> = {};
      for await (const info of jsm.streams.list()) all[info.config.name] = info.config;
      return all;
    },
    user,
  );
}

const A = { user: "a", pass: "a" };
const apply = (server: NatsServer, ...args: string[]) => runCli(["streams", "apply", "--server", server.url, ...args]);
const applyAsA = (server: NatsServer, ...args: string[]) => runCli(["streams", "apply", "--server", server.url, "--user", "a", ...args], { env: { NATS_PASSWORD: "a" } });

describe("streams apply refused part-way changes nothing", () => {
  it("an account allowed fewer streams than the plan: refused before any is made, --dry-run too", async () => {
    const server = await serve(`accounts { A { jetstream { max_streams: 3 }, users [{ user: a, password: a }] } }`);
    for (const dryRun of [["--dry-run"], []]) {
      const result = applyAsA(server, "--zone", "zone.a", "--zone", "zone.b", ...dryRun);
      expect(result.status).toBe(3);
      expect(await streamsOf(server, A)).toEqual({});
      expect(result.stderr).toContain("ONEX_E_STREAM_CONFIG");
      expect(result.stderr).toContain("the account may hold 3 streams, has 0, and this would create 5 more");
    }
  });

  it("an account's file storage too small for the streams' size limits: refused before any is made", async () => {
    const server = await serve(`accounts { A { jetstream { max_file: 10MB }, users [{ user: a, password: a }] } }`);
    const result = applyAsA(server, "--max-bytes", "6000000", "--dlq-max-bytes", "6000000");
    expect(result.status).toBe(3);
    expect(await streamsOf(server, A)).toEqual({});
    expect(result.stderr).toContain("would reserve 12000000 bytes, more than the account's 10485760 of file storage");
  });

  it("an account that requires a size limit of every stream, or caps a stream's size below the one asked: refused before any is made, --dry-run too", async () => {
    const required = await serve(`accounts { A { jetstream { max_file: 100MB, max_bytes_required: true }, users [{ user: a, password: a }] } }`);
    const capped = await serve(`accounts { A { jetstream { max_file: 100MB, store_max_stream_bytes: 1MB }, users [{ user: a, password: a }] } }`);
    for (const dryRun of [["--dry-run"], []]) {
      const unlimited = applyAsA(required, ...dryRun);
      expect([unlimited.status, unlimited.stderr]).toEqual([3, expect.stringContaining("the account requires every stream to have a size limit (--max-bytes, and --dlq-max-bytes for the dead letters)")]);
      const large = applyAsA(capped, "--max-bytes", "2000000", "--dlq-max-bytes", "500000", ...dryRun);
      expect([large.status, large.stderr]).toEqual([3, expect.stringContaining("max_bytes 2000000 is more than the account's 1048576 per stream")]);
    }
    expect([await streamsOf(required, A), await streamsOf(capped, A)]).toEqual([{}, {}]);
  });

  it.each([
    ["storage type", { storage: StorageType.Memory }, `storage in place ("memory" -> "file")`],
    ["retention policy", { retention: RetentionPolicy.Workqueue }, `retention in place ("workqueue" -> "limits")`],
  ] as const)("an existing stream whose %s nats-server does not change in place: refused before the dead-letter stream is made", async (_what, made, says) => {
    const server = await serve();
    await asUser(server, (jsm) => jsm.streams.add({ name: "ONEX_EVENT", subjects: ["jetstream.onex.zone.*.*.*.events"], ...made }));
    const before = await streamsOf(server);
    const result = apply(server);
    expect(result.status).toBe(3);
    expect(await streamsOf(server)).toEqual(before);
    expect(result.stderr).toContain(`stream ONEX_EVENT cannot be applied: nats-server does not change a stream's ${says}`);
  });

  it("a stream onex does not plan holding some of the subjects: refused before the dead-letter stream is made", async () => {
    const server = await serve();
    await asUser(server, (jsm) => jsm.streams.add({ name: "AUDIT", subjects: ["jetstream.onex.zone.x.>"] }));
    const before = await streamsOf(server);
    const result = apply(server);
    expect(result.status).toBe(3);
    expect(await streamsOf(server)).toEqual(before);
    expect(result.stderr).toContain("stream AUDIT, which onex does not plan, holds subjects such as jetstream.onex.zone.x.>");
  });

  it("a creation the server refuses on write (its own storage too small): the streams made before it are deleted", async () => {
    const server = await serve(`jetstream { max_file_store: 10MB }`);
    const result = apply(server, "--max-bytes", "20000000");
    expect(result.status).toBe(3);
    expect(await streamsOf(server)).toEqual({});
    expect(result.stderr).toContain("the server refused the configuration of stream ONEX_EVENT: insufficient storage resources available; undone: ONEX_DLQ; the streams are as they were before this run");
  });

  it("an update then a creation refused on write (the server's storage too small): the updated stream gets its configuration back", async () => {
    const server = await serve(`jetstream { max_file_store: 10MB }`);
    await asUser(server, (jsm) => applyStreams(jsm, planStreams([v0_1]).filter((p) => p.name === "ONEX_DLQ")));
    const before = await streamsOf(server);
    // The dead letters' age is an update the server takes; the event stream's size one it refuses on creation.
    const result = apply(server, "--dlq-max-age", "7d", "--max-bytes", "20000000");
    expect(result.status).toBe(3);
    expect(await streamsOf(server)).toEqual(before);
    expect(result.stderr).toContain("the server refused the configuration of stream ONEX_EVENT: insufficient storage resources available; undone: ONEX_DLQ; the streams are as they were before this run");
  });

  it("an update the server does not reverse (deny delete and purge set on a stream made without them), then a creation refused on write: the update is named as NOT undone", async () => {
    const server = await serve(`jetstream { max_file_store: 10MB }`);
    const letters = planStreams([v0_1]).find((p) => p.name === "ONEX_DLQ")!;
    await asUser(server, (jsm) => jsm.streams.add({ name: letters.name, subjects: [...letters.subjects] }));
    const result = apply(server, "--max-bytes", "20000000");
    expect(result.status).toBe(3);
    expect(result.stderr).toContain("NOT undone: ONEX_DLQ (updated by this run, and could not be undone: stream configuration update can not cancel deny");
    const left = (await streamsOf(server)).ONEX_DLQ;
    expect([left?.deny_delete, left?.deny_purge]).toEqual([true, true]);
  });

  it("replicas above 1 on a single server, which nats-server 2.9 takes in an update and then does not load at its next start: refused before anything is written, --dry-run too", async () => {
    const server = await serve();
    expect(apply(server).status).toBe(0);
    const before = await streamsOf(server);
    for (const args of [["--replicas", "3", "--dry-run"], ["--replicas", "3"]]) {
      const result = apply(server, ...args);
      expect(result.status).toBe(3);
      expect(result.stderr).toContain("error ONEX_E_STREAM_CONFIG: stream ONEX_DLQ cannot be applied: the server is in no cluster (it reports stream ONEX_DLQ without one) and keeps one copy of a stream; with 3 replicas nats-server would not load the stream at its next start; apply without `--replicas` (in code: planStreams with no `replicas` in its limits or dead-letter limits), or apply to a cluster. Nothing was changed");
      expect(await streamsOf(server)).toEqual(before);
    }
    // Taken, the update left a server that came back without the streams (and their messages).
    await server.kill();
    await server.restart();
    expect(await streamsOf(server)).toEqual(before);
  });

  it("replicas above 1 on a fresh single server, leaf node or server naming a cluster it has no port for, with no stream to read: the dry run is refused as the apply is, and nothing is written", async () => {
    const leafPort = await freePort();
    const single = await serve();
    await serve(`leafnodes { listen: "127.0.0.1:${leafPort}" }`);
    const leaf = await serve(`server_name: leafy\nleafnodes { remotes: [{ url: "nats-leaf://127.0.0.1:${leafPort}" }] }\njetstream { domain: leaf }`);
    // Its INFO names the cluster; its JetStream runs alone all the same.
    const named = await serve(`server_name: solo-1\ncluster { name: solo }`);
    for (const server of [single, leaf, named]) {
      for (const args of [["--replicas", "3", "--dry-run"], ["--replicas", "3"]]) {
        const result = apply(server, ...args);
        // The dry run said "would create", and the apply created ONEX_DLQ before the server refused it and it was undone.
        expect([args, result.status, result.stdout]).toEqual([args, 3, ""]);
        expect(result.stderr).toContain("error ONEX_E_STREAM_CONFIG: stream ONEX_DLQ cannot be applied: the server is in no cluster (it answers that its JetStream runs without clustering) and keeps one copy of a stream; with 3 replicas nats-server would not load the stream at its next start; apply without `--replicas` (in code: planStreams with no `replicas` in its limits or dead-letter limits), or apply to a cluster. Nothing was changed");
        expect(await streamsOf(server)).toEqual({});
      }
    }
  });

  it("replicas above 1 on a leaf node, whose INFO names a cluster (its own name) though its JetStream is alone: refused as on a single server", async () => {
    const leafPort = await freePort();
    await serve(`leafnodes { listen: "127.0.0.1:${leafPort}" }`);
    const leaf = await serve(`server_name: leafy\nleafnodes { remotes: [{ url: "nats-leaf://127.0.0.1:${leafPort}" }] }\njetstream { domain: leaf }`);
    expect(apply(leaf).status).toBe(0);
    // The server's INFO is no sign of a cluster: a leaf node reports its name as its cluster's.
    const nc = await natsConnect({ servers: leaf.url });
    const infoCluster = nc.info?.cluster;
    await nc.close();
    expect(infoCluster).toBe("leafy");
    const before = await streamsOf(leaf);
    const result = apply(leaf, "--replicas", "3");
    expect(result.status).toBe(3);
    expect(result.stderr).toContain("the server is in no cluster");
    expect(await streamsOf(leaf)).toEqual(before);
  });

  it("undoing leaves a created stream that holds a message since, and says so", async () => {
    const server = await serve();
    const revert = await asUser(server, async (jsm) => {
      const changes = await applyStreams(jsm, planStreams([v0_1]));
      // A publisher that raced in between the creation and the undo.
      await jsm.jetstream().publish("onex.dlq.x.y", "letter");
      return revertStreams(jsm, changes);
    });
    expect(revert.undone).toEqual(["ONEX_EVENT"]);
    expect(revert.left).toEqual([{ stream: "ONEX_DLQ", reason: "created by this run, and holds 1 message(s) and 0 consumer(s) since, so it was not deleted" }]);
    expect(Object.keys(await streamsOf(server))).toEqual(["ONEX_DLQ"]);
  });
});

describe("streams apply --identities refused in the second zone changes neither zone", () => {
  const ADMINS = [
    { user: "admin-a", password: "pa", zone: "zone.a", role: "admin" },
    { user: "admin-b", password: "pb", zone: "zone.b", role: "admin" },
  ];
  const adminA = { user: "admin-a", pass: "pa" };
  const adminB = { user: "admin-b", pass: "pb" };

  async function twoZones(serverConfig: string): Promise<{ server: NatsServer; identities: string }> {
    const dir = await tempDir();
    const identities = join(dir, "identities.yaml");
    await writeFile(identities, ADMINS.map((u) => `- { user: ${u.user}, password: ${u.password}, zone: ${u.zone}, role: ${u.role} }`).join("\n"), { mode: 0o600 });
    const auth = runCli(["nats-auth", identities]);
    expect(auth.status).toBe(0);
    return { server: await serve(`${auth.stdout}\n${serverConfig}`), identities };
  }

  it("a refusal said in advance in zone B: zone A is not written either", async () => {
    const { server, identities } = await twoZones("");
    await asUser(server, (jsm) => jsm.streams.add({ name: "AUDIT", subjects: ["onex.dlq.>"] }), adminB);
    const before = [await streamsOf(server, adminA), await streamsOf(server, adminB)];
    const result = apply(server, "--identities", identities);
    expect(result.status).toBe(3);
    expect([await streamsOf(server, adminA), await streamsOf(server, adminB)]).toEqual(before);
    expect(result.stderr).toContain("stream AUDIT, which onex does not plan, holds subjects such as onex.dlq.>");
  });

  it("a creation refused on write in zone B: zone B's streams made before it and all of zone A's are deleted", async () => {
    // The server's storage, shared by the zones' accounts: zone A's event stream reserves 6 MB, zone B's does not fit beside it.
    const { server, identities } = await twoZones("jetstream { max_file_store: 10MB }");
    const result = apply(server, "--identities", identities, "--max-bytes", "6000000");
    expect(result.status).toBe(3);
    expect([await streamsOf(server, adminA), await streamsOf(server, adminB)]).toEqual([{}, {}]);
    expect(result.stderr).toContain("the server refused the configuration of stream ONEX_EVENT~zone~2Eb: insufficient storage resources available");
    // Each zone's account has its own ONEX_DLQ: every stream undone is named with its zone.
    expect(result.stderr).toContain("undone: ONEX_DLQ~zone~2Eb (zone zone.b), ONEX_DLQ (zone zone.b), ONEX_EVENT~zone~2Ea (zone zone.a), ONEX_DLQ~zone~2Ea (zone zone.a), ONEX_DLQ (zone zone.a); the streams are as they were before this run");
  });
});
