/**
 * A hostile zone member, with exactly the identity `onex nats-auth` gives it, tries to read,
 * stall, take over or delete what serves another zone, and to turn the dead-letter stream
 * into a command channel. Each attack is made with raw nats.js requests, as an attacker
 * scripts them, against a server running the generated config.
 */
import { join } from "node:path";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { inboxPrefixOf } from "../../runtime/jetstream/authorization.js";
import { deadLetterSubject, listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";
import { DEAD_LETTER_STREAM, streamNameOf, zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { negotiateSubject, schemasSubject } from "../../runtime/negotiation/negotiation-service.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, ZONE_B, refusedByServer, startTwoZones, update, type TwoZones } from "./zones.js";

const SHARED = streamNameOf("event");
const STREAM_A = zoneStreamNameOf("event", ZONE_A);
const STREAM_B = zoneStreamNameOf("event", ZONE_B);
const LETTERS_A = `${DEAD_LETTER_STREAM}~zone~2Ea`;
const LETTERS_B = `${DEAD_LETTER_STREAM}~zone~2Eb`;
let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones();
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

describe("a zone-A member against zone B's consumers", () => {
  it("cannot create, update, inspect, delete, pull from or acknowledge on anything that serves zone B, and zone B keeps working", async () => {
    const b = await zones.member("b");
    await b.publish(update(ZONE_B, "b-1", "busy"));
    const tracker = await b.subscribe([v0_1.StateUpdate], { zone: ZONE_B, durable: "b-tracker", maxInFlight: 4 });
    expect(tracker.stream).toBe(STREAM_B);
    const first = await tracker[Symbol.asyncIterator]().next();
    await first.value!.ack();

    const { nc, jsm } = await zones.raw("a");
    const filterA = `jetstream.onex.zone.zone~2Ea.*.*.events`;
    const createB = JSON.stringify({ stream_name: STREAM_B, config: { durable_name: "b-tracker", filter_subject: filterA, ack_policy: AckPolicy.Explicit } });
    const attempts: [string, string][] = [
      // Re-filter zone B's durable onto zone A's subjects (a create on an existing name is an update).
      [`$JS.API.CONSUMER.CREATE.${STREAM_B}.b-tracker.${filterA}`, createB],
      [`$JS.API.CONSUMER.CREATE.${STREAM_B}.b-tracker`, createB],
      [`$JS.API.CONSUMER.DURABLE.CREATE.${STREAM_B}.b-tracker`, createB],
      [`$JS.API.CONSUMER.DELETE.${STREAM_B}.b-tracker`, "{}"],
      [`$JS.API.CONSUMER.INFO.${STREAM_B}.b-tracker`, "{}"],
      [`$JS.API.CONSUMER.MSG.NEXT.${STREAM_B}.b-tracker`, JSON.stringify({ batch: 10 })],
      [`$JS.API.CONSUMER.NAMES.${STREAM_B}`, "{}"],
      [`$JS.API.STREAM.INFO.${STREAM_B}`, "{}"],
      [`$JS.ACK.${STREAM_B}.b-tracker.1.2.2.0.0`, ""],
      // Were there a shared stream holding every zone: no consumer of any name, filter or kind there.
      [`$JS.API.CONSUMER.CREATE.${SHARED}.mine.${filterA}`, JSON.stringify({ stream_name: SHARED, config: { name: "mine", filter_subject: filterA } })],
      [`$JS.API.CONSUMER.CREATE.${SHARED}`, JSON.stringify({ stream_name: SHARED, config: { filter_subject: filterA } })],
      [`$JS.API.CONSUMER.MSG.NEXT.${SHARED}.anything`, "{}"],
      [`$JS.API.STREAM.MSG.GET.${SHARED}`, JSON.stringify({ seq: 1 })],
      // No stream may be changed or removed, not even the member's own zone stream.
      [`$JS.API.STREAM.DELETE.${SHARED}`, "{}"],
      [`$JS.API.STREAM.PURGE.${SHARED}`, "{}"],
      [`$JS.API.STREAM.UPDATE.${SHARED}`, JSON.stringify({ name: SHARED, subjects: [filterA] })],
      [`$JS.API.STREAM.DELETE.${STREAM_A}`, "{}"],
      [`$JS.API.STREAM.UPDATE.${STREAM_A}`, JSON.stringify({ name: STREAM_A, subjects: ["jetstream.onex.zone.zone~2Eb.*.*.events"] })],
      // Nor created: a mirror of zone B's stream would copy what zone B keeps.
      [`$JS.API.STREAM.CREATE.MINE`, JSON.stringify({ name: "MINE", mirror: { name: STREAM_B } })],
      [`$JS.API.STREAM.DELETE.${DEAD_LETTER_STREAM}`, "{}"],
      // The dead letters of every zone, its own included, stay with the operator.
      ...[DEAD_LETTER_STREAM, LETTERS_A, LETTERS_B].flatMap((letters): [string, string][] => [
        [`$JS.API.CONSUMER.CREATE.${letters}`, JSON.stringify({ stream_name: letters, config: {} })],
        [`$JS.API.CONSUMER.DURABLE.CREATE.${letters}.any`, JSON.stringify({ stream_name: letters, config: { durable_name: "any" } })],
        [`$JS.API.CONSUMER.MSG.NEXT.${letters}.any`, JSON.stringify({ batch: 1 })],
        [`$JS.API.STREAM.MSG.GET.${letters}`, JSON.stringify({ seq: 1 })],
        [`$JS.API.DIRECT.GET.${letters}`, JSON.stringify({ seq: 1 })],
        [`$JS.API.STREAM.INFO.${letters}`, "{}"],
      ]),
      // Account-wide counters would show other zones' activity.
      [`$JS.API.INFO`, "{}"],
    ];
    const notRefused: string[] = [];
    for (const [subject, body] of attempts) if (!(await refusedByServer(nc, subject, body))) notRefused.push(subject);
    expect(notRefused).toEqual([]);

    // The typed client is refused the same way, with its code.
    const a = await zones.member("a");
    await expect(a.subscribe([v0_1.StateUpdate], { zone: ZONE_B, durable: "b-tracker" })).rejects.toMatchObject({ code: ErrorCode.PermissionDenied });
    await expect(a.subscribe([v0_1.StateUpdate])).rejects.toMatchObject({ code: ErrorCode.PermissionDenied });

    // Zone B's durable is untouched: same filter, and its live subscription gets zone B's next message.
    const admin = await zones.raw("adminB");
    expect((await (await admin.jsm()).consumers.info(STREAM_B, "b-tracker")).config.filter_subject).toBe("jetstream.onex.zone.zone~2Eb.*.*.events");
    const next = update(ZONE_B, "b-1", "idle");
    await b.publish(next);
    await a.publish(update(ZONE_A, "a-1"));
    const got = await tracker[Symbol.asyncIterator]().next();
    expect((got.value!.message as v0_1.StateUpdate).id).toBe(next.id);
    await got.value!.ack();
    await tracker.stop();
    // The member's own zone works as before.
    const own = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A });
    expect(own.stream).toBe(STREAM_A);
    const mine = await own[Symbol.asyncIterator]().next();
    expect((mine.value!.message as v0_1.StateUpdate).source.zone).toBe(ZONE_A);
    await own.stop();
    void jsm;
  });
});

