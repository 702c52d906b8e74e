/**
 * A zone member fills its zone's storage, so that the zone's dead-letter stream refuses every
 * letter, with forgeries waiting in the stream. A forgery must be kept (not acknowledged and
 * lost) while no letter can be written, and once the storage has room again dead-lettered
 * once, for what is wrong with it. Against a server running the generated config, as the
 * member `onex nats-auth` gives.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import type { Subscription } from "../../runtime/control-plane.js";
import { ErrorCode } from "../../runtime/errors.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { eventually } from "../registry/fixtures.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, startTwoZones, update, type TwoZones } from "./zones.js";

const STREAM_A = zoneStreamNameOf("event", ZONE_A);
const MAX_PAYLOAD = 64 * 1024;
const started: TwoZones[] = [];

afterAll(async () => {
  await Promise.all(started.map((zones) => zones.stop()));
  await removeTempDirs();
});

/**
 * A deployment whose zone A has 1 MB of storage, `forgeries` unsigned messages and then a
 * member's genuine one on one entity, and the rest of the storage filled by the attacker to the
 * last bytes, so that not even a letter of a few hundred bytes fits.
 */
async function fullZone(forgeries: number) {
  const zones = await startTwoZones(`max_payload: ${MAX_PAYLOAD}`, ["--zone-storage", "1MB"]);
  started.push(zones);
  const { js } = await zones.raw("a2");
  const forged = Array.from({ length: forgeries }, () => update(ZONE_A, "poisoned"));
  for (const message of forged) await js.publish(message.subject(), JSON.stringify(message.toJSON()));
  const warnings: string[] = [];
  const a = await zones.member("a", { trust: { zone: ZONE_A, logger: { warn: (text: string) => warnings.push(text) } } });
  const genuine = update(ZONE_A, "poisoned", "busy");
  await a.publish(genuine);
  const filler = update(ZONE_A, "filler").subject();
  for (const size of [MAX_PAYLOAD - 1_024, 4_096, 256, 16]) {
    let refused: unknown;
    for (let i = 0; i < 1_024 && refused === undefined; i++) {
      refused = await js.publish(filler, new Uint8Array(size)).then(
        () => undefined,
        (error: unknown) => error,
      );
    }
    expect(String(refused)).toMatch(/resource limits exceeded for account/i);
  }
  const jsm = await (await zones.raw("adminA")).jsm();
  /** The letters, asked again while the server restarts. */
  const letters = () => listDeadLetters(jsm, { zone: ZONE_A }).catch(() => []);
  /** The operator gives the zone more storage (`onex nats-auth --zone-storage`) and restarts the server with it. */
  const makeRoom = async () => {
    const config = join(zones.server.storeDir, "server.conf");
    const text = await readFile(config, "utf8");
    expect(text).toContain("max_file: 1048576,");
    await writeFile(config, text.replaceAll("max_file: 1048576,", "max_file: 4194304,"));
    await zones.server.kill();
    await zones.server.restart();
  };
  /** How many letters the subscription could not write. */
  const refusedLetters = () => warnings.filter((w) => w.includes("cannot dead-letter")).length;
  return { a, jsm, forged, genuine, letters, makeRoom, refusedLetters };
}

/** The service's loop, as any service runs it: every delivery acknowledged. */
function readAll(sub: Subscription<v0_1.StateUpdate>): { delivered: string[]; loop: Promise<void> } {
  const delivered: string[] = [];
  const loop = (async () => {
    for await (const d of sub) {
      delivered.push(d.message.id);
      await d.ack();
    }
  })();
  return { delivered, loop };
}

describe("a dead-letter stream that refuses letters", () => {
  it("keeps a forgery until its letter is stored, delivers the genuine message behind it, and letters the forgery for its own fault, not as a handler's", async () => {
    const { a, jsm, forged, genuine, letters, makeRoom, refusedLetters } = await fullZone(1);
    const maxDeliver = 2;
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "poisoned", durable: "poisoned", maxDeliver, ackWaitMs: 300 });
    const { delivered, loop } = readAll(sub);
    await eventually(async () => delivered.length > 0, 20_000, "the genuine message");
    expect(delivered).toEqual([genuine.id]);
    // The forgery's letter is refused again and again, past maxDeliver tries: it stays pending, unacknowledged.
    await eventually(async () => refusedLetters() > maxDeliver + 1, 20_000, "letters refused past maxDeliver");
    expect((await jsm.consumers.info(STREAM_A, "poisoned")).num_ack_pending).toBe(1);
    expect(await letters()).toEqual([]);

    await makeRoom();
    await eventually(async () => (await letters()).length > 0, 45_000, "the forgery's letter");
    await eventually(async () => (await jsm.consumers.info(STREAM_A, "poisoned").catch(() => undefined))?.num_ack_pending === 0, 45_000, "the forgery settled");
    const stored = await letters();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.originalSequence).toBe(1);
    expect(stored[0]!.subject).toBe(forged[0]!.subject());
    // Its fault is its signature (it has none), whatever the tries cost while no letter could be stored.
    expect(stored[0]!.reason).toBe(ErrorCode.SignatureMissing);
    expect(sub.stats).toMatchObject({ delivered: 1, deadLettered: 1 });
    expect(delivered).toEqual([genuine.id]);
    await sub.stop();
    await loop;
  }, 120_000);

  it("with maxInFlight forgeries ahead of it, holds the genuine message back until their letters are stored: each kept forgery holds a slot", async () => {
    const maxInFlight = 2;
    const { a, jsm, genuine, letters, makeRoom, refusedLetters } = await fullZone(maxInFlight);
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "poisoned", durable: "stalled", maxInFlight, ackWaitMs: 300 });
    const { delivered, loop } = readAll(sub);
    await eventually(async () => refusedLetters() > 2 * maxInFlight, 20_000, "letters refused again");
    const info = await jsm.consumers.info(STREAM_A, "stalled");
    expect(info.num_ack_pending).toBe(maxInFlight);
    expect(info.num_pending).toBe(1);
    expect(delivered).toEqual([]);

    await makeRoom();
    await eventually(async () => delivered.length > 0, 45_000, "the genuine message");
    expect(delivered).toEqual([genuine.id]);
    await eventually(async () => (await letters()).length === maxInFlight, 45_000, "the forgeries' letters");
    expect((await letters()).map((l) => l.reason)).toEqual([ErrorCode.SignatureMissing, ErrorCode.SignatureMissing]);
    await sub.stop();
    await loop;
  }, 120_000);
});
