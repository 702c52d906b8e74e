// publishMany meeting faults mid-batch, against a real nats-server: a stream missing for one
// message while a later one fails at once, a stream full with discard `new`, and the server
// killed with SIGKILL and kept away past retryForMs. Whatever happens, the caller learns of every
// message it handed over whether it was stored, failed (with its id) or never sent, and acting on
// that report stores each message exactly once.
import { connect as natsConnect } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager, type StreamState } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import type { PublishReceipt } from "../../runtime/control-plane.js";
import type { PublishManyFailure } from "../../runtime/jetstream/publish-many.js";
import { applyStreams, planStreams, zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { ZONE, applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();

/** publishMany's rejection, which must be an OnexError. */
async function rejectionOf(publishing: Promise<unknown>): Promise<OnexError> {
  const error = await publishing.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnexError);
  return error as OnexError;
}

/** The ids of the messages a stream holds, with how often each is stored. */
async function storedIds(jsm: JetStreamManager, stream: string): Promise<Map<string, number>> {
  const state = await streamState(jsm, stream);
  const ids = new Map<string, number>();
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq });
    const id = (JSON.parse(new TextDecoder().decode(stored!.data)) as { id: string }).id;
    ids.set(id, (ids.get(id) ?? 0) + 1);
  }
  return ids;
}

/**
 * The stream's state, asked again while the request times out: after a server restart the test's
 * own connection may still be reconnecting (its back-off grows under load), and its first
 * request then timed out though the server was back.
 */
async function streamState(jsm: JetStreamManager, stream: string): Promise<StreamState> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await jsm.streams.info(stream)).state;
    } catch (error) {
      if (attempt === 5 || !/timeout/i.test(String(error))) throw error;
    }
  }
}

async function withServer(run: (server: NatsServer, jsm: JetStreamManager) => Promise<void>): Promise<void> {
  const server = await startNatsServer();
  const nc = await natsConnect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  try {
    await run(server, await jetstreamManager(nc));
  } finally {
    await nc.close();
    await server.stop();
  }
}