describe("replies of another identity", () => {
  /** Whether the server refuses `nc` a subscription on `subject`: its permissions error ends the subscription before the server answers a flush. */
  const subscriptionRefused = async (nc: NatsConnection, subject: string) => {
    const sub = nc.subscribe(subject);
    const ended = (async () => {
      try {
        for await (const _ of sub) void _;
        return "";
      } catch (error) {
        return String((error as Error).message);
      }
    })();
    await nc.flush();
    await new Promise((resolve) => setImmediate(resolve));
    if (!sub.isClosed()) {
      sub.unsubscribe();
      await ended;
      return false;
    }
    return /permissions violation/i.test(await ended);
  };

  it("a member cannot listen under another member's reply prefix, or any other but its own", async () => {
    const { nc } = await zones.raw("a");
    const refused: Record<string, boolean> = {};
    for (const subject of [`${inboxPrefixOf("node-a2")}.>`, `${inboxPrefixOf("node-b")}.>`, "_INBOX.>", "_INBOX_node-a2.*", ">"]) refused[subject] = await subscriptionRefused(nc, subject);
    expect(Object.entries(refused).filter(([, ok]) => !ok)).toEqual([]);
    // Its own prefix is its own: a subscription there stays open, and a request's reply comes back there.
    expect(await subscriptionRefused(nc, `${inboxPrefixOf("node-a")}.mine`)).toBe(false);
    expect(await refusedByServer(nc, update(ZONE_A, "a-own-inbox").subject(), "x")).toBe(false);
  });

  it("a member can neither send on the negotiation subjects nor listen on them, to rewrite or downgrade an agreement", async () => {
    const { nc } = await zones.raw("a");
    const subjects = [negotiateSubject("zone-b"), schemasSubject("zone-b"), negotiateSubject("zone.a"), schemasSubject("zone.a")];
    const sendable: string[] = [];
    for (const subject of subjects) if (!(await refusedByServer(nc, subject, "{}"))) sendable.push(subject);
    expect(sendable).toEqual([]);
    const heard: Record<string, boolean> = {};
    for (const subject of [...subjects, "onex.negotiate.*", "onex.schemas.>"]) heard[subject] = await subscriptionRefused(nc, subject);
    expect(Object.entries(heard).filter(([, refused]) => !refused)).toEqual([]);
  });
});

