/**
 * `onex dlq replay` publishes a letter's original again, unchanged: to a subscription with a
 * replay guard that is a second stored copy of a message it accepted, and it is refused as a
 * replay. Against a server running the generated config, as the member `onex nats-auth` gives.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { eventually } from "../registry/fixtures.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, startTwoZones, update, type TwoZones } from "./zones.js";

const STREAM_A = zoneStreamNameOf("event", ZONE_A);
let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones();
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

describe("a letter replayed to a subscription with a replay guard", () => {
  it("is refused as a replay of the message it was accepted as, and the handler never gets it again; a subscription without a guard does", async () => {
    const guarded = await zones.member("a", { trust: { zone: ZONE_A, logger: { warn() {} }, replay: new ReplayGuard() } });
    const message = update(ZONE_A, "retried", "busy");
    const published = await guarded.publish(message);
    const sub = await guarded.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "retried", durable: "retried", maxDeliver: 2, ackWaitMs: 1_000 });
    // The handler fails every attempt until the letter is written, then handles what comes.
    let failing = true;
    const seen: number[] = [];
    const loop = (async () => {
      for await (const d of sub) {
        seen.push(d.sequence);
        if (failing) await d.nak();
        else await d.ack();
      }
    })();
    const jsm = await (await zones.raw("adminA")).jsm();
    const letters = () => listDeadLetters(jsm, { zone: ZONE_A });
    await eventually(async () => (await letters()).length === 1, 15_000, "the handler's letter");
    failing = false;
    const [letter] = await letters();
    expect(letter!.reason).toBe(ErrorCode.HandlerFailed);

    const replayed = zones.adminCli(["dlq", "replay", String(letter!.sequence), "--zone", ZONE_A, "--key", zones.keyFiles[0]!]);
    expect(replayed.status).toBe(0);
    const copy = published.sequence + 1;
    expect(replayed.stdout).toContain(`-> ${STREAM_A}#${copy}`);
    await eventually(async () => (await letters()).length === 2, 15_000, "the replayed copy's letter");
    const second = (await letters())[1]!;
    expect([second.reason, second.originalSequence]).toEqual([ErrorCode.Replay, copy]);
    expect(seen).toEqual([published.sequence, published.sequence]);
    await sub.stop();
    await loop;

    // A subscription without a guard takes the copy as any message.
    const unguarded = await zones.member("a2");
    const plain = await unguarded.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "retried", deliver: { fromSequence: copy } });
    const step = await plain[Symbol.asyncIterator]().next();
    expect(step.done).toBe(false);
    expect([step.value!.message.id, step.value!.sequence]).toEqual([message.id, copy]);
    await step.value!.ack();
    await plain.stop();
  }, 60_000);
});
