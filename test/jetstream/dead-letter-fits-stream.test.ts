/**
 * Dead letters written to a dead-letter stream smaller than a letter (`onex streams apply
 * --dlq-max-bytes`, discard old as always for letters). nats-server stores a letter larger than
 * the whole stream, acknowledges it and drops it at once: the subscription then terminated the
 * original for a letter nobody could read. A letter is now cut to fit the stream as it is
 * configured when the letter is written, listed and replayed from the stored original; one
 * that cannot fit even without its body is not written, and its original is kept; and a
 * subscription whose dead-letter stream cannot hold even that is refused as it opens.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { connect, type OnexClient } from "../../runtime/jetstream/client.js";
import { ErrorCode } from "../../runtime/errors.js";
import { UNSCOPED_LETTER_ZONE } from "../../runtime/jetstream/streams.js";
import { exportPublicKey, keyRing } from "../../runtime/trust/keys.js";
import { eventually } from "../registry/fixtures.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { client, makeKeys, taskDispatch, ZONE } from "./fixtures.js";

const keys = makeKeys();
let server: NatsServer;
let nodeKey: string;
let publisher: OnexClient;

const cli = (...args: string[]) => runCli([...args, "--server", server.url]);

/** The stored messages of `stream`, by sequence. */
async function stored(stream: string): Promise<{ count: number; bytes: number; data: (seq: number) => Promise<Uint8Array> }> {
  const nc = await natsConnect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(stream);
  const bodies = new Map<number, Uint8Array>();
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) bodies.set(seq, (await jsm.streams.getMessage(stream, { seq }))!.data);
  await nc.close();
  return { count: state.messages, bytes: state.bytes, data: async (seq) => bodies.get(seq)! };
}

/** A receiver that trusts only a stranger's key, so it dead-letters what the node signed; its warnings are kept. */
async function receiver(warnings: string[]): Promise<OnexClient> {
  return connect({ servers: server.url, identity: keys.agent, keys: keyRing([keys.stranger.publicKey]), trust: { zone: ZONE, keyOfEntity: () => keys.stranger.keyId, logger: { warn: (text: string) => warnings.push(text) } } });
}

beforeAll(async () => {
  server = await startNatsServer();
  nodeKey = join(await tempDir(), "node.pub");
  await writeFile(nodeKey, exportPublicKey(keys.node.publicKey));
  publisher = await client(server.url, keys.node, [keys.node]);
}, 30_000);
afterAll(async () => {
  await publisher?.close();
  await server?.stop();
  await removeTempDirs();
});

