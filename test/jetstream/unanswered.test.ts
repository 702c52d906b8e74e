/**
 * What `onex dlq`, `onex replay` and `onex streams apply` ask of JetStream, through a server
 * that answers nothing for longer than one request waits (a cluster electing a leader, a
 * server restarting): the dead-letter streams listed and found, a stream's info read, a letter
 * replayed and a stream updated all go on once it answers, and the replay is stored once.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { getDeadLetter, listDeadLetters, type DeadLetter } from "../../runtime/jetstream/dead-letter.js";
import { planReplay, replayDeadLetter } from "../../runtime/jetstream/dead-letter-replay.js";
import { readHistory } from "../../runtime/jetstream/history.js";
import { applyStreams, planStreams, type StreamChange } from "../../runtime/jetstream/streams.js";
import { keyRing } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
let server: NatsServer;
let raw: NatsConnection;
let jsm: JetStreamManager;
let letter: DeadLetter;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  raw = await natsConnect({ servers: server.url });
  jsm = await jetstreamManager(raw);
  // A receiver that trusts only a stranger's key dead-letters the node's message.
  const publisher = await client(server.url, keys.node, [keys.node]);
  await publisher.publish(stateUpdate("n-unanswered", "busy"));
  await publisher.close();
  const receiver = await client(server.url, keys.agent, [keys.stranger]);
  const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-unanswered", durable: "unanswered" });
  const consuming = (async () => {
    for await (const d of sub) await d.ack();
  })();
  const deadline = Date.now() + 10_000;
  while (sub.stats.deadLettered < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await sub.stop();
  await consuming;
  await receiver.close();
  const letters = (await listDeadLetters(jsm)).filter((l) => l.consumer === "unanswered");
  expect(letters).toHaveLength(1);
  letter = letters[0]!;
});
afterAll(async () => {
  await raw?.close();
  await server?.stop();
});

/** Runs `fn` with the server stopped for `ms`: longer than nats.js's 5 s for one request. */
async function answeringNothingFor<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  server.process.kill("SIGSTOP");
  const resume = setTimeout(() => server.process.kill("SIGCONT"), ms);
  try {
    return await fn();
  } finally {
    clearTimeout(resume);
    server.process.kill("SIGCONT");
  }
}

describe("dead letters and history through a server that answers nothing for 6 s", () => {
  it("lists, finds and reads the letters and the history, replays a letter once, and applies the streams", async () => {
    const plan = await planReplay(jsm, letter, { sdks: [v0_1], keys: keyRing([keys.node.publicKey]) });
    const before = (await jsm.streams.info(letter.stream)).state.messages;
    const settled = await answeringNothingFor(6_000, () =>
      Promise.allSettled([
        listDeadLetters(jsm), // every dead-letter stream, by name
        getDeadLetter(jsm, letter.sequence), // the stream found by its subject
        (async () => {
          const read = [];
          for await (const entry of readHistory(jetstream(raw), jsm, letter.stream, { fromSequence: 1 })) read.push(entry.sequence);
          return read;
        })(),
        replayDeadLetter(jetstream(raw), plan),
        applyStreams(jsm, planStreams([v0_1, v0_2], { maxMessages: 1_000_000 })), // each stream read, then updated
      ]),
    );
    expect(settled.map((s) => (s.status === "rejected" ? String(s.reason) : s.status))).toEqual(["fulfilled", "fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
    const [listed, found, history, replayed, applied] = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [DeadLetter[], DeadLetter, number[], { stream: string }, StreamChange[]];
    expect(listed.map((l) => l.sequence)).toContain(letter.sequence);
    expect(found.sequence).toBe(letter.sequence);
    // The original, and the replay when it was stored before the history's end was read.
    expect(history[0]).toBe(letter.originalSequence);
    // The publish sent while the server was stopped is stored when it resumes; the one sent
    // again after its acknowledgement timed out carries the same id and is not stored twice.
    expect(replayed.stream).toBe(letter.stream);
    expect((await jsm.streams.info(letter.stream)).state.messages).toBe(before + 1);
    expect(applied.map((c) => [c.name, c.action])).toEqual([
      ["ONEX_DLQ", "unchanged"],
      ["ONEX_EVENT", "update"],
    ]);
    expect((await jsm.streams.info("ONEX_EVENT")).config.max_msgs).toBe(1_000_000);
  }, 30_000);
});
