import { writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { exportPublicKey } from "../../runtime/trust/keys.js";
import { startCli } from "../support/cli-process.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
let server: NatsServer;
let publisher: OnexClient;
const cli = (...args: string[]) => runCli([...args, "--server", server.url]);

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await publisher?.close();
  await server?.stop();
  await removeTempDirs();
});

describe("onex streams, replay and dlq", () => {
  it("streams apply creates the streams, is idempotent, and --dry-run shows changes without making them", () => {
    const dry = cli("streams", "apply", "--dry-run");
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain("would create   ONEX_EVENT");
    expect(dry.stdout).toContain('subjects: undefined -> ["jetstream.onex.zone.*.*.*.events"]');
    const first = cli("streams", "apply");
    expect(first.stdout).toMatch(/created\s+ONEX_DLQ/);
    expect(first.stdout).toMatch(/created\s+ONEX_EVENT/);
    const again = cli("streams", "apply");
    expect(again.stdout).toMatch(/unchanged\s+ONEX_DLQ\n\s*unchanged\s+ONEX_EVENT/);
    const limited = cli("streams", "apply", "--max-age", "7d", "--dry-run");
    expect(limited.stdout).toContain("would update   ONEX_EVENT");
    expect(limited.stdout).toContain("max_age: 0 -> 604800000000000");
  });

  it("streams apply --dlq-max-bytes bounds the dead-letter stream, the oldest letters going first", async () => {
    const bounded = cli("streams", "apply", "--dlq-max-bytes", "1048576");
    expect(bounded.status, bounded.stderr).toBe(0);
    expect(bounded.stdout).toMatch(/updated\s+ONEX_DLQ/);
    const nc = await natsConnect({ servers: server.url });
    try {
      expect((await (await jetstreamManager(nc)).streams.info("ONEX_DLQ")).config).toMatchObject({ max_bytes: 1_048_576, discard: "old" });
    } finally {
      await nc.close();
    }
    // Left out again, the bound is lifted: the flag is the configuration, as every limit is.
    expect(cli("streams", "apply").stdout).toMatch(/updated\s+ONEX_DLQ/);
  });

  it("streams apply --duplicate-window sets the event streams' de-duplication window, and left out again restores JetStream's default", async () => {
    expect(cli("streams", "apply").status).toBe(0);
    const windowed = cli("streams", "apply", "--duplicate-window", "10m");
    expect([windowed.status, windowed.stderr]).toEqual([0, ""]);
    expect(windowed.stdout).toMatch(/updated\s+ONEX_EVENT\n\s+duplicate_window: 120000000000 -> 600000000000/);
    // Letters each have an id of their own: the dead-letter stream keeps its window.
    expect(windowed.stdout).toMatch(/unchanged\s+ONEX_DLQ/);
    const nc = await natsConnect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info("ONEX_EVENT")).config.duplicate_window).toBe(600_000_000_000);
      expect((await jsm.streams.info("ONEX_DLQ")).config.duplicate_window).toBe(120_000_000_000);
      expect(cli("streams", "apply").stdout).toMatch(/updated\s+ONEX_EVENT\n\s+duplicate_window: 600000000000 -> 120000000000/);
      expect((await jsm.streams.info("ONEX_EVENT")).config.duplicate_window).toBe(120_000_000_000);
    } finally {
      await nc.close();
    }
  });

  it("replay prints history from a sequence or a time, filtered by type", async () => {
    publisher = await client(server.url, keys.node, [keys.node]);
    const first = await publisher.publish(stateUpdate("n-cli", "idle"));
    await publisher.publish(stateUpdate("n-cli", "busy"));
    const bySeq = cli("replay", "--from-seq", String(first.sequence + 1));
    expect(bySeq.status).toBe(0);
    const lines = bySeq.stdout.trim().split("\n").map((l) => JSON.parse(l) as v0_1.StateUpdate);
    expect(lines.map((m) => m.payload.state)).toEqual(["busy"]);
    const since = cli("replay", "--since", new Date(Date.now() - 60_000).toISOString(), "--type", "signal.state.update", "--with-meta");
    expect(since.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { sequence: number }).sequence)).toEqual([first.sequence, first.sequence + 1]);
    expect(cli("replay").stderr).toContain(ErrorCode.Usage);
  });

  it("dlq list, show and replay", async () => {
    // A receiver that trusts only a stranger's key dead-letters the node's messages.
    const receiver = await client(server.url, keys.agent, [keys.stranger]);
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-cli", durable: "cli-dlq" });
    const deadline = Date.now() + 10_000;
    const consuming = (async () => {
      for await (const d of sub) await d.ack();
    })();
    while (sub.stats.deadLettered < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await sub.stop();
    await consuming;
    await receiver.close();

    const list = cli("dlq", "list", "--json");
    expect(list.status).toBe(0);
    const letters = list.stdout.trim().split("\n").map((l) => JSON.parse(l) as { sequence: number; reason: string; consumer: string });
    expect(letters.map((l) => [l.reason, l.consumer])).toEqual([
      [ErrorCode.SignerUnknown, "cli-dlq"],
      [ErrorCode.SignerUnknown, "cli-dlq"],
    ]);
    const show = cli("dlq", "show", String(letters[0]!.sequence));
    expect(JSON.parse(show.stdout)).toMatchObject({ reason: ErrorCode.SignerUnknown, subject: stateUpdate("n-cli").subject(), body: { type: "signal.state.update" } });
    expect(cli("dlq", "show", "999").stderr).toContain(ErrorCode.NotFound);
    // Replay verifies each original with the keys it is given: the node's.
    const nodeKey = join(await tempDir(), "node.pub");
    await writeFile(nodeKey, exportPublicKey(keys.node.publicKey));
    const replay = cli("dlq", "replay", String(letters[0]!.sequence), String(letters[1]!.sequence), "--key", nodeKey);
    expect(replay.status).toBe(0);
    expect(replay.stdout.trim().split("\n")).toHaveLength(2);
  });

  it("a server that is not there is ONEX_E_CONNECTION with exit 69", () => {
    const result = runCli(["dlq", "list", "--server", "nats://127.0.0.1:1"]);
    expect(result.status).toBe(69);
    expect(result.stderr).toContain(ErrorCode.ConnectionFailed);
  });

  it("a port that accepts the connection and never answers (NATS or etcd) is exit 69, and the command ends", async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const runs = [startCli(["dlq", "list", "--server", `nats://${host}`]), startCli(["registry", "list", "--registry", `nats://${host}`]), startCli(["registry", "list", "--registry", `etcd://${host}`])];
    try {
      // Ended by the test's own timeout, the runs fail; ended by themselves, they report the server.
      const statuses = await Promise.all(runs.map((run) => run.exited));
      expect([statuses, runs.map((run) => run.stderr())]).toEqual([
        [69, 69, 69],
        [expect.stringMatching(/^error ONEX_E_CONNECTION: .*timeout/), expect.stringMatching(/^error ONEX_E_REGISTRY_UNAVAILABLE: .*timeout/), expect.stringMatching(/^error ONEX_E_REGISTRY_UNAVAILABLE: cannot reach etcd/)],
      ]);
    } finally {
      for (const run of runs) run.child.kill("SIGKILL");
      silent.close();
    }
  }, 40_000);

  it("a server without JetStream is ONEX_E_CONNECTION with exit 69, said once for every command that needs it", async () => {
    const plain = await startNatsServer({ jetstream: false });
    try {
      for (const args of [["streams", "apply"], ["streams", "apply", "--dry-run"], ["replay", "--from-seq", "1"], ["dlq", "list"], ["dlq", "show", "1"]]) {
        const result = runCli([...args, "--server", plain.url]);
        expect([args.join(" "), result.status, result.stderr.trim()]).toEqual([
          args.join(" "),
          69,
          `error ${ErrorCode.ConnectionFailed}: ${plain.url} has no JetStream for this user (nats-server needs -js, and the user's account JetStream)`,
        ]);
      }
    } finally {
      await plain.stop();
    }
  });
});
