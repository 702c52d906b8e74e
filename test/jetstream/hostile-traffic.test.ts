/**
 * What a hostile publisher inside a zone can send, and what a subscription's own life
 * cycle must survive: replays, floods of forgeries, poison near max_payload, mislabelled
 * types, and stop / working / close / a deleted consumer. Against a server running the
 * generated config, with the member identities `onex nats-auth` gives.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { versionGraph } from "../../generated/transforms/index.js";
import type { Delivery, Subscription } from "../../runtime/control-plane.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { DEFAULT_ZONE_CONSUMERS } from "../../runtime/jetstream/authorization.js";
import { deadLetterSubject, listDeadLetters, type DeadLetter } from "../../runtime/jetstream/dead-letter.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";
import { readHistory } from "../../runtime/jetstream/history.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { GrantBook, issueSessionGrant } from "../../runtime/trust/session-grant.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { putDurableConsumer } from "../../runtime/jetstream/durable-consumer.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, ZONE_B, dispatch, startTwoZones, update, type TwoZones } from "./zones.js";

const STREAM_A = zoneStreamNameOf("event", ZONE_A);
/** Small enough to fill quickly, large enough for ordinary messages. */
const MAX_PAYLOAD = 64 * 1024;
let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones(`max_payload: ${MAX_PAYLOAD}`);
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

async function lettersOf(consumer: string): Promise<DeadLetter[]> {
  const admin = await zones.raw("adminA");
  // In the order of the messages they are for (letters are written concurrently).
  return (await listDeadLetters(await admin.jsm())).filter((l) => l.consumer === consumer).sort((x, y) => x.originalSequence - y.originalSequence);
}

async function consumerState(consumer: string) {
  const admin = await zones.raw("adminA");
  return (await admin.jsm()).consumers.info(STREAM_A, consumer);
}

/** Publishes raw bytes on a zone-A subject as a zone-A member, with the headers a publisher chooses. */
async function publishRaw(subject: string, body: string | Uint8Array, type?: string): Promise<void> {
  const { js } = await zones.raw("a2");
  const h = natsHeaders();
  if (type !== undefined) h.set(OnexHeader.Type, type);
  await js.publish(subject, body, { headers: h });
}

/** Iterates `sub` to its end: the error it ended with, or undefined. */
async function endOf<M>(sub: Subscription<M>): Promise<unknown> {
  try {
    for await (const _ of sub) void _;
    return undefined;
  } catch (error) {
    return error;
  }
}

async function next<M>(sub: Subscription<M>): Promise<Delivery<M>> {
  const step = await sub[Symbol.asyncIterator]().next();
  if (step.done) throw new Error("the subscription ended");
  return step.value;
}