describe("a dead letter larger than its dead-letter stream", () => {
  it("is stored cut to fit --dlq-max-bytes, listed, shown, and replayed whole from the stored original", async () => {
    const applied = cli("streams", "apply", "--dlq-max-bytes", "4096");
    expect(applied.status, applied.stderr).toBe(0);
    const big = taskDispatch("t-big");
    big.payload.input = { blob: "x".repeat(20_000) };
    await publisher.publish(big);
    const original = await stored("ONEX_EVENT");
    const originalBody = await original.data(1);

    const warnings: string[] = [];
    const agent = await receiver(warnings);
    const sub = await agent.subscribe([v0_1.TaskDispatch], { durable: "big" });
    const consuming = (async () => {
      for await (const d of sub) await d.ack();
    })();
    await eventually(async () => sub.stats.deadLettered === 1, 20_000, "the letter");
    await sub.stop();
    await consuming;
    await agent.close();
    expect(warnings.filter((w) => w.includes("cannot dead-letter"))).toEqual([]);

    // Kept, within the stream's limit: before, the stream held nothing once the letter was acknowledged.
    const letters = await stored("ONEX_DLQ");
    expect(letters.count).toBe(1);
    expect(letters.bytes).toBeLessThanOrEqual(4096);

    const listed = cli("dlq", "list", "--json");
    expect(listed.status, listed.stderr).toBe(0);
    const [letter, ...more] = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { sequence: number; reason: string; truncatedFrom?: number; digest?: string });
    expect(more).toEqual([]);
    expect(letter).toMatchObject({ reason: ErrorCode.SignerUnknown, truncatedFrom: originalBody.length });
    expect(letter!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const shown = cli("dlq", "show", String(letter!.sequence));
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(ErrorCode.SignerUnknown);

    const replayed = cli("dlq", "replay", String(letter!.sequence), "--key", nodeKey);
    expect([replayed.status, replayed.stderr]).toEqual([0, ""]);
    const after = await stored("ONEX_EVENT");
    expect(after.count).toBe(2);
    expect(Buffer.from(await after.data(2)).equals(Buffer.from(originalBody))).toBe(true);
  }, 60_000);

  it("too small for even a letter without its body: a subscription is refused as it opens, before its consumer is made", async () => {
    const applied = cli("streams", "apply", "--dlq-max-bytes", "100");
    expect(applied.status, applied.stderr).toBe(0);
    const agent = await receiver([]);
    try {
      // Opened, it kept every message it rejected, handed back again and again, each holding one of its maxInFlight slots.
      const refused = await agent.subscribe([v0_1.TaskDispatch], { durable: "too-small" }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ code: ErrorCode.StreamFull, message: expect.stringContaining("cannot hold any letter of this subscription") });
      const nc = await natsConnect({ servers: server.url });
      const consumers: string[] = [];
      for await (const info of (await jetstreamManager(nc)).consumers.list("ONEX_EVENT")) consumers.push(info.name);
      await nc.close();
      expect(consumers).not.toContain("too-small");
    } finally {
      await agent.close();
    }
  }, 60_000);

  it("lowered under a running subscription below even a letter without its body, the original is kept, and lettered whole once the stream is raised", async () => {
    const roomy = String(1024 * 1024 + 4126);
    expect(cli("streams", "apply", "--dlq-max-bytes", roomy).status).toBe(0);
    const warnings: string[] = [];
    const agent = await receiver(warnings);
    const sub = await agent.subscribe([v0_1.TaskDispatch], { durable: "small", deliver: "new", ackWaitMs: 2_000 });
    const consuming = (async () => {
      for await (const d of sub) await d.ack();
    })();
    const lowered = cli("streams", "apply", "--dlq-max-bytes", "100");
    expect(lowered.status, lowered.stderr).toBe(0);
    const message = taskDispatch("t-small");
    await publisher.publish(message);
    // The letter cannot be written, said each time the message comes back: nothing is terminated or stored.
    await eventually(async () => warnings.filter((w) => w.includes("cannot dead-letter") && w.includes("cannot hold a letter")).length >= 2, 20_000, "the refused letters");
    expect(sub.stats.deadLettered).toBe(0);
    expect((await stored("ONEX_DLQ")).count).toBe(0);

    // The operator raises the limit under the running subscription: the letter is written whole.
    const raised = cli("streams", "apply", "--dlq-max-bytes", roomy);
    expect(raised.status, raised.stderr).toBe(0);
    await eventually(async () => sub.stats.deadLettered === 1, 20_000, "the letter once the stream is raised");
    await sub.stop();
    await consuming;
    await agent.close();
    const listed = cli("dlq", "list", "--json");
    expect(listed.status, listed.stderr).toBe(0);
    const letters = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { reason: string; subject: string; truncatedFrom?: number });
    const letter = letters.find((l) => l.subject === message.subject());
    expect(letter).toMatchObject({ reason: ErrorCode.SignerUnknown });
    expect(letter!.truncatedFrom).toBeUndefined();
  }, 60_000);

  it("with a max_msg_size of its own (set outside onex), is cut to it, where it was refused on every attempt", async () => {
    const applied = cli("streams", "apply");
    expect(applied.status, applied.stderr).toBe(0);
    const nc = await natsConnect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    const { config } = await jsm.streams.info("ONEX_DLQ");
    await jsm.streams.update("ONEX_DLQ", { ...config, max_msg_size: 2_048 });
    await nc.close();
    const huge = taskDispatch("t-huge");
    huge.payload.input = { blob: "y".repeat(10_000) };
    await publisher.publish(huge);
    const waiting = (await stored("ONEX_EVENT")).count;

    const warnings: string[] = [];
    const agent = await receiver(warnings);
    const sub = await agent.subscribe([v0_1.TaskDispatch], { durable: "sized", ackWaitMs: 2_000 });
    const consuming = (async () => {
      for await (const d of sub) await d.ack();
    })();
    await eventually(async () => sub.stats.deadLettered === waiting, 20_000, "the letters");
    await sub.stop();
    await consuming;
    await agent.close();
    expect(warnings.filter((w) => w.includes("cannot dead-letter"))).toEqual([]);
    const listed = cli("dlq", "list", "--json");
    expect(listed.status, listed.stderr).toBe(0);
    const letters = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { subject: string; consumer: string; truncatedFrom?: number; body: unknown });
    const letter = letters.find((l) => l.subject === huge.subject() && l.consumer === "sized");
    expect(letter!.truncatedFrom).toBeGreaterThan(10_000);
  }, 60_000);
  it("moved to another stream under a running subscription, is cut to that stream's limits, not to those of the stream it went to before", async () => {
    const applied = cli("streams", "apply");
    expect(applied.status, applied.stderr).toBe(0);
    const warnings: string[] = [];
    const agent = await receiver(warnings);
    const sub = await agent.subscribe([v0_1.TaskDispatch], { durable: "moved", deliver: "new", ackWaitMs: 2_000 });
    const consuming = (async () => {
      for await (const d of sub) await d.ack();
    })();
    // A first letter, to ONEX_DLQ: its limits have been read once.
    await publisher.publish(taskDispatch("t-before"));
    await eventually(async () => sub.stats.deadLettered === 1, 20_000, "the first letter");

    // The operator gives the unscoped letters a stream of their own (as zoning a deployment
    // does for each zone's), with a max_msg_size of its own; ONEX_DLQ keeps none.
    const nc = await natsConnect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    const { config } = await jsm.streams.info("ONEX_DLQ");
    await jsm.streams.update("ONEX_DLQ", { ...config, subjects: ["onex.dlq.elsewhere.>"], max_msg_size: -1 });
    await jsm.streams.add({ name: "LETTERS", subjects: [`onex.dlq.${UNSCOPED_LETTER_ZONE}.>`], max_msg_size: 2_048 });
    const moved = taskDispatch("t-moved");
    moved.payload.input = { blob: "z".repeat(10_000) };
    await publisher.publish(moved);
    // Before, ONEX_DLQ's limits were read on, and LETTERS refused the letter on every attempt.
    await eventually(async () => sub.stats.deadLettered === 2, 20_000, "the letter to the new stream");
    await sub.stop();
    await consuming;
    await agent.close();
    const { state } = await jsm.streams.info("LETTERS");
    expect(state.messages).toBe(1);
    const letter = await jsm.streams.getMessage("LETTERS", { seq: state.first_seq });
    expect(Number(letter!.header.get("Onex-Dlq-Truncated"))).toBeGreaterThan(10_000);
    expect(letter!.data.length).toBeLessThan(2_048);
    await nc.close();
  }, 60_000);
});
