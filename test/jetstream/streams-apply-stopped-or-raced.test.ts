/**
 * `onex streams apply` stopped by the operator (Ctrl-C, a kill) between two stream writes, and
 * two runs at once: the built command against a real nats-server, its requests passing a proxy
 * that holds its first stream create (a slow server), so the signal, or the other run, comes
 * while that write is in progress.
 */
import { writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { applyStreams, DEAD_LETTER_STREAM, planStreams, revertStreams } from "../../runtime/jetstream/streams.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { runCliAsync, startCli, waitForOutput } from "../support/cli-process.js";
import { startNatsProxy, type NatsProxy } from "../support/nats-proxy.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { eventually } from "../registry/fixtures.js";

const started: { stop(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});
afterAll(removeTempDirs);

async function serverBehindProxy(): Promise<{ server: NatsServer; proxy: NatsProxy }> {
  const server = await startNatsServer();
  started.push(server);
  const proxy = await startNatsProxy(server.port);
  started.push({ stop: () => proxy.close() });
  return { server, proxy };
}

/** Every stream of the server's account, by name. */
async function streamsOf(server: NatsServer): Promise<Record<string, StreamConfig>> {
  const nc = await natsConnect({ servers: server.url });
  try {
    const all: Record<string, StreamConfig> = {};
    for await (const info of (await jetstreamManager(nc)).streams.list()) all[info.config.name] = info.config;
    return all;
  } finally {
    await nc.close();
  }
}

describe("streams apply stopped part-way", () => {
  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`${signal} during the first of two creates: that write finishes, is undone, and stderr says so; exit ${status}`, async () => {
      const { server, proxy } = await serverBehindProxy();
      const held = proxy.holdRequestsFrom("$JS.API.STREAM.CREATE.");
      const cli = startCli(["streams", "apply", "--server", proxy.url]);
      started.push({ stop: async () => void (await cli.stop()) });
      await eventually(async () => held.holding(), 30_000, "the first create sent");
      cli.child.kill(signal);
      await waitForOutput(cli, (_out, err) => err.includes(`stopping (${signal})`));
      proxy.releaseRequests();
      expect(await cli.exited).toBe(status);
      expect(cli.stderr()).toContain(`stopped by ${signal} before all streams were written: this run had created ONEX_DLQ; undone: ONEX_DLQ; the streams are as they were before this run, and a run again applies the whole plan`);
      expect(cli.stdout()).toBe("");
      expect(Object.keys(await streamsOf(server))).toEqual([]);
    });
  }

  it("a signal during the last write: the plan is applied whole and kept, and stderr says so; exit 130", async () => {
    const { server, proxy } = await serverBehindProxy();
    const held = proxy.holdRequestsFrom("$JS.API.STREAM.CREATE.ONEX_EVENT");
    const cli = startCli(["streams", "apply", "--server", proxy.url]);
    started.push({ stop: async () => void (await cli.stop()) });
    await eventually(async () => held.holding(), 30_000, "the last create sent");
    cli.child.kill("SIGINT");
    await waitForOutput(cli, (_out, err) => err.includes("stopping (SIGINT)"));
    proxy.releaseRequests();
    expect(await cli.exited).toBe(130);
    expect(cli.stderr()).toContain("stopped by SIGINT during the last stream write: the run had applied the whole plan (created ONEX_DLQ, created ONEX_EVENT), and nothing is undone");
    expect(cli.stdout()).toMatch(/created +ONEX_DLQ\ncreated +ONEX_EVENT\n/);
    expect(Object.keys(await streamsOf(server)).sort()).toEqual(["ONEX_DLQ", "ONEX_EVENT"]);
  });

  it("a signal while the streams are read, all as planned already: stderr says nothing was written; exit 130", async () => {
    const { server, proxy } = await serverBehindProxy();
    expect((await runCliAsync(["streams", "apply", "--server", server.url])).status).toBe(0);
    const held = proxy.holdRequestsFrom("$JS.API.STREAM.INFO.");
    const cli = startCli(["streams", "apply", "--server", proxy.url]);
    started.push({ stop: async () => void (await cli.stop()) });
    await eventually(async () => held.holding(), 30_000, "the first read sent");
    cli.child.kill("SIGINT");
    await waitForOutput(cli, (_out, err) => err.includes("stopping (SIGINT)"));
    proxy.releaseRequests();
    expect(await cli.exited).toBe(130);
    expect(cli.stderr()).toContain("stopped by SIGINT: the streams were as planned already, and nothing was written");
    expect(cli.stdout()).toMatch(/unchanged +ONEX_DLQ\nunchanged +ONEX_EVENT\n/);
  });

  it("a signal while connecting to a server that does not answer ends the run as stopped, not as a connection failure; exit 130", async () => {
    // A port that accepts the connection and never speaks NATS: the connect waits for its time-out.
    const connections: Socket[] = [];
    const silent = createServer((socket) => void connections.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    started.push({ stop: () => void (connections.forEach((c) => c.destroy()), silent.close()) });
    const identities = join(await tempDir(), "identities.yaml");
    await writeFile(identities, "- { user: admin-a, password: admin-a-pw, zone: zone.a, role: admin }", { mode: 0o600 });
    // One account, and each zone's account reached as its admin (the zones are read first).
    for (const more of [[], ["--identities", identities]]) {
      const cli = startCli(["streams", "apply", "--server", `nats://127.0.0.1:${(silent.address() as AddressInfo).port}`, ...more]);
      started.push({ stop: async () => void (await cli.stop()) });
      const before = connections.length;
      await eventually(async () => connections.length > before, 30_000, "the connection made");
      cli.child.kill("SIGINT");
      expect([more, await cli.exited]).toEqual([more, 130]);
      expect(cli.stderr()).toContain("stopped by SIGINT before all streams were written: this run had written no stream; the streams are as they were before this run, and a run again applies the whole plan");
      expect(cli.stderr()).not.toContain("ONEX_E_CONNECTION");
    }
  });

  it("a second signal during the undo ends the run at once, naming what it had written", async () => {
    const { server, proxy } = await serverBehindProxy();
    let held = proxy.holdRequestsFrom("$JS.API.STREAM.CREATE.");
    const cli = startCli(["streams", "apply", "--server", proxy.url]);
    started.push({ stop: async () => void (await cli.stop()) });
    await eventually(async () => held.holding(), 30_000, "the first create sent");
    cli.child.kill("SIGINT");
    await waitForOutput(cli, (_out, err) => err.includes("stopping (SIGINT)"));
    proxy.releaseRequests();
    // The undo's delete waits at the proxy as the create did: the run is in its undo when the second signal comes.
    held = proxy.holdRequestsFrom("$JS.API.STREAM.DELETE.");
    await eventually(async () => held.holding(), 30_000, "the undo's delete sent");
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(143);
    expect(cli.stderr()).toContain("stopped by SIGTERM again, during the undo: this run had created ONEX_DLQ; the undo did not finish");
    expect(Object.keys(await streamsOf(server))).toEqual(["ONEX_DLQ"]);
  });
});