describe("publishMany's failure says what became of every message", () => {
  it("a message still retrying when a later one fails is the failure reported, not passed off as stored behind it", async () => {
    await withServer(async (server, jsm) => {
      // A zoned deployment whose second zone has no stream yet: its message is retried as ONEX_E_NO_STREAM.
      await applyStreams(jsm, planStreams([v0_1, v0_2], {}, {}, [ZONE]));
      const c = await client(server.url, keys.node, [keys.node]);
      try {
        const elsewhere = v0_1.StateUpdate.create({
          source: { zone: "zone.unapplied.org", entity_type: "node", entity_id: "n-1" },
          trust: { signer: "unsigned", level: "verified", zone: "zone.unapplied.org", expires_at: new Date(Date.now() + 3_600_000).toISOString() },
          payload: { state: "idle" },
        });
        const invalid = stateUpdate("n-batch");
        (invalid.payload as { state: string }).state = "asleep";
        const messages = [elsewhere, stateUpdate("n-batch"), invalid];
        const error = await rejectionOf(c.publishMany(messages, { retryForMs: 1_000, timeoutMs: 500 }));
        const receipts = error.details.receipts as (PublishReceipt | null)[];
        const failures = error.details.failures as PublishManyFailure[];
        expect([error.code, error.details.index, error.details.messageId, error.details.sent]).toEqual([ErrorCode.NoStream, 0, elsewhere.id, 3]);
        expect(failures.map((f) => [f.index, f.messageId, f.code])).toEqual([
          [0, elsewhere.id, ErrorCode.NoStream],
          [2, invalid.id, ErrorCode.ValidationFailed],
        ]);
        expect(receipts.map((r) => r?.sequence ?? null)).toEqual([null, 1, null]);
        expect([...(await storedIds(jsm, zoneStreamNameOf("event", ZONE))).keys()]).toEqual([messages[1]!.id]);
      } finally {
        await c.close();
      }
    });
  });

  it("a stream that fills with discard `new` mid-batch: the stored ones have receipts, every refused one is listed, and the stream holds exactly the stored ones", async () => {
    await withServer(async (server, jsm) => {
      await applyBundledStreams(server.url, { maxMessages: 3, discard: "new" });
      const c = await client(server.url, keys.node, [keys.node]);
      try {
        const messages = Array.from({ length: 6 }, () => stateUpdate("n-full"));
        const error = await rejectionOf(c.publishMany(messages, { window: Infinity, retryForMs: 0 }));
        const receipts = error.details.receipts as (PublishReceipt | null)[];
        const failures = error.details.failures as PublishManyFailure[];
        expect([error.code, error.details.index, error.details.sent]).toEqual([ErrorCode.StreamFull, 3, 6]);
        expect(failures.map((f) => [f.index, f.messageId, f.code])).toEqual(messages.slice(3).map((m, i) => [3 + i, m.id, ErrorCode.StreamFull]));
        const stored = await storedIds(jsm, "ONEX_EVENT");
        expect(messages.map((m, i) => [receipts[i] !== null, stored.get(m.id) ?? 0])).toEqual(messages.map((_, i) => (i < 3 ? [true, 1] : [false, 0])));
      } finally {
        await c.close();
      }
    });
  });

  it("a message whose id getter throws is a failure that stops the batch, not a hole in the receipts", async () => {
    await withServer(async (server, jsm) => {
      await applyBundledStreams(server.url);
      const c = await client(server.url, keys.node, [keys.node]);
      try {
        const hostile = stateUpdate("n-getter");
        Object.defineProperty(hostile, "id", {
          get() {
            throw new Error("id getter threw");
          },
        });
        const messages = [stateUpdate("n-getter"), hostile, stateUpdate("n-getter")];
        // The failure was recorded by reading the id again, which threw in the handler: publishMany
        // resolved with null for the hostile message and went on to send the third.
        const outcome = await c.publishMany(messages, { window: 1 }).then(
          (receipts) => ({ resolved: receipts }),
          (error: unknown) => ({ rejected: (error as Error).message }),
        );
        expect(outcome).toEqual({ rejected: "id getter threw" });
        expect([...(await storedIds(jsm, "ONEX_EVENT")).keys()]).toEqual([messages[0]!.id]);
      } finally {
        await c.close();
      }
    });
  });

  it("a server killed (SIGKILL) mid-batch and away past retryForMs: publishing again what failed or was never sent stores every message exactly once", async () => {
    await withServer(async (server, jsm) => {
      await applyBundledStreams(server.url);
      const c = await client(server.url, keys.node, [keys.node]);
      try {
        const messages = Array.from({ length: 2_000 }, () => stateUpdate("n-killed"));
        // The server dies as the batch reaches its 800th message, with a window of acknowledgements outstanding.
        async function* batch() {
          for (const [i, message] of messages.entries()) {
            if (i === 800) await server.kill();
            yield message;
          }
        }
        const error = await rejectionOf(c.publishMany(batch(), { window: 64, retryForMs: 1_000, timeoutMs: 300 }));
        await server.restart();
        const receipts = error.details.receipts as (PublishReceipt | null)[];
        const failures = error.details.failures as PublishManyFailure[];
        const sent = error.details.sent as number;
        // Every message sent has a receipt or is listed as failed, and the first failure is the one reported.
        expect([receipts.length, failures[0]!.index, error.details.index]).toEqual([sent, receipts.indexOf(null), failures[0]!.index]);
        expect(receipts.every((r, i) => (r === null) === failures.some((f) => f.index === i))).toBe(true);
        // What the report says was not stored, published again: the same messages, so the same ids.
        const again = messages.filter((_, i) => i >= sent || receipts[i] === null);
        const second = await c.publishMany(again, { retryForMs: 30_000 });
        expect(second).toHaveLength(again.length);
        const stored = await storedIds(jsm, "ONEX_EVENT");
        expect(messages.filter((m) => stored.get(m.id) !== 1)).toEqual([]);
        expect(stored.size).toBe(messages.length);
      } finally {
        await c.close();
      }
    });
  }, 60_000);
});
