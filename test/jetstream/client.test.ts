import { headers as natsHeaders, connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { readHistory } from "../../runtime/jetstream/history.js";
import { planReplay, replayDeadLetter } from "../../runtime/jetstream/dead-letter-replay.js";
import { keyRing } from "../../runtime/trust/keys.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import type { Delivery, Subscription, VersionedDelivery } from "../../runtime/control-plane.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { StoredMessageReplay } from "../../runtime/receive/stored-message-replay.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { sameFastShape } from "../support/hidden-class.js";
import { startNatsProxy } from "../support/nats-proxy.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { ZONE, applyBundledStreams, client, handleUntil, makeKeys, stateUpdate, taskDispatch } from "./fixtures.js";

let server: NatsServer;
let raw: NatsConnection;
const keys = makeKeys();
let publisher: OnexClient;
let receiver: OnexClient;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  raw = await natsConnect({ servers: server.url });
  publisher = await client(server.url, keys.node, [keys.node]);
  receiver = await client(server.url, keys.agent, [keys.node]);
});

afterAll(async () => {
  await publisher?.close();
  await receiver?.close();
  await raw?.close();
  await server?.stop();
});

/** Takes `n` deliveries from a subscription, acknowledging each. */
async function take<M>(sub: Subscription<M>, n: number, ack = true): Promise<Delivery<M>[]> {
  const out: Delivery<M>[] = [];
  if (n === 0) return out;
  for await (const d of sub) {
    if (ack) await d.ack();
    out.push(d);
    if (out.length === n) break;
  }
  return out;
}

describe("typed, signed publish and subscribe", () => {
  it("delivers a signed message as an instance of its class, with the signer verified", async () => {
    const msg = stateUpdate("n-typed", "busy");
    const receipt = await publisher.publish(msg);
    expect(receipt).toMatchObject({ stream: "ONEX_EVENT", duplicate: false, subject: msg.subject() });

    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-typed", deliver: "all" });
    const [d] = await take(sub, 1);
    await sub.stop();
    expect(d!.message).toBeInstanceOf(v0_1.StateUpdate);
    const state: "idle" | "busy" | "draining" | "offline" = d!.message.payload.state;
    expect(state).toBe("busy");
    expect(d!.message.id).toBe(msg.id);
    expect(d!.message.trust.signer).toBe(keys.node.keyId);
    expect(d!.message.trust.signature).toMatch(/^ed25519:/);
    expect(d!.signer).toBe(keys.node.keyId);
    expect(d!.warnings).toEqual([]);
    expect(d!.sequence).toBe(receipt.sequence);
  });

  it("sets type and version headers and de-duplicates by message id", async () => {
    const msg = stateUpdate("n-dedupe");
    const first = await publisher.publish(msg);
    const again = await publisher.publish(msg);
    expect(again.duplicate).toBe(true);
    expect(again.sequence).toBe(first.sequence);
    const stored = (await (await jetstreamManager(raw)).streams.getMessage("ONEX_EVENT", { seq: first.sequence }))!;
    expect(stored.header.get("Onex-Type")).toBe("signal.state.update");
    expect(stored.header.get("Onex-Version")).toBe("0.1");
    expect(stored.header.get("Nats-Msg-Id")).toBe(msg.id);
  });

  it("refuses to publish a message that no longer validates", async () => {
    const msg = stateUpdate("n-bad");
    (msg.payload as { state: string }).state = "asleep";
    await expect(publisher.publish(msg)).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
  });

  it("validates what a message holds, not what a toJSON it was given returns, and no other validation skips the JSON-data checks meanwhile", async () => {
    const msg = taskDispatch("t-own-tojson");
    const inner: boolean[] = [];
    const withDate = { ...msg.toJSON(), payload: { ...msg.payload, input: { at: new Date(0) } } };
    // A member named toJSON is data like any other: here a function, which no message may hold.
    const given = taskDispatch("t-own-tojson").toJSON();
    (msg as unknown as Record<string, unknown>).toJSON = () => ({
      ...given,
      get id() {
        inner.push(v0_1.validators.TaskDispatch(withDate));
        return given.id;
      },
    });
    await expect(publisher.publish(msg)).rejects.toMatchObject({ code: ErrorCode.CanonicalJson });
    expect(inner).not.toContain(true);
    expect(v0_1.validators.TaskDispatch(withDate)).toBe(false);
  });

  it("publishMany pipelines acknowledgements in a bounded window and keeps order", async () => {
    const messages = Array.from({ length: 500 }, (_, i) => taskDispatch(`t-many-${i}`));
    const receipts = await publisher.publishMany(messages, { window: 64 });
    expect(receipts).toHaveLength(500);
    for (let i = 1; i < receipts.length; i++) expect(receipts[i]!.sequence).toBeGreaterThan(receipts[i - 1]!.sequence);
  });

  it("publishMany keeps exactly `window` publishes in flight, and hands each receipt to its own message", async () => {
    const c = await client(server.url, keys.node, [keys.node]);
    const publish = c.publish.bind(c);
    let inFlight = 0;
    let most = 0;
    const byId = new Map<string, number>();
    const messages = Array.from({ length: 200 }, (_, i) => taskDispatch(`t-window-${i}`));
    let secondStored!: () => void;
    const second = new Promise<void>((resolve) => (secondStored = resolve));
    c.publish = async (message, options) => {
      most = Math.max(most, ++inFlight);
      try {
        // The first is sent once the second is stored, so its acknowledgement comes after later ones'.
        if (message === messages[0]) await second;
        const receipt = await publish(message, options);
        byId.set(message.id, receipt.sequence);
        if (message === messages[1]) secondStored();
        return receipt;
      } finally {
        inFlight--;
      }
    };
    const receipts = await c.publishMany(messages, { window: 8 });
    await c.close();
    expect(most).toBe(8);
    expect(receipts.map((r) => r.sequence)).toEqual(messages.map((m) => byId.get(m.id)));
    expect(receipts[0]!.sequence).toBeGreaterThan(receipts[1]!.sequence);
  });

  it("publishMany stops at the first message that fails: those before it are stored, none after it is sent", async () => {
    const messages = Array.from({ length: 20 }, (_, i) => stateUpdate("n-stop", i % 2 === 0 ? "idle" : "busy"));
    (messages[4]!.payload as { state: string }).state = "asleep";
    await expect(publisher.publishMany(messages, { window: 1 })).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
    const jsm = await jetstreamManager(raw);
    const info = await jsm.streams.info("ONEX_EVENT", { subjects_filter: messages[0]!.subject() });
    expect(info.state.subjects?.[messages[0]!.subject()]).toBe(4);
  });

  it("hands out deliveries with fast properties and one hidden class, whose original is read when asked for, through a Proxy too", async () => {
    const sent = [stateUpdate("n-shape", "busy"), stateUpdate("n-shape", "idle")];
    for (const m of sent) await publisher.publish(m);
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-shape", deliver: "all" });
    const [a, b] = (await take(sub, 2)) as unknown as VersionedDelivery<v0_1.StateUpdate>[];
    await sub.stop();
    expect(sameFastShape(a!, b!)).toBe(true);
    expect([a!.original.id, new Proxy(b!, {}).original.id]).toEqual(sent.map((m) => m.id));
    expect(a!.signer).toBe(keys.node.keyId);
    // original is on the prototype, not an own member: a spread or JSON of a delivery leaves it out.
    expect(Object.keys({ ...a! })).toEqual(expect.arrayContaining(["message", "signer", "subject", "sequence", "deliveries", "ack"]));
    expect(Object.keys({ ...a! })).not.toContain("original");
  });

  it("filters by zone and entity, and skips types the subscription does not handle", async () => {
    await publisher.publish(taskDispatch("t-filter"));
    await publisher.publish(stateUpdate("t-filter"));
    const sub = await receiver.subscribe([v0_1.TaskDispatch], { zone: ZONE, entityType: "task", entityId: "t-filter" });
    const [d] = await take(sub, 1);
    expect(d!.message).toBeInstanceOf(v0_1.TaskDispatch);
    expect(d!.message.payload.task_id).toBe("t-filter");
    await sub.stop();
  });
});