describe("streams apply --identities stopped in its second zone", () => {
  it("the second zone's write finishes, and both zones' writes are undone and named; exit 130", async () => {
    const dir = await tempDir();
    const identities = join(dir, "identities.yaml");
    const admins = [
      { user: "admin-a", password: "admin-a-pw", zone: "zone.a" },
      { user: "admin-b", password: "admin-b-pw", zone: "zone.b" },
    ];
    await writeFile(identities, admins.map((u) => `- { user: ${u.user}, password: ${u.password}, zone: ${u.zone}, role: admin }`).join("\n"), { mode: 0o600 });
    const server = await startNatsServer({ config: runCli(["nats-auth", identities]).stdout });
    started.push(server);
    const proxy = await startNatsProxy(server.port);
    started.push({ stop: () => proxy.close() });
    // Zone B's second create (its account's ONEX_DLQ is its first): zone A's streams are written by then.
    const held = proxy.holdRequestsFrom(`$JS.API.STREAM.CREATE.${DEAD_LETTER_STREAM}~zone~2Eb`);
    const cli = startCli(["streams", "apply", "--identities", identities, "--server", proxy.url]);
    started.push({ stop: async () => void (await cli.stop()) });
    await eventually(async () => held.holding(), 30_000, "zone B's first create sent");
    cli.child.kill("SIGINT");
    await waitForOutput(cli, (_out, err) => err.includes("stopping (SIGINT)"));
    proxy.releaseRequests();
    expect(await cli.exited).toBe(130);
    // Each zone's account has its own ONEX_DLQ: every stream is named with its zone.
    const zoneA = ["ONEX_DLQ", "ONEX_DLQ~zone~2Ea", "ONEX_EVENT~zone~2Ea"].map((s) => `${s} (zone zone.a)`);
    const zoneB = ["ONEX_DLQ", "ONEX_DLQ~zone~2Eb"].map((s) => `${s} (zone zone.b)`);
    expect(cli.stderr()).toContain(`stopped by SIGINT before all streams were written: this run had ${[...zoneA, ...zoneB].map((s) => `created ${s}`).join(", ")}`);
    expect(cli.stderr()).toContain(`; undone: ${[...zoneB.reverse(), ...zoneA.reverse()].join(", ")}; the streams are as they were before this run, and a run again applies the whole plan`);
    for (const admin of admins) {
      const nc = await natsConnect({ servers: server.url, user: admin.user, pass: admin.password });
      try {
        const names: string[] = [];
        for await (const info of (await jetstreamManager(nc)).streams.list()) names.push(info.config.name);
        expect(names).toEqual([]);
      } finally {
        await nc.close();
      }
    }
  });
});