describe("dead letters cannot be turned into commands", () => {
  it("a member cannot write letters under another zone", async () => {
    const { nc } = await zones.raw("a");
    expect(await refusedByServer(nc, deadLetterSubject(ZONE_B, SHARED, "x"))).toBe(true);
    expect(await refusedByServer(nc, deadLetterSubject(undefined, SHARED, "x"))).toBe(true);
  });

  it("a member's flood of letters, past --dlq-max-bytes, pushes out only its own zone's older letters, never zone B's", async () => {
    // A max_payload the bound holds with room for a letter's subject (streams apply warns otherwise).
    const bounded = await startTwoZones("max_payload: 61000");
    try {
      const applied = runCli(["streams", "apply", "--identities", join(bounded.dir, "identities.yaml"), "--server", bounded.server.url, "--dlq-max-bytes", "65536"]);
      expect([applied.status, applied.stderr]).toEqual([0, ""]);
      const adminB = await (await bounded.raw("adminB")).jsm();
      expect((await adminB.streams.info(LETTERS_B)).config.max_bytes).toBe(65_536);
      const { nc: b } = await bounded.raw("b");
      const kept = await b.request(deadLetterSubject(ZONE_B, SHARED, "b-letters"), "zone B's letter");
      const keptSeq = (JSON.parse(kept.string()) as { seq: number }).seq;
      const { nc: a } = await bounded.raw("a");
      const first = JSON.parse((await a.request(deadLetterSubject(ZONE_A, SHARED, "flood"), "first")).string()) as { seq: number };
      // Four times the bound, in letters of 2 KiB, under the member's own prefix (all it may write under).
      for (let i = 0; i < 128; i++) await a.request(deadLetterSubject(ZONE_A, SHARED, "flood"), "x".repeat(2_048));
      const adminA = await (await bounded.raw("adminA")).jsm();
      const lettersA = (await adminA.streams.info(LETTERS_A)).state;
      expect(lettersA.bytes).toBeLessThanOrEqual(65_536);
      expect(lettersA.first_seq).toBeGreaterThan(first.seq);
      // Zone B's letters are another stream, in another account: untouched.
      const b1 = (await adminB.streams.info(LETTERS_B)).state;
      expect([b1.first_seq, b1.messages]).toEqual([keptSeq, 1]);
      expect(new TextDecoder().decode((await adminB.streams.getMessage(LETTERS_B, { seq: keptSeq }))!.data)).toBe("zone B's letter");
    } finally {
      await bounded.stop();
    }
  });

  it("replay refuses forged letters, leaves them in place, and replays a genuine one to the subject its original builds", async () => {
    const { js } = await zones.raw("a");
    const ownLetters = deadLetterSubject(ZONE_A, SHARED, "forger");
    const letter = async (body: object | string, recordedSubject: string) => {
      const h = natsHeaders();
      h.set(OnexHeader.DlqReason, ErrorCode.HandlerFailed);
      h.set(OnexHeader.DlqStream, SHARED);
      h.set(OnexHeader.DlqSubject, recordedSubject);
      h.set(OnexHeader.DlqSequence, "1");
      return (await js.publish(ownLetters, typeof body === "string" ? body : JSON.stringify(body), { headers: h })).seq;
    };
    // 1. A message for zone B, signed with zone A's own trusted key, in a zone-A letter.
    const intoB = update(ZONE_B, "b-1", "offline");
    const forgedIntoB = await letter(signMessage(intoB.toJSON(), zones.keys.a), intoB.subject());
    // 2. A genuine zone-A message whose letter names the JetStream API as its subject.
    const genuine = update(ZONE_A, "a-1", "draining");
    const signedGenuine = signMessage(genuine.toJSON(), zones.keys.a);
    const deleteStream = await letter(signedGenuine, `$JS.API.STREAM.DELETE.${SHARED}`);
    // 3. A zone-A message changed after signing.
    const altered = { ...signedGenuine, payload: { state: "offline" } };
    const tampered = await letter(altered, genuine.subject());
    // 4. Signed by nobody trusted.
    const stranger = await letter(signMessage(update(ZONE_A, "a-9").toJSON(), zones.keys.stranger), update(ZONE_A, "a-9").subject());
    // 5. Not a message at all.
    const junk = await letter("{\"type\":\"nope\"", genuine.subject());
    // 6. A genuine letter: the zone-A message on its own subject.
    const honest = await letter(signedGenuine, genuine.subject());

    const listed = zones.adminCli(["dlq", "list", "--json"]);
    expect(listed.status).toBe(0);
    const rows = listed.stdout.trim().split("\n").map((l) => JSON.parse(l) as { deadLetterStream: string; sequence: number; writer: string; target: string; reason: string });
    // A zone's letters are kept in its own dead-letter stream.
    const row = (seq: number) => rows.find((r) => r.deadLetterStream === LETTERS_A && r.sequence === seq)!;
    expect(row(forgedIntoB)).toMatchObject({ writer: `${ZONE_A}/forger`, reason: ErrorCode.HandlerFailed, target: intoB.subject() });
    expect(row(deleteStream).target).toBe(`${genuine.subject()} (the letter records $JS.API.STREAM.DELETE.${SHARED})`);
    expect(row(junk).target).toMatch(/^\(none: /);

    const refused = zones.adminCli(["dlq", "replay", String(forgedIntoB), String(deleteStream), String(tampered), String(stranger), String(junk), "--zone", ZONE_A, "--key", ...zones.keyFiles]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(ErrorCode.DeadLetterRefused);
    expect(refused.stderr).toMatch(new RegExp(`refused\\s+${forgedIntoB}: .*zone`));
    expect(refused.stderr).toMatch(new RegExp(`refused\\s+${deleteStream}: .*records subject`));
    expect(refused.stderr).toMatch(new RegExp(`refused\\s+${tampered}: .*does not verify`));
    expect(refused.stderr).toMatch(new RegExp(`refused\\s+${stranger}: .*does not verify`));
    expect(refused.stderr).toMatch(new RegExp(`refused\\s+${junk}: .*not a message`));
    expect(refused.stdout).toBe("");

    const jsm = await (await zones.raw("adminA")).jsm();
    // Nothing moved: the streams are there, zone B got nothing, every letter is still in place.
    const zoneA = await jsm.streams.info(STREAM_A);
    const zoneB = await (await (await zones.raw("adminB")).jsm()).streams.getMessage(STREAM_B, { last_by_subj: intoB.subject() }).catch(() => null);
    expect(zoneB === null || JSON.parse(new TextDecoder().decode(zoneB.data)).id !== intoB.id).toBe(true);
    const letters = await listDeadLetters(jsm, { zone: ZONE_A });
    for (const seq of [forgedIntoB, deleteStream, tampered, stranger, junk]) expect(letters.some((l) => l.sequence === seq)).toBe(true);

    const replayed = zones.adminCli(["dlq", "replay", String(honest), "--zone", ZONE_A, "--key", zones.keyFiles[0]!]);
    expect(replayed.stderr).toBe("");
    expect(replayed.status).toBe(0);
    expect(replayed.stdout).toContain(`-> ${STREAM_A}#${zoneA.state.last_seq + 1} (${genuine.subject()}, signed by ${zones.keys.a.keyId})`);
    const back = (await jsm.streams.getMessage(STREAM_A, { seq: zoneA.state.last_seq + 1 }))!;
    expect(back.subject).toBe(genuine.subject());
    expect(JSON.parse(new TextDecoder().decode(back.data))).toEqual(signedGenuine);
  });

  it("cannot stop a replay with a message stored ahead under the letter's id, with a header nats.js cannot read", async () => {
    const { js } = await zones.raw("a");
    const genuine = update(ZONE_A, "a-decoy", "draining");
    const signed = JSON.stringify(signMessage(genuine.toJSON(), zones.keys.a));
    const h = letterHeaders(genuine.subject());
    h.set(OnexHeader.DlqStream, SHARED);
    // The member writes the letter, and learns its sequence from the acknowledgement.
    const letter = (await js.publish(deadLetterSubject(ZONE_A, SHARED, "forger"), signed, { headers: h })).seq;
    // Then it stores, under the id the replay will use, the original with a header name nats.js throws on.
    const decoyHeaders = natsHeaders();
    decoyHeaders.set(OnexHeader.Type, "signal.state.update");
    decoyHeaders.set(OnexHeader.Version, "0.1");
    (decoyHeaders as unknown as { headers: Map<string, string[]> }).headers.set("Bad Name", ["x"]);
    const decoy = await js.publish(genuine.subject(), signed, { headers: decoyHeaders, msgID: `replay:${LETTERS_A}:${letter}` });
    expect(decoy.duplicate).toBe(false);

    const replayed = zones.adminCli(["dlq", "replay", String(letter), "--zone", ZONE_A, "--key", zones.keyFiles[0]!]);
    expect([replayed.status, replayed.stderr]).toEqual([0, ""]);
    expect(replayed.stdout).toContain(`replayed ${letter} -> ${STREAM_A}#${decoy.seq + 1} (${genuine.subject()}, signed by ${zones.keys.a.keyId})`);
    const jsm = await (await zones.raw("adminA")).jsm();
    const back = (await jsm.streams.getMessage(STREAM_A, { seq: decoy.seq + 1 }))!;
    expect([back.subject, back.header.get(OnexHeader.Type), new TextDecoder().decode(back.data)]).toEqual([genuine.subject(), "signal.state.update", signed]);
  });
});

/** Headers of a dead letter for a message on `subject`, as a member forges them onto a message of its own. */
function letterHeaders(subject: string) {
  const h = natsHeaders();
  h.set(OnexHeader.DlqReason, ErrorCode.HandlerFailed);
  h.set(OnexHeader.DlqStream, STREAM_A);
  h.set(OnexHeader.DlqConsumer, "billing");
  h.set(OnexHeader.DlqSubject, subject);
  h.set(OnexHeader.DlqSequence, "1");
  return h;
}

describe("a pull request's reply subject", () => {
  /** A consumer of the member's own zone stream on `subject`, from `from`, acknowledging nothing, pulled once for `batch` with `reply` as the reply subject. */
  async function pullOnce(nc: NatsConnection, name: string, subject: string, from: number, reply: string, batch: number): Promise<void> {
    const config = { durable_name: name, ack_policy: AckPolicy.None, deliver_policy: "by_start_sequence", opt_start_seq: from, filter_subject: subject, inactive_threshold: 30e9 };
    await nc.request(`$JS.API.CONSUMER.DURABLE.CREATE.${STREAM_A}.${name}`, JSON.stringify({ stream_name: STREAM_A, config }));
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${STREAM_A}.${name}`, JSON.stringify({ batch, no_wait: true }), { reply });
  }

  /** pullOnce, then waits until the consumer has delivered all it holds (wherever the reply went). */
  async function pullInto(nc: NatsConnection, name: string, subject: string, from: number, reply: string, batch: number): Promise<void> {
    await pullOnce(nc, name, subject, from, reply, batch);
    for (;;) {
      const info = JSON.parse((await nc.request(`$JS.API.CONSUMER.INFO.${STREAM_A}.${name}`)).string()) as { delivered: { consumer_seq: number }; num_pending: number };
      if (info.delivered.consumer_seq > 0 && info.num_pending === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("cannot have its zone's messages stored again: deliveries aimed at the zone's own subject (which looped until the server ran out of memory) store nothing", async () => {
    const { nc, js } = await zones.raw("a");
    const subject = update(ZONE_A, "a-loop").subject();
    const first = await js.publish(subject, "{}");
    for (let i = 0; i < 2; i++) await js.publish(subject, "{}");
    // Two consumers, each delivering the three onto the subject their stream stores: in one
    // shared account each copy was stored again, and delivered again by both.
    await pullInto(nc, `loop-1-${process.pid}`, subject, first.seq, subject, 3);
    await pullInto(nc, `loop-2-${process.pid}`, subject, first.seq, subject, 3);
    // Stored after whatever the deliveries would have stored.
    const marker = await js.publish(subject, "{}");
    expect(marker.seq).toBe(first.seq + 3);
  });

  it("cannot have JetStream deliver a stored message, with letter headers of its choosing, into the admins' dead-letter stream", async () => {
    const { nc, js } = await zones.raw("a");
    const genuine = update(ZONE_A, "a-pulled", "draining");
    const h = letterHeaders(genuine.subject());
    const adminA = await (await zones.raw("adminA")).jsm();
    const before = (await adminA.streams.info(DEAD_LETTER_STREAM)).state.messages;
    const stored = await js.publish(genuine.subject(), JSON.stringify(signMessage(genuine.toJSON(), zones.keys.a)), { headers: h });
    const name = `pull-into-letters-${process.pid}`;
    await pullOnce(nc, name, genuine.subject(), stored.seq, deadLetterSubject(undefined, SHARED, "billing"), 1);
    // A second pull, to the member's own inbox, answered after the first was handled: the message
    // (had the first not taken it) or the status that there is none.
    const sync = nc.subscribe(`${inboxPrefixOf("node-a")}.sync`, { max: 1 });
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${STREAM_A}.${name}`, JSON.stringify({ batch: 1, no_wait: true }), { reply: `${inboxPrefixOf("node-a")}.sync` });
    for await (const _answer of sync) break;
    // Shared with the admins, the account stored the delivery there, under its own subject (dlq
    // list showed its first token as the writer's zone); from the members' account it goes nowhere.
    expect((await adminA.streams.info(DEAD_LETTER_STREAM)).state.messages).toBe(before);
    expect((await listDeadLetters(adminA, { stream: DEAD_LETTER_STREAM })).some((l) => l.letterSubject === genuine.subject())).toBe(false);
  });

  it("were such a delivery stored in the admins' dead-letter stream anyway (by an admin's own pull), dlq list shows it with no writer and dlq replay refuses it", async () => {
    // The admin shares the account with the streams, so there the delivery is stored, under the message's own subject.
    const { nc, js } = await zones.raw("adminA");
    const adminA = await (await zones.raw("adminA")).jsm();
    const genuine = update(ZONE_A, "a-admin-pulled", "draining");
    const h = letterHeaders(genuine.subject());
    const before = (await adminA.streams.info(DEAD_LETTER_STREAM)).state.last_seq;
    const stored = await js.publish(genuine.subject(), JSON.stringify(signMessage(genuine.toJSON(), zones.keys.a)), { headers: h });
    await pullInto(nc, `admin-pull-into-letters-${process.pid}`, genuine.subject(), stored.seq, deadLetterSubject(undefined, SHARED, "billing"), 1);
    const letters = await listDeadLetters(adminA, { stream: DEAD_LETTER_STREAM });
    const strayed = letters.find((l) => l.sequence > before && l.letterSubject === genuine.subject());
    expect(strayed).toBeDefined();

    const listed = zones.adminCli(["dlq", "list", "--json"]);
    expect(listed.status).toBe(0);
    const row = listed.stdout.trim().split("\n").map((l) => JSON.parse(l) as { deadLetterStream: string; sequence: number; writer: string }).find((r) => r.deadLetterStream === DEAD_LETTER_STREAM && r.sequence === strayed!.sequence);
    expect(row?.writer).toBe(`(none: stored under ${genuine.subject()}, not a letter's subject)`);

    const refused = zones.adminCli(["dlq", "replay", String(strayed!.sequence), "--key", ...zones.keyFiles]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(ErrorCode.DeadLetterRefused);
    expect(refused.stderr).toMatch(new RegExp(`refused\\s+${strayed!.sequence}: .*not under a letter's subject`));
    expect(refused.stdout).toBe("");
    // Left in place, and nothing published: the zone stream's last message is still the one pulled.
    expect((await listDeadLetters(adminA, { stream: DEAD_LETTER_STREAM })).some((l) => l.sequence === strayed!.sequence)).toBe(true);
    expect((await adminA.streams.info(STREAM_A)).state.last_seq).toBe(stored.seq);
  });
});

describe("a push consumer's delivery subject", () => {
  it("cannot have JetStream push its zone's messages into the admins' dead-letter stream or back into its own stream", async () => {
    const { nc, js } = await zones.raw("a");
    const genuine = update(ZONE_A, "a-pushed", "draining");
    const h = letterHeaders(genuine.subject());
    const stored = await js.publish(genuine.subject(), "{}", { headers: h });
    const adminA = await (await zones.raw("adminA")).jsm();
    const before = await Promise.all([DEAD_LETTER_STREAM, STREAM_A].map(async (s) => (await adminA.streams.info(s)).state.messages));
    const config = (deliver: string, name?: string) => ({ ...(name === undefined ? {} : { durable_name: name }), ack_policy: AckPolicy.None, deliver_policy: "by_start_sequence", opt_start_seq: stored.seq, filter_subject: genuine.subject(), deliver_subject: deliver });
    // No ephemeral consumer at all, on either of its subjects: nats-server switches a recovered
    // ephemeral push consumer on when a stream captures its subject (hostile-member-restart.test.ts).
    const intoLetters = deadLetterSubject(undefined, SHARED, "billing");
    expect(await refusedByServer(nc, `$JS.API.CONSUMER.CREATE.${STREAM_A}`, JSON.stringify({ stream_name: STREAM_A, config: config(intoLetters) }))).toBe(true);
    expect(await refusedByServer(nc, `$JS.API.CONSUMER.CREATE.${STREAM_A}.pushed.${genuine.subject()}`, JSON.stringify({ stream_name: STREAM_A, config: { ...config(intoLetters), name: "pushed" } }))).toBe(true);
    const durable = async (deliver: string, name: string) =>
      JSON.parse((await nc.request(`$JS.API.CONSUMER.DURABLE.CREATE.${STREAM_A}.${name}`, JSON.stringify({ stream_name: STREAM_A, config: config(deliver, name) }))).string()) as { name?: string; error?: { description: string } };
    // Into its own stream: the server refuses the consumer.
    expect((await durable(update(ZONE_A, "a-elsewhere").subject(), `own-${process.pid}`)).error?.description).toMatch(/cycle/);
    // Into the admins' letters: made, but a push consumer delivers only while a client subscribes
    // to its subject (a stream's capture does not count), and the member's account cannot; were it
    // delivered, the letter would carry the headers above.
    const made = await durable(intoLetters, `letters-${process.pid}`);
    expect(made.error).toBeUndefined();
    for (let look = 0; look < 20; look++) {
      const info = JSON.parse((await nc.request(`$JS.API.CONSUMER.INFO.${STREAM_A}.${made.name}`)).string()) as { delivered: { consumer_seq: number } };
      if (info.delivered.consumer_seq > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const after = await Promise.all([DEAD_LETTER_STREAM, STREAM_A].map(async (s) => (await adminA.streams.info(s)).state.messages));
    expect(after).toEqual(before);
    expect((await listDeadLetters(adminA, { stream: DEAD_LETTER_STREAM })).some((l) => l.letterSubject === genuine.subject())).toBe(false);
  });
});

describe("the reply subject of a member's own publish", () => {
  // JetStream sends a publish's acknowledgement, {"stream":…,"seq":N}, to whatever reply
  // subject the publisher chose, with its own authority: NATS checks no reply subject.
  it("a durable consumer planted in its own zone is refused or brought to the subscription's settings, never used as found", async () => {
    const { nc } = await zones.raw("a");
    const api = async (subject: string, body: object) => JSON.parse(new TextDecoder().decode((await nc.request(subject, JSON.stringify(body))).data)) as { error?: unknown; config?: Record<string, unknown> };
    const plant = (name: string, config: object) => api(`$JS.API.CONSUMER.DURABLE.CREATE.${STREAM_A}.${name}`, { stream_name: STREAM_A, config: { durable_name: name, filter_subject: "jetstream.onex.zone.zone~2Ea.*.*.events", ...config } });
    // Acknowledged on delivery: a handler's failure would lose the message.
    expect((await plant("planted-none", { ack_policy: AckPolicy.None })).error).toBeUndefined();
    // Explicit, but with settings that redeliver a slow handler's message, stall it, and drop it on the server.
    expect((await plant("planted-slack", { ack_policy: AckPolicy.Explicit, ack_wait: 1_000_000_000, max_ack_pending: 1, max_deliver: 1 })).error).toBeUndefined();
    // Explicit, but handing out headers without bodies.
    expect((await plant("planted-headers", { ack_policy: AckPolicy.Explicit, headers_only: true })).error).toBeUndefined();
    const victim = await zones.member("a2");
    await expect(victim.subscribe([v0_1.StateUpdate], { zone: ZONE_A, durable: "planted-none" })).rejects.toMatchObject({ code: ErrorCode.StreamConfig, message: expect.stringContaining("acknowledgement policy none") });
    await expect(victim.subscribe([v0_1.StateUpdate], { zone: ZONE_A, durable: "planted-headers" })).rejects.toMatchObject({ code: ErrorCode.StreamConfig, message: expect.stringContaining("headers only (no bodies)") });
    // Explicit, but delivering somewhere else, at the original pace, in small pulls or on its own redelivery schedule.
    const foreign: [string, object, string][] = [
      ["planted-push", { ack_policy: AckPolicy.Explicit, deliver_subject: `${inboxPrefixOf("node-a")}.push`, rate_limit_bps: 1_000 }, "a push delivery subject"],
      ["planted-pace", { ack_policy: AckPolicy.Explicit, replay_policy: "original" }, "replay policy original"],
      ["planted-batch", { ack_policy: AckPolicy.Explicit, max_batch: 1 }, "a pull batch limit of 1"],
      ["planted-expiry", { ack_policy: AckPolicy.Explicit, max_expires: 1_000_000 }, "a pull expiry limit"],
      ["planted-backoff", { ack_policy: AckPolicy.Explicit, max_deliver: 5, backoff: [1_000_000_000, 2_000_000_000] }, "a redelivery backoff"],
    ];
    for (const [name, config, what] of foreign) {
      expect((await plant(name, config)).error).toBeUndefined();
      await expect(victim.subscribe([v0_1.StateUpdate], { zone: ZONE_A, durable: name })).rejects.toMatchObject({ code: ErrorCode.StreamConfig, message: expect.stringContaining(what) });
    }
    const sub = await victim.subscribe([v0_1.StateUpdate], { zone: ZONE_A, durable: "planted-slack", ackWaitMs: 60_000, maxInFlight: 10, maxDeliver: 3 });
    const now = (await api(`$JS.API.CONSUMER.INFO.${STREAM_A}.planted-slack`, {})).config!;
    expect([now.ack_wait, now.max_ack_pending, now.max_deliver]).toEqual([60_000_000_000, 10, -1]);
    await sub.stop();
  });

  it("cannot purge or delete what another zone or the operator keeps", async () => {
    const b = await zones.member("b");
    for (let i = 0; i < 5; i++) await b.publish(update(ZONE_B, `b-keep-${i}`));
    const admin = await (await zones.raw("adminB")).jsm();
    const before = await Promise.all([STREAM_B, DEAD_LETTER_STREAM, LETTERS_B].map(async (s) => (await admin.streams.info(s)).state));
    const { nc } = await zones.raw("a");
    const own = update(ZONE_A, "a-reply").subject();
    // Above zone B's sequences, so an acknowledgement read as a purge request would purge them all.
    for (let i = 0; i < 20; i++) await nc.request(own, "x");
    const targets = [STREAM_B, DEAD_LETTER_STREAM, LETTERS_B].flatMap((s) => [`$JS.API.STREAM.PURGE.${s}`, `$JS.API.STREAM.MSG.DELETE.${s}`]);
    for (const reply of targets) nc.publish(own, "x", { reply });
    // The last acknowledgement comes back to the attacker once the stream has answered the others.
    await nc.request(own, "x");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await Promise.all([STREAM_B, DEAD_LETTER_STREAM, LETTERS_B].map(async (s) => (await admin.streams.info(s)).state));
    expect(after.map((s) => [s.first_seq, s.messages])).toEqual(before.map((s) => [s.first_seq, s.messages]));
  });

  it("cannot purge or delete messages of its own zone's streams either, through the reply subject or the API", async () => {
    const { nc } = await zones.raw("a");
    const own = update(ZONE_A, "a-own-reply").subject();
    // Each of zone A's streams holds a letter or message first, so a purge up to an acknowledgement's sequence would show.
    await nc.request(deadLetterSubject(ZONE_A, SHARED, "purge-bait"), "x");
    await (await zones.raw("adminA")).nc.request(deadLetterSubject(undefined, SHARED, "purge-bait"), "x");
    for (let i = 0; i < 20; i++) await nc.request(own, "x");
    const adminA = await (await zones.raw("adminA")).jsm();
    const mine = [STREAM_A, LETTERS_A, DEAD_LETTER_STREAM];
    const state = () => Promise.all(mine.map(async (s) => (await adminA.streams.info(s)).state));
    const before = await state();
    expect(before.map((s) => s.messages > 0)).toEqual([true, true, true]);
    const targets = mine.flatMap((s) => [`$JS.API.STREAM.PURGE.${s}`, `$JS.API.STREAM.MSG.DELETE.${s}`]);
    // An acknowledgement reads as {"stream":…,"seq":N}: a purge of everything below N, or a delete of message N (the one just stored).
    for (const reply of targets) nc.publish(own, "x", { reply });
    await nc.request(own, "x");
    // Asked directly, the API refuses the member outright.
    const notRefused: string[] = [];
    for (const subject of targets) if (!(await refusedByServer(nc, subject, JSON.stringify({ seq: 1 })))) notRefused.push(subject);
    expect(notRefused).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await state();
    // Nothing removed: the letters as they were, the zone stream grown by exactly what was published.
    expect(after.map((s) => [s.first_seq, s.num_deleted ?? 0])).toEqual(before.map((s) => [s.first_seq, s.num_deleted ?? 0]));
    expect(after.map((s) => s.messages)).toEqual([before[0]!.messages + targets.length + 1, before[1]!.messages, before[2]!.messages]);
  });

  it("cannot stall its zone's stream with a Nats-Expected-* header that fails: that publish alone is refused, and no zone stream copies another (a source stops at the first such header)", async () => {
    const { nc } = await zones.raw("a");
    const own = update(ZONE_A, "a-expected").subject();
    const answer = async (header?: [string, string]) => {
      const h = natsHeaders();
      if (header !== undefined) h.set(...header);
      return (await nc.request(own, "x", { headers: h, timeout: 5_000 })).json<{ seq?: number; error?: { err_code: number } }>();
    };
    const failing: [string, string][] = [["Nats-Expected-Last-Sequence", "999999999"], ["Nats-Expected-Stream", "SOMEWHERE_ELSE"], ["Nats-Expected-Last-Subject-Sequence", "999999999"]];
    for (const header of failing) expect([header, (await answer(header)).error?.err_code]).toEqual([header, expect.any(Number)]);
    // The next publish, the member's own or anyone's, is stored as ever.
    expect((await answer()).seq).toBeGreaterThan(0);
    const adminA = await (await zones.raw("adminA")).jsm();
    const copying: string[] = [];
    for await (const info of adminA.streams.list()) if ((info.config.sources?.length ?? 0) > 0 || info.config.mirror !== undefined) copying.push(info.config.name);
    expect(copying).toEqual([]);
  });

  it("reaches nothing of another zone, nor the admins' dead letters of its own", async () => {
    const b = await zones.member("b");
    const sub = await b.subscribe([v0_1.StateUpdate], { zone: ZONE_B, entityId: "b-victim", durable: "b-victim" });
    const adminB = await (await zones.raw("adminB")).jsm();
    const before = (await adminB.streams.info(STREAM_B)).state.messages;
    const { nc } = await zones.raw("a");
    const own = update(ZONE_A, "a-inject").subject();
    nc.publish(own, "x", { reply: update(ZONE_B, "b-victim").subject() });
    nc.publish(own, "x", { reply: deadLetterSubject(ZONE_B, SHARED, "b-looking") });
    nc.publish(own, "x", { reply: deadLetterSubject(undefined, SHARED, "admin-looking") });
    await nc.request(own, "x");
    const valid = update(ZONE_B, "b-victim", "busy");
    await b.publish(valid);
    const first = await sub[Symbol.asyncIterator]().next();
    expect((first.value!.message as v0_1.StateUpdate).id).toBe(valid.id);
    await first.value!.ack();
    await sub.stop();
    // Zone B's account saw only zone B's own message; no letter of it came from elsewhere.
    expect((await adminB.streams.info(STREAM_B)).state.messages).toBe(before + 1);
    expect((await listDeadLetters(adminB)).filter((l) => l.consumer === "b-looking" || l.consumer === "b-victim")).toEqual([]);
    // Nor in its own zone: the acknowledgement aimed at the admins' letters returns to the
    // members' account, where no stream stores it (shared with the admins, it was stored there).
    const adminA = await (await zones.raw("adminA")).jsm();
    expect((await listDeadLetters(adminA, { stream: DEAD_LETTER_STREAM })).filter((l) => l.letterSubject.endsWith("admin-looking"))).toEqual([]);
  });
});

describe("history a member stored, as an operator reads it", () => {
  it("onex replay prints each stored message on one line with controls escaped, and reports a body that is not JSON instead of printing it", async () => {
    const a = await zones.member("a");
    const genuine = update(ZONE_A, "history", "busy");
    const published = await a.publish(genuine);
    const { nc } = await zones.raw("a2");
    const subject = genuine.subject();
    const fakeOk = "\u001b[2J\u001b[1;31mOK all messages verified\u001b[0m";
    // A body that would print as two records, the second a copy of the genuine one, then a terminal escape.
    await nc.request(subject, `{"note":"x"}\n${JSON.stringify(signMessage(genuine.toJSON(), zones.keys.a))}\n${fakeOk}`);
    // Valid JSON whose strings carry a line break, an escape and a bidirectional override.
    await nc.request(subject, JSON.stringify({ note: `line\u2028break ${fakeOk} \u202eevil` }, null, 2));
    await nc.request(subject, "not json");
    const out = zones.adminCli(["replay", "--zone", ZONE_A, "--from-seq", String(published.sequence)]);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(ErrorCode.JsonSyntax);
    expect(out.stderr).toContain("2 stored message(s) are not JSON");
    expect(out.stderr).not.toMatch(/[\u001b\u2028\u202e]/);
    expect(out.stdout).not.toMatch(/[\u001b\u2028\u202e]/);
    const lines = out.stdout.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l) as { id?: string; note?: string }).map((m) => m.id ?? m.note)).toEqual([genuine.id, `line\u2028break ${fakeOk} \u202eevil`]);
  });
});
