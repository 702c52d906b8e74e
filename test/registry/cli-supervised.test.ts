/**
 * The long-running `onex registry` commands as a process supervisor (systemd, Kubernetes) runs
 * them: each is the built command in its own process, its registry a real nats-server that the
 * test kills under it. What a service owner reads is its stderr and its exit status, so those
 * are what is asserted. Every wait is on a line of output or the process's exit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { startCli, waitForOutput, type CliProcess } from "../support/cli-process.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { makeNode } from "./fixtures.js";

let server: NatsServer;
const running: CliProcess[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  for (const cli of running) cli.child.kill("SIGKILL");
  await server?.stop();
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
