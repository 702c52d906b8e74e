/**
 * `onex streams apply` stopped by the operator (Ctrl-C, a kill) between two stream writes: the
 * built command against a real nats-server, its requests passing a proxy that holds its first
 * stream create (a slow server), so the signal reaches it while that write is in progress.
 */
import { jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { startCli, waitForOutput } from "../support/cli-process.js";
import { startNatsProxy, type NatsProxy } from "../support/nats-proxy.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { eventually } from "../registry/fixtures.js";

const started: { stop(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});

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
