/**
 * A zone member fills the waiting list of another member's durable consumer with pull
 * requests of its own (`$JS.API.CONSUMER.MSG.NEXT`, which its permissions allow on every
 * consumer of its zone's streams). Against a server running the generated config, as the
 * member `onex nats-auth` gives.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { eventually } from "../registry/fixtures.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, refusedByServer, startTwoZones, update, type TwoZones } from "./zones.js";

const STREAM_A = zoneStreamNameOf("event", ZONE_A);
/** More than a consumer's default waiting list (512) holds. */
const PULLS = 600;
let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones();
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

describe("a consumer's waiting list filled by another member", () => {
  it("puts the attacker's pulls ahead of the subscription's for as long as they last: they take its messages again and again until the subscription dead-letters them unseen; an ephemeral consumer's name is out of the attacker's reach", async () => {
    const a = await zones.member("a");
    const maxDeliver = 3;
    const durable = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "crowded", durable: "crowded", maxDeliver, ackWaitMs: 1_000 });
    const ephemeral = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "crowded" });
    const readAll = (sub: typeof durable, into: { id: string; deliveries: number }[]) =>
      (async () => {
        for await (const d of sub) {
          into.push({ id: d.message.id, deliveries: d.deliveries });
          await d.ack();
        }
      })();
    const viaDurable: { id: string; deliveries: number }[] = [];
    const viaEphemeral: { id: string; deliveries: number }[] = [];
    const loops = [readAll(durable, viaDurable), readAll(ephemeral, viaEphemeral)];

    // The attacker: pulls of an hour each, more than the waiting list holds, never acknowledged.
    const attacker = await zones.raw("a2");
    /** Deliveries to the attacker, per message id. */
    const stolen = new Map<string, number>();
    let refused = 0;
    attacker.nc.subscribe("_INBOX_node-a2.pulls.>", {
      callback: (_error, msg) => {
        if (msg.headers?.code === 409) refused++;
        if (msg.data.length === 0) return;
        const { id } = JSON.parse(new TextDecoder().decode(msg.data)) as { id: string };
        stolen.set(id, (stolen.get(id) ?? 0) + 1);
      },
    });
    for (let i = 0; i < PULLS; i++) {
      attacker.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${STREAM_A}.crowded`, JSON.stringify({ batch: 1, expires: 3_600 * 1e9 }), { reply: `_INBOX_node-a2.pulls.${i}` });
    }
    await attacker.nc.flush();
    // The waiting list (512 by default; onex sets none) takes what it holds beside the subscription's own pull, and refuses the rest.
    const admin = await (await zones.raw("adminA")).jsm();
    expect((await admin.consumers.info(STREAM_A, "crowded")).config.max_waiting).toBe(512);
    await eventually(async () => refused > 0 && refused + (await admin.consumers.info(STREAM_A, "crowded")).num_waiting >= PULLS, 15_000, "the waiting list full");

    const messages = [update(ZONE_A, "crowded", "busy"), update(ZONE_A, "crowded", "idle"), update(ZONE_A, "crowded", "draining")];
    for (const message of messages) await a.publish(message);
    // An ephemeral consumer is the subscription's own: its name is random, and no member may list names.
    await eventually(async () => viaEphemeral.length === messages.length, 15_000, "the ephemeral subscription's deliveries");
    expect(viaEphemeral).toEqual(messages.map((m) => ({ id: m.id, deliveries: 1 })));
    expect(await refusedByServer(attacker.nc, `$JS.API.CONSUMER.NAMES.${STREAM_A}`)).toBe(true);
    expect(await refusedByServer(attacker.nc, `$JS.API.CONSUMER.LIST.${STREAM_A}`)).toBe(true);
    // The durable's name is known to the zone: each message goes to the attacker's pulls, ahead
    // of the subscription's (all but one the subscription may have had waiting before them), and
    // again to the next of them each time its ack_wait runs out.
    await eventually(async () => stolen.size >= messages.length - 1 && [...stolen.values()].every((n) => n >= maxDeliver), 60_000, "messages taken maxDeliver times");
    const taken = new Set(stolen.keys());
    expect(viaDurable.filter((d) => taken.has(d.id))).toEqual([]);

    // Once the pulls end (with the attacker's connection), the subscription gets each of them
    // past its attempts, and dead-letters it without its handler ever seeing it.
    await attacker.nc.close();
    await eventually(async () => durable.stats.deadLettered === taken.size, 30_000, "the durable's letters");
    expect(viaDurable.filter((d) => taken.has(d.id))).toEqual([]);
    expect(viaDurable.length + taken.size).toBe(messages.length);
    const letters = (await listDeadLetters(admin, { zone: ZONE_A })).filter((l) => l.consumer === "crowded");
    expect(letters.map((l) => l.reason)).toEqual([...taken].map(() => ErrorCode.HandlerFailed));
    expect(letters.every((l) => l.deliveries > maxDeliver)).toBe(true);
    await durable.stop();
    await ephemeral.stop();
    await Promise.all(loops);
  }, 150_000);
});