describe("replays and forgeries", () => {
  it("a replayed message is refused on every delivery and never reaches the handler", async () => {
    const a = await zones.member("a", { trust: { zone: ZONE_A, logger: { warn() {} }, replay: new ReplayGuard() } });
    const original = dispatch(ZONE_A, "t-replay");
    await a.publish(original);
    const sub = await a.subscribe([v0_1.TaskDispatch], { zone: ZONE_A, entityId: "t-replay", durable: "replay-victim", ackWaitMs: 1_000 });
    const first = await next(sub);
    expect(first.message.id).toBe(original.id);
    await first.ack();

    // The attacker, a fellow zone member, stores the same signed bytes again under a fresh de-duplication id.
    const stored = await (await (await zones.raw("adminA")).jsm()).streams.getMessage(STREAM_A, { last_by_subj: original.subject() });
    await publishRaw(original.subject(), stored!.data, original.type);
    const honest = dispatch(ZONE_A, "t-replay");
    await a.publish(honest);
    const second = await next(sub);
    expect(second.message.id).toBe(honest.id);
    await second.ack();
    // Long past ack_wait: had the rejection not been honoured, the replay would have come back by now.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const state = await consumerState("replay-victim");
    await sub.stop();
    expect(state.num_ack_pending).toBe(0);
    expect(state.num_redelivered).toBe(0);
    const letters = await lettersOf("replay-victim");
    expect(letters.map((l) => [l.reason, l.deliveries])).toEqual([[ErrorCode.Replay, 1]]);
  });

  it("a valid message behind ten times maxInFlight forgeries arrives on its first delivery, and each forgery is dead-lettered once", async () => {
    const a = await zones.member("a");
    const maxInFlight = 16;
    const forgeries = 10 * maxInFlight;
    const forged = update(ZONE_A, "flooded");
    const { js } = await zones.raw("a2");
    // No key is needed for this: unsigned and wrongly signed copies.
    for (let i = 0; i < forgeries; i++) {
      const body = i % 2 === 0 ? forged.toJSON() : signMessage(update(ZONE_A, "flooded").toJSON(), zones.keys.stranger);
      await js.publish(forged.subject(), JSON.stringify(body), { msgID: `forgery-${i}` });
    }
    const valid = update(ZONE_A, "flooded", "busy");
    await a.publish(valid);
    // ack_wait far beyond the test's time limit: a forgery holding its slot until ack_wait would fail the test.
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "flooded", durable: "flooded", maxInFlight, ackWaitMs: 120_000 });
    const d = await next(sub);
    expect(d.message.id).toBe(valid.id);
    expect(d.deliveries).toBe(1);
    await d.ack();
    await sub.stop();
    expect(sub.stats.deadLettered).toBe(forgeries);
    const letters = await lettersOf("flooded");
    expect(letters).toHaveLength(forgeries);
    expect(new Set(letters.map((l) => l.originalSequence)).size).toBe(forgeries);
    expect(letters.every((l) => l.deliveries === 1)).toBe(true);
    const state = await consumerState("flooded");
    expect(state.num_redelivered).toBe(0);
    expect(state.num_ack_pending).toBe(0);
  });

  it("a durable made again dead-letters the same stored forgery again: each subscription's letter ids are its own, so none can be stored ahead of it", async () => {
    const forged = update(ZONE_A, "lettered-twice");
    await publishRaw(forged.subject(), JSON.stringify(forged.toJSON()));
    const a = await zones.member("a");
    for (let run = 0; run < 2; run++) {
      // The same durable name each time, deleted in between (an operator's reset): it reads the stream from the start again.
      const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "lettered-twice", durable: "lettered-twice", deliver: "all" });
      // Pulled while iterated: the forgery is dead-lettered on the way to a valid message that never comes.
      const iterating = endOf(sub);
      for (let i = 0; i < 200 && sub.stats.deadLettered === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      await sub.stop();
      expect(await iterating).toBeUndefined();
      expect(sub.stats.deadLettered).toBe(1);
      await (await (await zones.raw("adminA")).jsm()).consumers.delete(STREAM_A, "lettered-twice");
    }
    // Two letters of one stored message: had the second's id been the first's (a name and a sequence anyone can know), it would be a silent duplicate.
    const letters = await lettersOf("lettered-twice");
    expect(letters.map((l) => l.reason)).toEqual([ErrorCode.SignatureMissing, ErrorCode.SignatureMissing]);
    expect(new Set(letters.map((l) => l.originalSequence)).size).toBe(1);
  });

  it("types are judged by the signed body: an unknown type is dead-lettered whichever way it is named, a mislabelled or misrouted message too", async () => {
    const a = await zones.member("a");
    const s = update(ZONE_A, "labels");
    const signed = (m: object) => JSON.stringify(signMessage(m, zones.keys.a));
    const unknown = { ...update(ZONE_A, "labels").toJSON(), type: "signal.made.up" };
    await publishRaw(s.subject(), signed(unknown), "signal.made.up");
    await publishRaw(s.subject(), signed({ ...update(ZONE_A, "labels").toJSON(), type: "signal.other.made.up" }));
    // A state update labelled as a node registration, which this subscriber would skip unread.
    await publishRaw(s.subject(), signed(update(ZONE_A, "labels").toJSON()), "event.node.register");
    // A state update of entity "elsewhere" published on entity "labels"' subject.
    await publishRaw(s.subject(), signed(update(ZONE_A, "elsewhere").toJSON()), "signal.state.update");
    const valid = update(ZONE_A, "labels", "busy");
    await a.publish(valid);
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "labels", durable: "labels" });
    const d = await next(sub);
    expect(d.message.id).toBe(valid.id);
    await d.ack();
    await sub.stop();
    expect((await lettersOf("labels")).map((l) => l.reason)).toEqual([ErrorCode.UnknownType, ErrorCode.UnknownType, ErrorCode.RoutingMismatch, ErrorCode.RoutingMismatch]);
  });

  it("a copy of a genuine message stored on another entity's subject does not make the genuine one a replay for a restarted receiver that reads that entity too", async () => {
    // A node's genuine update, not yet handled when its receiver restarts.
    const node = await zones.member("a");
    const genuine = update(ZONE_A, "copied-from", "busy");
    await node.publish(genuine);
    // The attacker, a fellow member who saw it on the zone's subjects, stores its signed bytes on
    // another entity's subject: misrouted there, but the replay window is read unjudged.
    const stored = await (await (await zones.raw("adminA")).jsm()).streams.getMessage(STREAM_A, { last_by_subj: genuine.subject() });
    await publishRaw(update(ZONE_A, "copied-to").subject(), stored!.data, genuine.type);
    const later = update(ZONE_A, "copied-from", "idle");
    await node.publish(later);
    // The receiver starts again and opens a subscription per entity, the copy's entity first.
    const receiver = await zones.member("a", { trust: { zone: ZONE_A, logger: { warn() {} }, replay: new ReplayGuard() } });
    const other = await receiver.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "copied-to", durable: "copied-to" });
    const sub = await receiver.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "copied-from", durable: "copied-from" });
    // Refused as a replay of the copy, the genuine update was dead-lettered and the later one came first.
    const d = await next(sub);
    await d.ack();
    await sub.stop();
    await other.stop();
    expect(await lettersOf("copied-from")).toEqual([]);
    expect(d.message.id).toBe(genuine.id);
  });
  it("a copy of a genuine newer-version message on another entity's subject, refused first by an older-version reader, leaves the genuine one to the newer reader of the same client", async () => {
    const node = await zones.member("a");
    const genuine = v0_2.StateUpdate.parse({ ...update(ZONE_A, "copied-from-v02").toJSON(), protocol: { ...update(ZONE_A, "x").toJSON().protocol, version: "0.2" }, payload: { state: "running" } });
    await node.publish(genuine);
    const stored = await (await (await zones.raw("adminA")).jsm()).streams.getMessage(STREAM_A, { last_by_subj: genuine.subject() });
    await publishRaw(update(ZONE_A, "copied-to-v02").subject(), stored!.data, genuine.type);
    // One client, one replay guard: a reader still on v0.1 for the copy's entity, a v0.2 reader for the genuine one's.
    const receiver = await zones.member("a", { trust: { zone: ZONE_A, logger: { warn() {} }, replay: new ReplayGuard() } });
    let refused: (code: string) => void;
    const refusal = new Promise<string>((resolve) => (refused = resolve));
    const old = await receiver.subscribeVersioned({ sdk: v0_1, sources: [v0_1], graph: versionGraph }, { zone: ZONE_A, entityId: "copied-to-v02", durable: "copied-to-v02", onRefusal: (r) => refused(r.code) });
    void old[Symbol.asyncIterator]().next();
    expect(await refusal).toBe(ErrorCode.UnknownVersion);
    const sub = await receiver.subscribe([v0_2.StateUpdate], { zone: ZONE_A, entityId: "copied-from-v02", durable: "copied-from-v02" });
    const d = await next(sub);
    await d.ack();
    await sub.stop();
    await old.stop();
    expect(await lettersOf("copied-from-v02")).toEqual([]);
    expect(d.message.id).toBe(genuine.id);
  });
});