describe("durable subscriptions and replay", () => {
  it("a durable consumer resumes where it stopped: nothing lost, nothing twice", async () => {
    await publisher.publishMany(Array.from({ length: 20 }, () => stateUpdate("n-durable")));
    const seen: string[] = [];
    let sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-durable", durable: "durable-test", maxInFlight: 4 });
    for (const d of await take(sub, 8)) seen.push(d.message.id);
    await sub.stop();
    sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-durable", durable: "durable-test", maxInFlight: 4 });
    for (const d of await take(sub, 12)) seen.push(d.message.id);
    await sub.stop();
    expect(new Set(seen).size).toBe(20);
  });

  it("an ack given after the loop ends, right before the client closes, is not lost: a resumed durable consumer does not hand the message out again", async () => {
    await publisher.publishMany(Array.from({ length: 3 }, () => stateUpdate("n-late-ack")));
    const seen: string[] = [];
    for (let round = 0; round < 3; round++) {
      const own = await client(server.url, keys.agent, [keys.node]);
      const sub = await own.subscribe([v0_1.StateUpdate], { entityId: "n-late-ack", durable: "late-ack", ackWaitMs: 500 });
      let first: Delivery<v0_1.StateUpdate> | undefined;
      for await (const d of sub) {
        first = d;
        break;
      }
      // The loop has stopped the subscription; the handler acknowledges afterwards, then closes.
      seen.push(first!.message.id);
      await first!.ack();
      await own.close();
      // Longer than ackWaitMs: an ack that never left would have the message redelivered.
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    expect(new Set(seen).size).toBe(3);
  });

  it("resuming a durable consumer with another filter is ONEX_E_STREAM_CONFIG", async () => {
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-a", durable: "refiltered" });
    await sub.stop();
    await expect(receiver.subscribe([v0_1.StateUpdate], { entityId: "n-b", durable: "refiltered" })).rejects.toMatchObject({ code: ErrorCode.StreamConfig });
  });

  it("replays from a sequence and from a time", async () => {
    const receipts = await publisher.publishMany([0, 1, 2, 3].map((i) => stateUpdate("n-replay", i % 2 ? "busy" : "idle")));
    const fromSeq = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-replay", deliver: { fromSequence: receipts[2]!.sequence } });
    const bySeq = await take(fromSeq, 2);
    await fromSeq.stop();
    expect(bySeq.map((d) => d.sequence)).toEqual([receipts[2]!.sequence, receipts[3]!.sequence]);

    const fromTime = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-replay", deliver: { fromTime: new Date(Date.now() - 60_000) } });
    const byTime = await take(fromTime, 4);
    await fromTime.stop();
    expect(byTime.map((d) => d.sequence)).toEqual(receipts.map((r) => r.sequence));
  });
});

describe("the dead-letter stream", () => {
  it("forged, expired, malformed, invalid and replayed messages are dead-lettered with their reason and never reach the handler", async () => {
    const js = jetstream(raw);
    const subject = stateUpdate("n-dlq").subject();
    const publishRaw = async (body: string | Uint8Array, id: string) => {
      const h = natsHeaders();
      h.set("Onex-Type", "signal.state.update");
      await js.publish(subject, typeof body === "string" ? new TextEncoder().encode(body) : body, { msgID: id, headers: h });
    };
    const good = signMessage(stateUpdate("n-dlq", "idle").toJSON(), keys.node);
    const forged = signMessage(stateUpdate("n-dlq").toJSON(), keys.stranger);
    const expiredMsg = stateUpdate("n-dlq");
    (expiredMsg.trust as { expires_at: string }).expires_at = new Date(Date.now() - 1_000).toISOString();
    const expired = signMessage(expiredMsg.toJSON(), keys.node);
    const tampered = { ...signMessage(stateUpdate("n-dlq").toJSON(), keys.node), payload: { state: "offline" } };

    await publishRaw(JSON.stringify(good), "dlq-good");
    await publishRaw(JSON.stringify(good), "dlq-replayed"); // same message, new de-duplication id: a replay
    await publishRaw(JSON.stringify(forged), "dlq-forged");
    await publishRaw(JSON.stringify(expired), "dlq-expired");
    await publishRaw(JSON.stringify(tampered), "dlq-tampered");
    await publishRaw("{not json", "dlq-malformed");
    await publishRaw(JSON.stringify({ ...good, payload: { state: "asleep" } }), "dlq-invalid");

    const guarded = await client(server.url, keys.agent, [keys.node], {
      trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } },
    });
    const sub = await guarded.subscribe([v0_1.StateUpdate], { entityId: "n-dlq", durable: "dlq-test" });
    const handled = await handleUntil(sub, (stats) => stats.deadLettered >= 6);
    await guarded.close();
    expect(handled).toEqual([good.id]);

    const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "dlq-test");
    const reasons = letters.map((l) => l.reason);
    expect(reasons).toEqual([
      ErrorCode.Replay,
      ErrorCode.SignerUnknown,
      ErrorCode.TrustExpired,
      ErrorCode.SignatureInvalid,
      ErrorCode.JsonSyntax,
      ErrorCode.ValidationFailed,
    ]);
    for (const letter of letters) {
      expect(letter.subject).toBe(subject);
      expect(letter.stream).toBe("ONEX_EVENT");
      expect(letter.originalSequence).toBeGreaterThan(0);
      expect(letter.deliveries).toBe(1);
    }
  });

  for (const verifyThreads of [0, 2]) {
    it(`a key deleted from connect's own resolver is refused from the next message on, by a running subscription (${verifyThreads} verification threads)`, async () => {
      const entity = `n-dropped-key-${verifyThreads}`;
      const known = new Map([[keys.node.keyId, keys.node.publicKey]]);
      const receiver = await client(server.url, keys.agent, [keys.node], { keys: (keyId) => known.get(keyId), verifyThreads });
      try {
        const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: entity, durable: `dropped-key-${verifyThreads}` });
        const handled: string[] = [];
        const handler = (async () => {
          for await (const d of sub) {
            handled.push(d.message.id);
            await d.ack();
          }
        })();
        const waitFor = async (done: () => boolean) => {
          const deadline = Date.now() + 10_000;
          while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        };
        const before = stateUpdate(entity, "busy");
        await publisher.publish(before);
        await waitFor(() => handled.length === 1);
        // The key is stolen: the operator drops it from the map the resolver reads.
        known.delete(keys.node.keyId);
        const after = stateUpdate(entity, "idle");
        await publisher.publish(after);
        await waitFor(() => sub.stats.deadLettered === 1);
        await sub.stop();
        await handler;
        expect(handled).toEqual([before.id]);
        const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === `dropped-key-${verifyThreads}`);
        expect(letters.map((l) => [l.reason, (JSON.parse(new TextDecoder().decode(l.data)) as { id: string }).id])).toEqual([[ErrorCode.SignerUnknown, after.id]]);
      } finally {
        await receiver.close();
      }
    });
  }

  it("a message is handed out only once the letters of the refused messages before it are stored", async () => {
    const js = jetstream(raw);
    const subject = stateUpdate("n-order").subject();
    const h = natsHeaders();
    h.set("Onex-Type", "signal.state.update");
    const forgeries = 20;
    for (let i = 0; i < forgeries; i++) await js.publish(subject, new TextEncoder().encode(JSON.stringify(signMessage(stateUpdate("n-order").toJSON(), keys.stranger))), { msgID: `order-forged-${i}`, headers: h });
    const good = signMessage(stateUpdate("n-order", "idle").toJSON(), keys.node);
    await js.publish(subject, new TextEncoder().encode(JSON.stringify(good)), { msgID: "order-good", headers: h });
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-order", durable: "letters-first" });
    // Read at the moment the handler holds the message, before it acknowledges or stops anything.
    let atDelivery: { id: string; deadLettered: number; listed: number } | undefined;
    for await (const d of sub) {
      const deadLettered = sub.stats.deadLettered;
      const listed = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "letters-first").length;
      atDelivery = { id: d.message.id, deadLettered, listed };
      await d.ack();
      break;
    }
    await sub.stop();
    expect(atDelivery).toEqual({ id: good.id, deadLettered: forgeries, listed: forgeries });
  });

  it("a message captured before a restart and published again is refused after it, before or after the subscription opens", async () => {
    const js = jetstream(raw);
    const original = signMessage(stateUpdate("n-restart", "busy").toJSON(), keys.node);
    const subject = stateUpdate("n-restart").subject();
    const publishRaw = async (body: object, id: string) => {
      const h = natsHeaders();
      h.set("Onex-Type", "signal.state.update");
      return js.publish(subject, new TextEncoder().encode(JSON.stringify(body)), { msgID: id, headers: h });
    };
    const guarded = () => client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    const handle = async (c: OnexClient, expected: { delivered: number; deadLettered: number }) => {
      const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-restart", durable: "restarting" });
      const handled: string[] = [];
      const handler = (async () => {
        for await (const d of sub) {
          handled.push(`${d.message.id}#${d.sequence}`);
          await d.ack();
        }
      })();
      return {
        sub,
        async settle() {
          const deadline = Date.now() + 10_000;
          while ((sub.stats.delivered < expected.delivered || sub.stats.deadLettered < expected.deadLettered) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          await sub.stop();
          await handler;
          await c.close();
          return { handled, stats: { delivered: sub.stats.delivered, deadLettered: sub.stats.deadLettered } };
        },
      };
    };
    const stored = await publishRaw(original, "restart-original");
    const first = await (await handle(await guarded(), { delivered: 1, deadLettered: 0 })).settle();
    expect(first.handled).toEqual([`${original.id}#${stored.seq}`]);

    // While the service is down, and after it is back: the captured bytes under a new de-duplication id.
    await publishRaw(original, "restart-replay-1");
    const second = await handle(await guarded(), { delivered: 0, deadLettered: 2 });
    await publishRaw(original, "restart-replay-2");
    const after = await second.settle();
    expect(after).toEqual({ handled: [], stats: { delivered: 0, deadLettered: 2 } });
    const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "restarting");
    expect(letters.map((l) => l.reason)).toEqual([ErrorCode.Replay, ErrorCode.Replay]);
  });

  it("says, as a subscription opens, that reading its replay window made the client forget messages: copies of those are judged by the guard alone", async () => {
    const subject = stateUpdate("n-flood").subject();
    const h = natsHeaders();
    h.set("Onex-Type", "signal.state.update");
    const base = signMessage(stateUpdate("n-flood", "busy").toJSON(), keys.node);
    // A member's flood after capturing a message: the window is read unverified, so a signature of any text counts.
    const flood = 100_000 + 2_000;
    for (let i = 0; i < flood; i++) raw.publish(subject, new TextEncoder().encode(JSON.stringify({ ...base, id: `flood-${i}`, trust: { ...base.trust, signature: `flood-${i}` } })), { headers: h });
    await raw.flush();
    const jsm = await jetstreamManager(raw);
    const stream = (await jsm.streams.find(subject)) as string;
    const storedOn = async () => (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    const deadline = Date.now() + 60_000;
    while ((await storedOn()) < flood && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await storedOn()).toBe(flood);
    const warnings: string[] = [];
    const c = await client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn: (message: string) => warnings.push(message) } } });
    try {
      const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-flood", deliver: "new" });
      await sub.stop();
      expect(warnings).toEqual([expect.stringMatching(/^onex: reading the replay window on \S+\.n-flood\.events, this client's replay memory \(100000 messages, shared by its subscriptions\) forgot the [1-9]\d* oldest it held; copies of those are judged by the replay guard alone$/)]);
    } finally {
      await c.close();
    }
  }, 120_000);

  it("a copy of a message timed ahead of its store, replayed after a restart late in its window, is refused: the history read reaches back the guard's skew too", async () => {
    const js = jetstream(raw);
    // Timed 1.5 s ahead, within the guard's skew: valid until 5.5 s after it was stored.
    const body = { ...stateUpdate("n-ahead", "busy").toJSON(), time: new Date(Date.now() + 1_500).toISOString() };
    const original = signMessage(body, keys.node);
    const subject = stateUpdate("n-ahead").subject();
    const publishRaw = async (id: string) => {
      const h = natsHeaders();
      h.set("Onex-Type", "signal.state.update");
      return js.publish(subject, new TextEncoder().encode(JSON.stringify(original)), { msgID: id, headers: h });
    };
    const guarded = () => client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard({ windowMs: 4_000, skewMs: 2_000 }), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    const storedAt = Date.now();
    await publishRaw("ahead-original");
    const before = await guarded();
    const first = await before.subscribe([v0_1.StateUpdate], { entityId: "n-ahead", durable: "ahead" });
    expect((await take(first, 1)).map((d) => d.message.id)).toEqual([original.id]);
    await first.stop();
    await before.close();

    // 4.5 s after the store: a window read without the skew (4 s) starts after the original.
    await new Promise((resolve) => setTimeout(resolve, storedAt + 4_500 - Date.now()));
    const after = await guarded();
    const sub = await after.subscribe([v0_1.StateUpdate], { entityId: "n-ahead", durable: "ahead" });
    await publishRaw("ahead-replay");
    const handled = await handleUntil(sub, (stats) => stats.delivered + stats.deadLettered >= 1);
    await after.close();
    expect(handled).toEqual([]);
    const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === "ahead");
    expect(letters.map((l) => l.reason)).toEqual([ErrorCode.Replay]);
  });

  it("a subscription with a replay guard opens while a publisher keeps publishing on its subjects", async () => {
    const subject = stateUpdate("n-busy").subject();
    let opened = false;
    let sent = 0;
    const body = new TextEncoder().encode(JSON.stringify(signMessage(stateUpdate("n-busy").toJSON(), keys.node)));
    const publishing = (async () => {
      // Until the subscription is open, as fast as the server takes them: reading the window must not wait for the publisher to stop.
      while (!opened) {
        for (let i = 0; i < 1_000; i++, sent++) raw.publish(subject, body);
        await new Promise((r) => setImmediate(r));
      }
    })();
    while (sent < 50) await new Promise((r) => setTimeout(r, 10));
    const c = await client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-busy", deliver: "new" });
    opened = true;
    await publishing;
    await raw.flush();
    await sub.stop();
    await c.close();
    expect(sent).toBeGreaterThan(50);
  }, 60_000);

  it("a subscription with a replay guard opens when the server answers nothing for longer than a request waits, right after the window is read", async () => {
    // As when a node of a cluster dies and the survivors elect new leaders: the subscription's own
    // consumer is looked up once the window is read, and that lookup's timeout (nats.js's 5 s) was
    // thrown out of subscribe as nats.js's bare TimeoutError.
    const publisher = await client(server.url, keys.node, [keys.node]);
    await publisher.publish(stateUpdate("n-silent"));
    const c = await client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    let resume: NodeJS.Timeout | undefined;
    const seed = StoredMessageReplay.prototype.seed;
    const spy = vi.spyOn(StoredMessageReplay.prototype, "seed").mockImplementation(function (this: StoredMessageReplay, storedAs, subject, signature) {
      // The window's one message is read: the server stops answering for 6 s.
      if (resume === undefined) {
        server.process.kill("SIGSTOP");
        resume = setTimeout(() => server.process.kill("SIGCONT"), 6_000);
      }
      return seed.call(this, storedAs, subject, signature);
    });
    try {
      const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-silent", deliver: "new" });
      expect(resume).toBeDefined();
      await sub.stop();
    } finally {
      spy.mockRestore();
      if (resume !== undefined) {
        clearTimeout(resume);
        server.process.kill("SIGCONT");
      }
      await c.close();
      await publisher.close();
    }
  }, 30_000);

  it("a forgery stored first under the id a genuine message then takes does not make the genuine one a replay", async () => {
    const js = jetstream(raw);
    const genuine = signMessage(stateUpdate("n-preempt", "busy").toJSON(), keys.node);
    const forged = signMessage({ ...genuine, payload: { state: "offline" } }, keys.stranger);
    const subject = stateUpdate("n-preempt").subject();
    const h = natsHeaders();
    h.set("Onex-Type", "signal.state.update");
    await js.publish(subject, new TextEncoder().encode(JSON.stringify(forged)), { msgID: "preempt-forged", headers: h });
    const stored = await js.publish(subject, new TextEncoder().encode(JSON.stringify(genuine)), { msgID: "preempt-genuine", headers: h });
    const c = await client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-preempt", deliver: "all" });
    const [d] = await take(sub, 1);
    await sub.stop();
    await c.close();
    expect([d!.message.id, d!.sequence]).toEqual([genuine.id, stored.seq]);
  });

  it("nor does it hide the genuine one's replay from a subscription that opens after both were stored (a restart)", async () => {
    const js = jetstream(raw);
    const genuine = signMessage(stateUpdate("n-hidden", "busy").toJSON(), keys.node);
    const forged = signMessage({ ...genuine, payload: { state: "offline" } }, keys.stranger);
    const subject = stateUpdate("n-hidden").subject();
    const h = natsHeaders();
    h.set("Onex-Type", "signal.state.update");
    const publish = (body: object, id: string) => js.publish(subject, new TextEncoder().encode(JSON.stringify(body)), { msgID: id, headers: h });
    await publish(forged, "hidden-forged");
    await publish(genuine, "hidden-genuine");
    const c = await client(server.url, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    // Opens after both, as a restarted service does: what it learns of them is the window it reads.
    const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-hidden", deliver: "new" });
    await publish(genuine, "hidden-copy");
    const next = signMessage(stateUpdate("n-hidden", "idle").toJSON(), keys.node);
    await publish(next, "hidden-next");
    const [d] = await take(sub, 1);
    const stats = { ...sub.stats };
    await sub.stop();
    await c.close();
    expect([d!.message.id, stats.deadLettered]).toEqual([next.id, 1]);
  });

  it.each([0, 1])("a lone surrogate escaped in a source id is dead-lettered as the bytes are read (no JSON reader of onex accepts it), and the subscription goes on (%i verification threads)", async (verifyThreads) => {
    const entity = `n-surrogate-${verifyThreads}`;
    const subject = stateUpdate(entity).subject();
    const h = natsHeaders();
    h.set("Onex-Type", "signal.state.update");
    const poison = (n: number) => {
      const body = signMessage(stateUpdate(entity).toJSON(), keys.node) as unknown as { source: { entity_id: string } };
      body.source.entity_id = "\ud800";
      return jetstream(raw).publish(subject, new TextEncoder().encode(JSON.stringify(body)), { msgID: `${entity}-poison-${n}`, headers: h });
    };
    // Two in a row, so that with a thread both are in the look-ahead at once.
    const first = await publisher.publish(stateUpdate(entity, "idle"));
    await poison(1);
    await poison(2);
    const last = await publisher.publish(stateUpdate(entity, "draining"));
    const reader = await client(server.url, keys.agent, [keys.node], { verifyThreads });
    const sub = await reader.subscribe([v0_1.StateUpdate], { entityId: entity, durable: `surrogate-${verifyThreads}` });
    const delivered = await take(sub, 2);
    await sub.stop();
    await reader.close();
    expect(delivered.map((d) => d.sequence)).toEqual([first.sequence, last.sequence]);
    const letters = (await listDeadLetters(await jetstreamManager(raw))).filter((l) => l.consumer === `surrogate-${verifyThreads}`);
    expect(letters.map((l) => l.reason)).toEqual([ErrorCode.CanonicalJson, ErrorCode.CanonicalJson]);
  });

  it("a message whose handler fails max_deliver times is dead-lettered with the delivery count, and can be replayed", async () => {
    await publisher.publish(stateUpdate("n-poison", "draining"));
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-poison", durable: "poison", maxDeliver: 3 });
    let attempts = 0;
    for await (const d of sub) {
      attempts++;
      await d.nak(0);
      if (attempts === 3) break;
    }
    await sub.stop();
    expect(attempts).toBe(3);
    const jsm = await jetstreamManager(raw);
    const letter = (await listDeadLetters(jsm)).find((l) => l.consumer === "poison");
    expect(letter).toMatchObject({ reason: ErrorCode.HandlerFailed, deliveries: 3, stream: "ONEX_EVENT" });

    const { sequence } = await replayDeadLetter(jetstream(raw), await planReplay(jsm, letter!, { sdks: [v0_1], keys: keyRing([keys.node.publicKey]) }));
    const again = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-poison", deliver: { fromSequence: sequence } });
    const [d] = await take(again, 1);
    await again.stop();
    expect(d!.message.payload.state).toBe("draining");
  });
});

