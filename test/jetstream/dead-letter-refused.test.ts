/**
 * A zone member fills its zone's storage, so that the zone's dead-letter stream refuses every
 * letter, with a forgery waiting in the stream. The forgery must be kept (not acknowledged and
 * lost) while no letter can be written, the genuine message behind it delivered, and once the
 * storage has room again the forgery dead-lettered once, for what is wrong with it. Against a
 * server running the generated config, as the member `onex nats-auth` gives.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { eventually } from "../registry/fixtures.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, startTwoZones, update, type TwoZones } from "./zones.js";

const STREAM_A = zoneStreamNameOf("event", ZONE_A);
const MAX_PAYLOAD = 64 * 1024;
let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones(`max_payload: ${MAX_PAYLOAD}`, ["--zone-storage", "1MB"]);
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

describe("a dead-letter stream that refuses letters", () => {
  it("keeps a forgery until its letter is stored, delivers the genuine message behind it, and letters the forgery for its own fault, not as a handler's", async () => {
    const { js } = await zones.raw("a2");
    // The attacker's forgery (a trusted-looking message nobody signed), then a member's genuine message.
    const forged = update(ZONE_A, "poisoned");
    await js.publish(forged.subject(), JSON.stringify(forged.toJSON()));
    const warnings: string[] = [];
    const a = await zones.member("a", { trust: { zone: ZONE_A, logger: { warn: (text: string) => warnings.push(text) } } });
    const genuine = update(ZONE_A, "poisoned", "busy");
    await a.publish(genuine);
    // The zone's storage filled, the dead letters' stream (in the zone's account) with it.
    const filler = update(ZONE_A, "filler").subject();
    // Filled to the last bytes, so that not even a letter of a few hundred bytes fits.
    let refused: unknown;
    for (const size of [MAX_PAYLOAD - 1_024, 4_096, 256, 16]) {
      refused = undefined;
      for (let i = 0; i < 1_024 && refused === undefined; i++) {
        refused = await js.publish(filler, new Uint8Array(size)).then(
          () => undefined,
          (error: unknown) => error,
        );
      }
      expect(String(refused)).toMatch(/resource limits exceeded for account/i);
    }

    const maxDeliver = 2;
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "poisoned", durable: "poisoned", maxDeliver, ackWaitMs: 300 });
    // The service's loop, as any service runs it: every delivery acknowledged.
    const delivered: string[] = [];
    const loop = (async () => {
      for await (const d of sub) {
        delivered.push(d.message.id);
        await d.ack();
      }
    })();
    await eventually(async () => delivered.length > 0, 20_000, "the genuine message");
    expect(delivered).toEqual([genuine.id]);
    // The forgery's letter is refused again and again, past maxDeliver tries: it stays pending, unacknowledged.
    const refusedLetters = () => warnings.filter((w) => w.includes("cannot dead-letter")).length;
    await eventually(async () => refusedLetters() > maxDeliver + 1, 20_000, "letters refused past maxDeliver");
    const admin = await zones.raw("adminA");
    const jsm = await admin.jsm();
    expect((await jsm.consumers.info(STREAM_A, "poisoned")).num_ack_pending).toBe(1);
    expect(await listDeadLetters(jsm, { zone: ZONE_A })).toEqual([]);

    // The operator gives the zone more storage (`onex nats-auth --zone-storage`) and restarts the server with it.
    const config = join(zones.server.storeDir, "server.conf");
    const text = await readFile(config, "utf8");
    expect(text).toContain("max_file: 1048576,");
    await writeFile(config, text.replaceAll("max_file: 1048576,", "max_file: 4194304,"));
    await zones.server.kill();
    await zones.server.restart();
    // Asked again until the server is back and the letter stored.
    const lettersNow = () => listDeadLetters(jsm, { zone: ZONE_A }).catch(() => []);
    await eventually(async () => (await lettersNow()).length > 0, 45_000, "the forgery's letter");
    await eventually(async () => (await jsm.consumers.info(STREAM_A, "poisoned").catch(() => undefined))?.num_ack_pending === 0, 45_000, "the forgery settled");
    const letters = await lettersNow();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.subject).toBe(forged.subject());
    // Its fault is its signature (it has none), whatever the tries cost while no letter could be stored.
    expect(letters[0]!.reason).toBe(ErrorCode.SignatureMissing);
    expect(sub.stats).toMatchObject({ delivered: 1, deadLettered: 1 });
    expect(delivered).toEqual([genuine.id]);
    await sub.stop();
    await loop;
  }, 120_000);
});