describe("grants and versions", () => {
  it("a key granted only in zone B cannot get a message into zone A by naming zone B in its trust block", async () => {
    const authorityA = generateKeyPair();
    const authorityB = generateKeyPair();
    const attacker = generateKeyPair();
    const grants = new GrantBook(new ZoneAuthorities([{ zone: ZONE_A, key: authorityA.publicKey }, { zone: ZONE_B, key: authorityB.publicKey }]));
    const hour = Date.now() + 3_600_000;
    grants.add(issueSessionGrant(authorityA, { subject: zones.keys.a.keyId, zone: ZONE_A, messageTypes: ["*"], expiresAt: hour }));
    grants.add(issueSessionGrant(authorityB, { subject: attacker.keyId, zone: ZONE_B, messageTypes: ["*"], expiresAt: hour }));
    const trusted = keyRing([zones.keys.a.publicKey, attacker.publicKey]);
    // The receiver enforces grants with the default policy, under which zone_match is advisory.
    const receiver = await zones.member("a", { keys: trusted, trust: { zone: ZONE_A, grants, logger: { warn() {} } } });
    // The attacker holds a zone-A member's credentials and a key a zone-B authority granted.
    const evil = await zones.member("a2", { identity: attacker, keys: trusted });
    const crossing = update(ZONE_A, "grant-target", "offline");
    await evil.publish(v0_1.StateUpdate.parse({ ...crossing.toJSON(), trust: { ...crossing.trust, zone: ZONE_B } }));
    const honest = update(ZONE_A, "grant-target", "busy");
    await receiver.publish(honest);
    const sub = await receiver.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "grant-target", durable: "grant-target" });
    const d = await next(sub);
    expect(d.message.id).toBe(honest.id);
    await d.ack();
    await sub.stop();
    expect((await lettersOf("grant-target")).map((l) => l.reason)).toEqual([ErrorCode.GrantInvalid]);
  });

  it("a forgery in a version no subscriber here reads, or of a type only it would have, is dead-lettered, not skipped", async () => {
    const a = await zones.member("a");
    const subject = update(ZONE_A, "versions").subject();
    const body = update(ZONE_A, "versions").toJSON() as unknown as { protocol: object };
    const as = (type: string, version: string) => ({ ...body, type, protocol: { ...body.protocol, version } });
    for (const [type, version] of [["signal.made.up", "9.9"], ["signal.made.up", "0.0.9"], ["signal.state.update", "9.9"]] as const) {
      await publishRaw(subject, JSON.stringify(signMessage(as(type, version), zones.keys.stranger)), type);
    }
    // Signed by a trusted key, a message of another version is left to that version's subscribers.
    await publishRaw(subject, JSON.stringify(signMessage(as("signal.made.up", "9.9"), zones.keys.a)), "signal.made.up");
    const valid = update(ZONE_A, "versions", "busy");
    await a.publish(valid);
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "versions", durable: "versions" });
    const d = await next(sub);
    expect(d.message.id).toBe(valid.id);
    await d.ack();
    await sub.stop();
    expect((await lettersOf("versions")).map((l) => l.reason)).toEqual([ErrorCode.SignerUnknown, ErrorCode.SignerUnknown, ErrorCode.SignerUnknown]);
  });
});