describe("subscription options", () => {
  it("a count or duration no subscription can work with is ONEX_E_USAGE before anything is made", async () => {
    const bad = [{ maxInFlight: Infinity }, { maxInFlight: Number.NaN }, { maxInFlight: 2.5 }, { maxInFlight: 0 }, { maxDeliver: Number.NaN }, { ackWaitMs: 3e9 }, { ackWaitMs: Infinity }, { ackWaitMs: 1.5 }];
    const jsm = await jetstreamManager(raw);
    const consumersBefore = (await jsm.streams.info("ONEX_EVENT")).state.consumer_count;
    for (const options of bad) {
      await expect(receiver.subscribe([v0_1.StateUpdate], { entityId: "n-options", durable: "options", ...options })).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(options)[0]!) });
    }
    expect((await jsm.streams.info("ONEX_EVENT")).state.consumer_count).toBe(consumersBefore);
  });

  it("a verification thread count no machine can start is ONEX_E_USAGE (Infinity was a RangeError at the first subscription)", async () => {
    for (const verifyThreads of [Infinity, Number.NaN, -1, 1.5, 1e6]) {
      await expect(client(server.url, keys.node, [keys.node], { verifyThreads })).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining("verifyThreads") });
    }
    const none = await client(server.url, keys.node, [keys.node], { verifyThreads: 0 });
    expect(none.verifyAhead).toBeUndefined();
    await none.close();
  });

  it("a publish timeout, retry time or window no publish can work with is ONEX_E_USAGE before anything is sent (a timeout of 0 reported a stored message as ONEX_E_PUBLISH_TIMEOUT, a retryForMs of NaN never settled, a window of NaN sent everything at once)", async () => {
    const jsm = await jetstreamManager(raw);
    const storedBefore = (await jsm.streams.info("ONEX_EVENT")).state.messages;
    // A negative retry time first: without the check it is one attempt, stored at once, and this fails fast.
    // A string from plain JavaScript compared as a number and then concatenated (`Date.now() + "5000"`).
    for (const options of [{ retryForMs: -1 }, { retryForMs: Number.NaN }, { timeoutMs: 0 }, { timeoutMs: Number.NaN }, { timeoutMs: -5 }, { retryForMs: "5000" as unknown as number }]) {
      await expect(publisher.publish(stateUpdate("n-publish-options"), options)).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(options)[0]!) });
    }
    for (const options of [{ window: Number.NaN }, { window: 0 }, { window: 1.5 }, { timeoutMs: 0 }, { retryForMs: Number.NaN }]) {
      await expect(publisher.publishMany([1, 2, 3].map(() => stateUpdate("n-publish-options")), options)).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(options)[0]!) });
    }
    expect((await jsm.streams.info("ONEX_EVENT")).state.messages).toBe(storedBefore);
    // Infinity is no limit, and a retry time of 0 one attempt.
    expect(await publisher.publish(stateUpdate("n-publish-options"), { timeoutMs: Infinity, retryForMs: Infinity })).toMatchObject({ duplicate: false });
    expect(await publisher.publish(stateUpdate("n-publish-options"), { retryForMs: 0 })).toMatchObject({ duplicate: false });
    expect(await publisher.publishMany([1, 2].map(() => stateUpdate("n-publish-options")), { window: Infinity })).toHaveLength(2);
  });

  it("a history or dead-letter read from a sequence, or up to a limit, that is no whole number is ONEX_E_USAGE (a limit of 0 yielded one message, a sequence of NaN was ONEX_E_CONNECTION or listed nothing)", async () => {
    await publisher.publish(stateUpdate("n-history-options"));
    const js = jetstream(raw);
    const jsm = await jetstreamManager(raw);
    const read = async (options: Parameters<typeof readHistory>[3]) => {
      const sequences: number[] = [];
      for await (const entry of readHistory(js, jsm, "ONEX_EVENT", options)) sequences.push(entry.sequence);
      return sequences;
    };
    for (const options of [{ limit: 0 }, { limit: Number.NaN }, { limit: 2.5 }, { fromSequence: Number.NaN }, { fromSequence: -1 }, { fromSequence: 1.5 }, { fromSequence: Infinity }]) {
      await expect(read(options)).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(options)[0]!) });
      await expect(listDeadLetters(jsm, options)).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(options)[0]!) });
    }
    // From plain JavaScript: null was a raw TypeError, a bad fromTime a raw RangeError or TypeError, a type of 5 read nothing.
    for (const options of [null, { fromTime: new Date(Number.NaN) }, { fromTime: "yesterday" }, { type: 5 }]) {
      await expect(read(options as never)).rejects.toMatchObject({ code: ErrorCode.Usage });
    }
    // 0 keeps its meaning: from the first message.
    const { first_seq: first } = (await jsm.streams.info("ONEX_EVENT")).state;
    expect(await read({ fromSequence: 0, limit: 1 })).toEqual([first]);
    expect(await read({ fromSequence: 1, limit: Infinity })).not.toEqual([]);
    await listDeadLetters(jsm, { fromSequence: 0, limit: Infinity });
  });

  it("a nak delay the server cannot take is refused, and the message stays the handler's (Infinity redelivered at once, using up its attempts)", async () => {
    await publisher.publish(stateUpdate("n-nak", "draining"));
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-nak", durable: "nak-delays", maxDeliver: 2 });
    const [d] = await take(sub, 1);
    for (const delay of [Infinity, Number.NaN, -5, 1.5]) await expect(d!.nak(delay)).rejects.toMatchObject({ code: ErrorCode.Usage });
    await d!.ack();
    await sub.stop();
    const jsm = await jetstreamManager(raw);
    expect((await listDeadLetters(jsm)).some((l) => l.consumer === "nak-delays")).toBe(false);
    expect(d!.deliveries).toBe(1);
  });
});

