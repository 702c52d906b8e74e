/**
 * The long-running `onex registry` commands as a process supervisor (systemd, Kubernetes) runs
 * them: each is the built command in its own process, its registry a real nats-server that the
 * test kills under it. What a service owner reads is its stderr and its exit status, so those
 * are what is asserted. Every wait is on a line of output or the process's exit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { startCli, waitForOutput, type CliProcess } from "../support/cli-process.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { runCli } from "../support/run-cli.js";
import type { ServerProcess } from "../support/server-process.js";
import { makeNode } from "./fixtures.js";

let server: NatsServer;
let etcd: EtcdServer;
const running: CliProcess[] = [];

beforeAll(async () => {
  [server, etcd] = await Promise.all([startNatsServer(), startEtcdServer()]);
});
afterAll(async () => {
  for (const cli of running) cli.child.kill("SIGKILL");
  await Promise.all([server?.stop(), etcd?.stop()]);
});

function onex(args: string[], input?: string): CliProcess {
  const cli = startCli(args, input === undefined ? {} : { input });
  running.push(cli);
  return cli;
}

describe("onex registry register --heartbeat under a supervisor", () => {
  it("stopped while the registry is down, exits 69 saying the entry was not deregistered and stays listed until its TTL lapses", async () => {
    const url = `${server.url}?bucket=down${process.pid}&ttl=3s`;
    const node = makeNode("zone.trusted.org");
    const cli = onex(["registry", "register", "-", "--heartbeat", "--registry", url], JSON.stringify({ entry: node.entry, identity: node.identity }));
    await waitForOutput(cli, (stdout) => stdout.includes(node.address));
    await server.kill();
    try {
      // The heartbeat has felt the outage: the deregistration that SIGTERM asks for cannot be made.
      await waitForOutput(cli, (_, stderr) => /heartbeat of .* failed/.test(stderr));
      cli.child.kill("SIGTERM");
      expect(await cli.exited).toBe(69);
      const last = cli.stderr().trim().split("\n").at(-1);
      expect(last).toMatch(new RegExp(`^error ${ErrorCode.RegistryUnavailable}: stopped, but could not deregister ${node.address}: .*; the entry stays listed until its TTL \\(3 s\\) lapses$`));
    } finally {
      await server.restart();
    }
  }, 60_000);
});

describe("onex registry watch under a supervisor", () => {
  const backends: [string, () => { url: string; server: ServerProcess }][] = [
    ["NATS KV", () => ({ url: `${server.url}?bucket=watch${process.pid}&ttl=30s`, server })],
    ["etcd", () => ({ url: `${etcd.url}?prefix=/watch/&ttl=30s`, server: etcd })],
  ];
  it.each(backends)("on %s, says on stderr when its server goes away and when it is back, goes on printing changes, and exits 0 on SIGTERM", async (_, backend) => {
    const { url, server: registryServer } = backend();
    const register = (node: ReturnType<typeof makeNode>) => {
      const result = runCli(["registry", "register", "-", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) });
      expect([result.status, result.stderr]).toEqual([0, ""]);
    };
    const before = makeNode("zone.trusted.org");
    register(before);
    const cli = onex(["registry", "watch", "--registry", url]);
    // The entry present at the start is printed once the watch is established.
    await waitForOutput(cli, (stdout) => stdout.includes(before.address));
    await registryServer.kill();
    try {
      await waitForOutput(cli, (_, stderr) => stderr.includes("the watch lost its connection"));
    } finally {
      await registryServer.restart();
    }
    await waitForOutput(cli, (_, stderr) => /the watch is connected to .* again/.test(stderr));
    const after = makeNode("zone.trusted.org");
    register(after);
    await waitForOutput(cli, (stdout) => stdout.includes(after.address));
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(0);
    // One line per event, each a warning a log reader can pick out: no more, no less.
    expect(cli.stderr().trim().split("\n")).toEqual([
      expect.stringMatching(/^warning onex registry: the watch lost its connection to (NATS|etcd) .*; reconnecting, it resumes after the last change it read$/),
      expect.stringMatching(/^warning onex registry: the watch is connected to (NATS|etcd) .*again; resuming$/),
    ]);
  }, 90_000);
});