describe("streams apply --identities stopped while it reads the first zone", () => {
  it("ends at the next zone's connect, which is never made, rather than waiting out its time-out as a connection failure; exit 130", async () => {
    const identities = join(await tempDir(), "identities.yaml");
    await writeFile(identities, "- { user: admin-a, password: admin-a-pw, zone: zone.a, role: admin }\n- { user: admin-b, password: admin-b-pw, zone: zone.b, role: admin }", { mode: 0o600 });
    const server = await startNatsServer({ config: runCli(["nats-auth", identities]).stdout });
    started.push(server);
    const proxy = await startNatsProxy(server.port);
    started.push({ stop: () => proxy.close() });
    // Zone A's first stream read waits at the proxy (a slow server): the signal comes once it is connected.
    const read = proxy.holdRequestsFrom("$JS.API.STREAM.");
    const cli = startCli(["streams", "apply", "--identities", identities, "--server", proxy.url]);
    started.push({ stop: async () => void (await cli.stop()) });
    await eventually(async () => read.holding(), 30_000, "zone A's first read sent");
    cli.child.kill("SIGINT");
    await waitForOutput(cli, (_out, err) => err.includes("stopping (SIGINT)"));
    proxy.releaseRequests();
    // A connect from now on (zone B's) gets no answer, as from a server that stopped answering.
    const connect = proxy.holdRequestsFrom("CONNECT {");
    expect(await cli.exited).toBe(130);
    expect(cli.stderr()).toContain("stopped by SIGINT before all streams were written: this run had written no stream; the streams are as they were before this run, and a run again applies the whole plan");
    expect(cli.stderr()).not.toContain("ONEX_E_CONNECTION");
    expect(connect.holding()).toBe(false);
  });
});

describe("two streams apply runs at once", () => {
  /** Run B (through the proxy) has read the server, and waits to send its first create, while run A applies `aArgs` whole. */
  async function raced(aArgs: string[], bArgs: string[]) {
    const { server, proxy } = await serverBehindProxy();
    const held = proxy.holdRequestsFrom("$JS.API.STREAM.CREATE.");
    const b = startCli(["streams", "apply", "--server", proxy.url, ...bArgs]);
    started.push({ stop: async () => void (await b.stop()) });
    await eventually(async () => held.holding(), 30_000, "run B's first create sent");
    const a = await runCliAsync(["streams", "apply", "--server", server.url, ...aArgs]);
    proxy.releaseRequests();
    return { server, a, b: { status: await b.exited, stdout: b.stdout(), stderr: b.stderr() } };
  }

  it("the run that fails undoes nothing the other created: it names the stream configured otherwise", async () => {
    const { server, a, b } = await raced(["--max-msgs", "5"], []);
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/created +ONEX_DLQ\ncreated +ONEX_EVENT\n/);
    expect(b.status).toBe(3);
    expect(b.stderr).toContain("error ONEX_E_STREAM_CONFIG: stream ONEX_EVENT was created by another run (another onex streams apply, or an operator) after this run read the server, configured otherwise (max_msgs), so this run left it as it is");
    expect(b.stderr).toContain("the streams are as they were before this run");
    const streams = await streamsOf(server);
    expect(Object.keys(streams).sort()).toEqual(["ONEX_DLQ", "ONEX_EVENT"]);
    expect(streams.ONEX_EVENT!.max_msgs).toBe(5);
  });

  it("two runs of one plan both succeed, and only the one that created a stream says it did", async () => {
    const { server, a, b } = await raced([], []);
    expect([a.status, b.status]).toEqual([0, 0]);
    expect(a.stdout).toMatch(/created +ONEX_DLQ\ncreated +ONEX_EVENT\n/);
    expect(b.stdout).toMatch(/unchanged +ONEX_DLQ\nunchanged +ONEX_EVENT\n/);
    expect(Object.keys(await streamsOf(server)).sort()).toEqual(["ONEX_DLQ", "ONEX_EVENT"]);
  });
});

describe("the undo of an update changed again since", () => {
  it("is not put back: another run's or an operator's later change stays, and the undo says so", async () => {
    const server = await startNatsServer();
    started.push(server);
    const nc = await natsConnect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      await applyStreams(jsm, planStreams([v0_1]));
      const changes = await applyStreams(jsm, planStreams([v0_1], { maxMessages: 5 }));
      expect(changes.find((c) => c.name === "ONEX_EVENT")?.action).toBe("update");
      // Another run sets its own limit after this one's update.
      await jsm.streams.update("ONEX_EVENT", { ...(await jsm.streams.info("ONEX_EVENT")).config, max_msgs: 7 });
      const revert = await revertStreams(jsm, changes);
      expect(revert.undone).toEqual([]);
      expect(revert.left).toEqual([{ stream: "ONEX_EVENT", reason: "updated by this run, and changed again since (max_msgs), so it was not put back" }]);
      expect((await jsm.streams.info("ONEX_EVENT")).config.max_msgs).toBe(7);
    } finally {
      await nc.close();
    }
  });
});