describe("poison never kills a subscription", () => {
  it("a refused message of any size up to max_payload is dead-lettered, cut with its size and digest, and the batch goes on", async () => {
    const a = await zones.member("a");
    const subject = update(ZONE_A, "poison").subject();
    // Invalid JSON filling max_payload, with headers of its own.
    const poison = new Uint8Array(MAX_PAYLOAD - 256).fill(0x7b);
    await publishRaw(subject, poison, "signal.state.update");
    // And one whose own header is 3,300 bytes of three-byte characters.
    const heavy = new Uint8Array(MAX_PAYLOAD - 4_000).fill(0x7b);
    await publishRaw(subject, heavy, "€".repeat(1_100));
    const valid = [update(ZONE_A, "poison", "busy"), update(ZONE_A, "poison", "idle")];
    for (const m of valid) await a.publish(m);
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "poison", durable: "poison" });
    const got = [await next(sub), await next(sub)];
    for (const d of got) await d.ack();
    await sub.stop();
    expect(got.map((d) => d.message.id)).toEqual(valid.map((m) => m.id));
    const [letter, heavyLetter] = await lettersOf("poison");
    expect(letter).toMatchObject({ reason: ErrorCode.JsonSyntax, truncatedFrom: poison.length, digest: `sha256:${createHash("sha256").update(poison).digest("hex")}` });
    expect(letter!.data.length).toBeLessThan(poison.length);
    expect(heavyLetter).toMatchObject({ reason: ErrorCode.JsonSyntax, originalSequence: letter!.originalSequence + 1 });
    expect(Buffer.byteLength(heavyLetter!.headers["Onex-Type"]!)).toBeLessThanOrEqual(256);
  });

  it("a header nats.js cannot read is dead-lettered, on the main thread and with verification threads; history and letters read past it", async () => {
    const { js } = await zones.raw("a2");
    // nats-server stores a header name with a space (or a byte outside ASCII) as published; nats.js
    // refuses to write one, so it goes into the header map directly, as any other client may send it.
    const unreadable = () => {
      const h = natsHeaders();
      (h as unknown as { headers: Map<string, string[]> }).headers.set("Bad Name", ["x"]);
      return h;
    };
    for (const threads of [0, 1]) {
      const entity = `bad-header-${threads}`;
      const poison = signMessage(update(ZONE_A, entity).toJSON(), zones.keys.a);
      const { seq } = await js.publish(update(ZONE_A, entity).subject(), JSON.stringify(poison), { headers: unreadable() });
      const a = await zones.member("a", { verifyThreads: threads });
      const honest = update(ZONE_A, entity, "busy");
      await a.publish(honest);
      const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: entity, durable: entity });
      const got = await next(sub);
      await got.ack();
      await sub.stop();
      expect(got.message.id).toBe(honest.id);
      expect((await lettersOf(entity)).map((l) => [l.reason, l.originalSequence])).toEqual([[ErrorCode.RoutingMismatch, seq]]);
    }
    // A member writes letters under its zone's prefix: one with such a header is listed, with none.
    const [letter] = await lettersOf("bad-header-0");
    await js.publish(letter!.letterSubject, "{}", { headers: unreadable() });
    const admin = await zones.raw("adminA");
    expect((await listDeadLetters(await admin.jsm())).filter((l) => l.letterSubject === letter!.letterSubject).map((l) => [l.reason, Object.keys(l.headers).length])).toEqual([
      [ErrorCode.RoutingMismatch, expect.any(Number)],
      ["", 0],
    ]);
    const types: (string | undefined)[] = [];
    for await (const entry of readHistory(admin.js, await admin.jsm(), STREAM_A, {})) if (entry.subject.includes("bad-header")) types.push(entry.type);
    expect(types).toEqual(Array(4).fill("signal.state.update"));
  });

  it("a valid message near max_payload whose handler gives up is dead-lettered cut, and replayed whole from its stream", async () => {
    const a = await zones.member("a");
    // As large as a publish may be: its letter, with headers of its own, cannot hold it whole.
    const big = dispatch(ZONE_A, "t-big", { blob: "x".repeat(MAX_PAYLOAD - 1_200) });
    await a.publish(big);
    const sub = await a.subscribe([v0_1.TaskDispatch], { zone: ZONE_A, entityId: "t-big", durable: "big", maxDeliver: 1 });
    const d = await next(sub);
    await d.nak();
    await sub.stop();
    const [letter] = await lettersOf("big");
    expect(letter).toMatchObject({ reason: ErrorCode.HandlerFailed });
    expect(letter!.truncatedFrom).toBeGreaterThan(letter!.data.length);

    const replayed = zones.adminCli(["dlq", "replay", String(letter!.sequence), "--zone", ZONE_A, "--key", zones.keyFiles[0]!]);
    expect(replayed.stderr).toBe("");
    expect(replayed.status).toBe(0);
    const again = await a.subscribe([v0_1.TaskDispatch], { zone: ZONE_A, entityId: "t-big", durable: "big-2" });
    const copies = [await next(again), await next(again)];
    await again.stop();
    expect(copies.map((c) => c.message.id)).toEqual([big.id, big.id]);
    expect(copies[1]!.message.payload.input).toEqual(big.payload.input);
  });
});