describe("handlers that never answer", () => {
  it("a message whose handler hangs on its last delivery is dead-lettered after ack_wait", async () => {
    await publisher.publish(stateUpdate("n-hang", "offline"));
    const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: "n-hang", durable: "hang", maxDeliver: 2, ackWaitMs: 300 });
    const deliveries: number[] = [];
    for await (const d of sub) {
      deliveries.push(d.deliveries); // and never ack or nak: the handler hangs
      if (d.deliveries === 2) break;
    }
    const deadline = Date.now() + 10_000;
    while (sub.stats.deadLettered < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await sub.stop();
    expect(deliveries).toEqual([1, 2]);
    const letter = (await listDeadLetters(await jetstreamManager(raw))).find((l) => l.consumer === "hang");
    expect(letter).toMatchObject({ reason: ErrorCode.HandlerFailed, deliveries: 2 });
  });

  it("deliveries still in their handlers when the client closes end quietly: a last attempt's deadline passing rejects nothing, and settling one does nothing", async () => {
    const c = await client(server.url, keys.agent, [keys.node]);
    await publisher.publish(stateUpdate("n-closing-last", "busy"));
    await publisher.publish(stateUpdate("n-closing", "busy"));
    await publisher.publish(stateUpdate("n-closing", "idle"));
    const last = await c.subscribe([v0_1.StateUpdate], { entityId: "n-closing-last", durable: "closing-last", maxDeliver: 1, ackWaitMs: 300 });
    const [onLastAttempt] = await take(last, 1, false);
    const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-closing", durable: "closing", maxDeliver: 5 });
    const [first, second] = await take(sub, 2, false);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      await c.close();
      // The last attempt's deadline passes on a closed connection, with nothing to write its letter on.
      await new Promise((r) => setTimeout(r, 600));
      const settled = await Promise.allSettled([(async () => first!.working())(), first!.nak(), (async () => second!.term())(), onLastAttempt!.ack()]);
      expect([unhandled, settled.map((s) => s.status)]).toEqual([[], ["fulfilled", "fulfilled", "fulfilled", "fulfilled"]]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("streams from the manifest", () => {
  it("apply is idempotent, and --dry-run style planning reports differences without applying them", async () => {
    const jsm = await jetstreamManager(raw);
    const plan = planStreams([v0_1]);
    expect((await applyStreams(jsm, plan)).map((c) => c.action)).toEqual(["unchanged", "unchanged"]);
    const limited = planStreams([v0_1], { maxMessages: 1_000_000, maxAgeMs: 86_400_000 });
    const dry = await applyStreams(jsm, limited, { dryRun: true });
    expect(dry.find((c) => c.name === "ONEX_EVENT")).toMatchObject({ action: "update", fields: { max_msgs: [-1, 1_000_000] } });
    expect((await jsm.streams.info("ONEX_EVENT")).config.max_msgs).toBe(-1);
    await applyStreams(jsm, limited);
    expect((await jsm.streams.info("ONEX_EVENT")).config.max_msgs).toBe(1_000_000);
    await applyStreams(jsm, plan);
  });

  it("a limit the server would misread is ONEX_E_USAGE before anything is sent (0 or NaN made an unlimited stream, a fraction was invalid JSON)", async () => {
    const jsm = await jetstreamManager(raw);
    const before = (await jsm.streams.info("ONEX_EVENT")).config;
    for (const bad of [{ maxMessages: 0 }, { maxMessages: Number.NaN }, { maxMessages: -5 }, { maxBytes: 1.5 }, { maxAgeMs: Infinity }, { maxAgeMs: Number.NaN }, { maxAgeMs: 99 }, { replicas: 0 }, { duplicateWindowMs: 0.5 }, { duplicateWindowMs: 99 }, { duplicateWindowMs: 60_001, maxAgeMs: 60_000 }]) {
      expect(() => planStreams([v0_1], bad)).toThrow(expect.objectContaining({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(bad)[0]!) }));
      expect(() => planStreams([v0_1], {}, bad)).toThrow(expect.objectContaining({ code: ErrorCode.Usage }));
    }
    expect((await jsm.streams.info("ONEX_EVENT")).config).toEqual(before);
  });

  it("an age shorter than the default duplicate window shortens the window to it: the server took no age under 2 minutes, and applying again changes nothing", async () => {
    const jsm = await jetstreamManager(raw);
    const short = planStreams([v0_1], { maxAgeMs: 60_000 });
    expect((await applyStreams(jsm, short)).find((c) => c.name === "ONEX_EVENT")).toMatchObject({ action: "update", fields: { max_age: [0, 60_000_000_000], duplicate_window: [120_000_000_000, 60_000_000_000] } });
    expect((await applyStreams(jsm, short)).map((c) => c.action)).toEqual(["unchanged", "unchanged"]);
    await applyStreams(jsm, planStreams([v0_1]));
    expect((await jsm.streams.info("ONEX_EVENT")).config).toMatchObject({ max_age: 0, duplicate_window: 120_000_000_000 });
  });

  it("a full stream with discard `new` is ONEX_E_STREAM_FULL at the publisher, full by count or by bytes", async () => {
    for (const limit of [{ maxMessages: 3 }, { maxBytes: 4_096 }]) {
      const small = await startNatsServer();
      try {
        await applyBundledStreams(small.url, { ...limit, discard: "new" });
        const c = await client(small.url, keys.node, [keys.node]);
        let refused: unknown;
        let stored = 0;
        for (let i = 0; i < 20 && refused === undefined; i++) {
          refused = await c.publish(stateUpdate("n-full"), { retryForMs: 0 }).then(
            () => void stored++,
            (error: unknown) => error,
          );
        }
        await c.close();
        expect([limit, stored > 0 && stored < 20, (refused as OnexError | undefined)?.code]).toEqual([limit, true, ErrorCode.StreamFull]);
      } finally {
        await small.stop();
      }
    }
  });

  it("publishing with no stream is ONEX_E_NO_STREAM", async () => {
    const bare = await startNatsServer();
    try {
      const c = await client(bare.url, keys.node, [keys.node]);
      await expect(c.publish(stateUpdate("n-none"), { retryForMs: 0, timeoutMs: 2_000 })).rejects.toMatchObject({ code: ErrorCode.NoStream });
      await c.close();
    } finally {
      await bare.stop();
    }
  });

  it("a server whose acknowledgements never arrive is ONEX_E_PUBLISH_TIMEOUT once the retries run out, and the retries store the message once", async () => {
    const proxy = await startNatsProxy(server.port);
    const c = await client(proxy.url, keys.node, [keys.node]);
    try {
      const msg = stateUpdate("n-unacknowledged");
      proxy.hold();
      const error = await c.publish(msg, { timeoutMs: 200, retryForMs: 600 }).catch((e: OnexError) => e);
      expect(error).toMatchObject({ code: ErrorCode.PublishTimeout, details: { subject: msg.subject(), messageId: msg.id } });
      proxy.release();
      // Every attempt reached the server under the same Nats-Msg-Id: one copy is stored.
      const info = await (await jetstreamManager(raw)).streams.info("ONEX_EVENT", { subjects_filter: msg.subject() });
      expect(info.state.subjects).toEqual({ [msg.subject()]: 1 });
    } finally {
      await c.close();
      proxy.close();
    }
  });

  it("a publish the stream refuses for a reason of its own (a message over its size limit) is ONEX_E_PUBLISH_FAILED with the server's reason, and nothing is stored", async () => {
    const small = await startNatsServer();
    try {
      await applyBundledStreams(small.url);
      const conn = await natsConnect({ servers: small.url });
      const jsm = await jetstreamManager(conn);
      const { config } = await jsm.streams.info("ONEX_EVENT");
      await jsm.streams.update("ONEX_EVENT", { ...config, max_msg_size: 64 });
      const c = await client(small.url, keys.node, [keys.node]);
      const error = await c.publish(stateUpdate("n-too-big"), { retryForMs: 10_000 }).catch((e: OnexError) => e);
      expect(error).toMatchObject({ code: ErrorCode.PublishFailed });
      expect((error as OnexError).message).toMatch(/size/i);
      expect((await jsm.streams.info("ONEX_EVENT")).state.messages).toBe(0);
      await c.close();
      await conn.close();
    } finally {
      await small.stop();
    }
  });
});