describe("a letter a member forged to look cut", () => {
  it("naming an original no stream can hold, or no stream at all, is refused by dlq replay (ONEX_E_DLQ_REFUSED), not taken for a connection failure", async () => {
    const { js } = await zones.raw("a2");
    const forged: [string, string][] = [
      ["forged-seq", "0"],
      ["forged-name", "1"],
      ["forged-none", "1"],
    ];
    const streams: Record<string, string> = { "forged-seq": STREAM_A, "forged-name": "no.such*stream", "forged-none": "NO_SUCH_STREAM" };
    for (const [consumer, sequence] of forged) {
      const h = natsHeaders();
      h.set(OnexHeader.DlqReason, ErrorCode.HandlerFailed);
      h.set(OnexHeader.DlqStream, streams[consumer]!);
      h.set(OnexHeader.DlqSequence, sequence);
      h.set(OnexHeader.DlqTruncated, "70000");
      h.set(OnexHeader.DlqDigest, "sha256:00");
      await js.publish(deadLetterSubject(ZONE_A, STREAM_A, consumer), "{", { headers: h });
    }
    for (const [consumer] of forged) {
      const [letter] = await lettersOf(consumer);
      const replayed = zones.adminCli(["dlq", "replay", String(letter!.sequence), "--zone", ZONE_A, "--key", zones.keyFiles[0]!]);
      expect([consumer, replayed.status, replayed.stderr]).toEqual([consumer, 1, expect.stringContaining(ErrorCode.DeadLetterRefused)]);
    }
  });
});

describe("the life cycle of a subscription", () => {
  it("stop() cancels the pull and hands back at once what was not delivered, using up no attempt", async () => {
    const a = await zones.member("a");
    const sent = Array.from({ length: 15 }, (_, i) => update(ZONE_A, "rounds", i % 2 ? "busy" : "idle"));
    await a.publishMany(sent);
    const handled: string[] = [];
    for (let round = 0; round < 3; round++) {
      const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "rounds", durable: "rounds", maxDeliver: 3, maxInFlight: 15 });
      const d = await next(sub);
      expect(d.deliveries).toBe(1);
      handled.push(d.message.id);
      await d.ack();
      await sub.stop();
      // No pull is left open on the server; what the batch held was handed back (NAK), so the
      // next round gets it at once rather than after the 30 s ack_wait, which would time the test out.
      expect((await consumerState("rounds")).num_waiting).toBe(0);
    }
    const last = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "rounds", durable: "rounds", maxDeliver: 3, maxInFlight: 15 });
    for (let i = 0; i < 12; i++) {
      const d = await next(last);
      expect(d.deliveries).toBe(1);
      handled.push(d.message.id);
      await d.ack();
    }
    await last.stop();
    expect(handled).toEqual(sent.map((m) => m.id));
    expect(await lettersOf("rounds")).toEqual([]);
  });

  it("working() keeps a handler on its last attempt from being dead-lettered or redelivered", async () => {
    const a = await zones.member("a");
    await a.publish(update(ZONE_A, "slow"));
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "slow", durable: "slow", maxDeliver: 1, ackWaitMs: 400 });
    const d = await next(sub);
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      d.working();
    }
    await d.ack();
    const state = await consumerState("slow");
    await sub.stop();
    expect(state.num_redelivered).toBe(0);
    expect(await lettersOf("slow")).toEqual([]);
  });

  it("close() ends an open iteration", async () => {
    const a = await zones.member("a");
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "nobody" });
    const loop = endOf(sub);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await a.close();
    // Ended, and without an error.
    expect(await loop).toBeUndefined();
  });

  it("a deleted consumer ends the iteration with ONEX_E_CONSUMER_GONE", async () => {
    const a = await zones.member("a");
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "gone", durable: "gone" });
    const loop = endOf(sub);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const admin = await zones.raw("adminA");
    await (await admin.jsm()).consumers.delete(STREAM_A, "gone");
    const error = await loop;
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).code).toBe(ErrorCode.ConsumerGone);
  });

  it("a zone that fills its storage stops only itself", async () => {
    const limited = await startTwoZones(`max_payload: ${MAX_PAYLOAD}`, ["--zone-storage", "1MB"]);
    try {
      const { js } = await limited.raw("a2");
      const subject = update(ZONE_A, "filler").subject();
      let refused: unknown;
      for (let i = 0; i < 64 && refused === undefined; i++) {
        refused = await js.publish(subject, new Uint8Array(MAX_PAYLOAD - 1_024)).then(
          () => undefined,
          (error: unknown) => error,
        );
      }
      expect(String(refused)).toMatch(/resource limits exceeded for account/i);
      const b = await limited.member("b");
      await expect(b.publish(update(ZONE_B, "b-unbothered"), { retryForMs: 0 })).resolves.toMatchObject({ stream: zoneStreamNameOf("event", ZONE_B) });
    } finally {
      await limited.stop();
    }
  });

  for (const [flags, limit] of [[["--zone-consumers", "5"], 5], [[], DEFAULT_ZONE_CONSUMERS]] as const) {
    it(`a zone that creates consumers without end is stopped at its account's limit (${flags.length ? flags.join(" ") : "the default"}: ${limit}), and another zone still subscribes`, async () => {
      const limited = await startTwoZones("", [...flags]);
      try {
        // As an attacker scripts it (a member may not read the account's $JS.API.INFO).
        const jsm = await jetstreamManager((await limited.raw("a2")).nc, { checkAPI: false });
        let refused: unknown;
        let created = 0;
        for (let i = 0; i < limit + 15 && refused === undefined; i++) {
          refused = await putDurableConsumer(jsm, STREAM_A, { durable_name: `flood-${i}`, ack_policy: AckPolicy.Explicit }).then(
            () => void created++,
            (error: unknown) => error,
          );
        }
        expect(String(refused)).toMatch(/maximum consumers limit reached/i);
        expect(created).toBe(limit);
        const b = await limited.member("b");
        await b.publish(update(ZONE_B, "b-unbothered"));
        const sub = await b.subscribe([v0_1.StateUpdate], { zone: ZONE_B });
        expect((await next(sub)).message.source.entity_id).toBe("b-unbothered");
        await sub.stop();
      } finally {
        await limited.stop();
      }
    });
  }

  it("a lost stream ends the iteration with ONEX_E_NO_STREAM", async () => {
    const b = await zones.member("b");
    const sub = await b.subscribe([v0_1.StateUpdate], { zone: ZONE_B, durable: "lost" });
    const loop = endOf(sub);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const admin = await zones.raw("adminB");
    await (await admin.jsm()).streams.delete(zoneStreamNameOf("event", ZONE_B));
    const error = await loop;
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).code).toBe(ErrorCode.NoStream);
  });

  it("a withdrawn permission ends the iteration with ONEX_E_PERMISSION_DENIED instead of retrying in silence", async () => {
    const a = await zones.member("a2");
    const sub = await a.subscribe([v0_1.StateUpdate], { zone: ZONE_A, entityId: "revoked", durable: "revoked" });
    const loop = endOf(sub);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The operator withdraws node-a2's pulls and reloads the server's configuration (last in
    // this file: after a reload the server answers members' JetStream requests slowly).
    const config = join(zones.server.storeDir, "server.conf");
    const text = await readFile(config, "utf8");
    const pull = `"$JS.API.CONSUMER.MSG.NEXT.${STREAM_A}.*", `;
    const entry = text.indexOf('user: "node-a2"');
    expect(text.indexOf(pull, entry)).toBeGreaterThan(entry);
    await writeFile(config, text.slice(0, entry) + text.slice(entry).replace(pull, ""));
    zones.server.process.kill("SIGHUP");
    const error = await loop;
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).code).toBe(ErrorCode.PermissionDenied);
    // The server answers the diagnosis slowly right after a reload (a few seconds per request).
  }, 60_000);
});
