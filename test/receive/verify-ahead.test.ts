/**
 * Verification on worker threads (receive/verify-ahead.ts) refuses exactly what the
 * single-threaded pipeline refuses, in the same order: the same messages — genuine, forged,
 * tampered, signed by strangers, malformed, expired, replayed, of other versions — go through
 * two identical pipelines, one judging each message at once, one preparing every message as it
 * arrives, handing its signature's arithmetic to the threads and finishing in order with their
 * verdicts, as a subscription does; every outcome (kind, code, message) must match.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import type { TransportMessageClass } from "../../runtime/protocol-sdk.js";
import { typedPipeline, type Inbound, type Outcome, type ReceivePipeline, type TrustSettings } from "../../runtime/receive/pipeline.js";
import { StoredMessageReplay } from "../../runtime/receive/stored-message-replay.js";
import { VerifyAhead } from "../../runtime/receive/verify-ahead.js";
import { randomBytes } from "node:crypto";
import { canonicalBytes } from "../../runtime/trust/canonical-json.js";
import { generateKeyPair, keyPairFromSeed, keyRing, publicKeyFromRaw, type KeyResolver, type PublicKey } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY, PolicyMode } from "../../runtime/trust/policy.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { verifyEd25519 } from "../../runtime/trust/ed25519-verify.js";
import type { SignatureCheck } from "../../runtime/trust/sign-message.js";
import { identityRSignature } from "../trust/ed25519-points.js";

const ZONE = "zone.trusted.org";
const seed = randomBytes(32);
const key = keyPairFromSeed(seed);
const other = generateKeyPair();
const stranger = generateKeyPair();
const utf8 = new TextEncoder();
const pools: VerifyAhead[] = [];
afterAll(async () => Promise.all(pools.map((p) => p.close())));

function settings(): TrustSettings {
  return {
    context: { keys: keyRing([key.publicKey, other.publicKey]), zone: ZONE, keyOfEntity: () => key.keyId, logger: { warn() {} } },
    policy: DEFAULT_TRUST_POLICY,
    replay: new StoredMessageReplay(new ReplayGuard()),
  };
}

function dispatch(i: number, expiresInMs = 3_600_000): v0_1.TaskDispatch {
  return v0_1.TaskDispatch.create({
    source: { zone: ZONE, entity_type: "task", entity_id: `t-${i}` },
    trust: { signer: "x", level: "verified", zone: ZONE, expires_at: new Date(Date.now() + expiresInMs).toISOString() },
    payload: { task_id: `task-${i}`, target: "node-1", action: "render", priority: 5, input: { n: i } },
  });
}

type Body = Record<string, unknown> & { trust: Record<string, unknown>; payload: Record<string, unknown> };
const signed = (m: { toJSON(): object }, by = key) => signMessage(m.toJSON(), by) as unknown as Body;
const at = (m: v0_1.TaskDispatch, body: object, storedAs: string, text?: string): Inbound => ({
  data: utf8.encode(text ?? JSON.stringify(body)),
  subject: m.subject(),
  typeHeader: m.type,
  storedAs,
});

/** Every kind of message a subscription meets, in an order that puts the same signer, key and bytes next to each other. */
function traffic(): Inbound[] {
  const out: Inbound[] = [];
  let seq = 0;
  const next = () => `S#${++seq}`;
  for (let i = 0; i < 60; i++) {
    const m = dispatch(i);
    const body = signed(m);
    const storedAs = next();
    switch (i % 16) {
      case 0: // genuine, by a second trusted key
        out.push(at(m, signed(m, other), storedAs));
        break;
      case 1: {
        // tampered after signing
        const t = structuredClone(body);
        t.payload.priority = 9;
        out.push(at(m, t, storedAs));
        break;
      }
      case 2: // signed by a stranger, naming itself
        out.push(at(m, signed(m, stranger), storedAs));
        break;
      case 3: {
        // signed by a stranger, naming a trusted key
        const forged = signed(m, stranger);
        forged.trust.signer = key.keyId;
        out.push(at(m, forged, storedAs));
        break;
      }
      case 4: {
        // another message's signature
        const t = structuredClone(body);
        t.trust.signature = signed(dispatch(i + 1000)).trust.signature;
        out.push(at(m, t, storedAs));
        break;
      }
      case 5: {
        // malformed signatures
        const t = structuredClone(body);
        t.trust.signature = i % 2 ? "ed25519:AAAA" : String(t.trust.signature).slice(0, -1) + "B";
        out.push(at(m, t, storedAs));
        break;
      }
      case 6: // expired, with a genuine signature
        out.push(at(dispatch(i, -1_000), signed(dispatch(i, -1_000)), storedAs));
        break;
      case 7: {
        // a replay: the same message stored again
        out.push(at(m, body, storedAs));
        out.push(at(m, body, next()));
        break;
      }
      case 8: // a redelivery: the same stored message twice, not a replay
        out.push(at(m, body, storedAs), at(m, body, storedAs));
        break;
      case 9: // the same bytes with a member spelled differently: JSON.parse and onex's reader disagree on duplicates
        out.push(at(m, body, storedAs, JSON.stringify(body).replace('"priority":5', '"priority":5,"priority":6')));
        break;
      case 10: // an integer JSON.parse would round, in a genuine signature's place
        out.push(at(m, body, storedAs, JSON.stringify(body).replace('"priority":5', '"priority":90071992547409931')));
        break;
      case 11: // a zone that is not this session's
        out.push(at(m, signed(m), storedAs, JSON.stringify(signed(m)).replaceAll(ZONE, "zone.other.org")));
        break;
      case 12: {
        // unsigned
        const t = structuredClone(body);
        delete t.trust.signature;
        out.push(at(m, t, storedAs));
        break;
      }
      case 14: {
        // the signer's second signature, R = the identity: OpenSSL alone accepts it, a thread must refuse it as the pipeline does
        const { signature: _, ...unsigned } = body.trust;
        const t = structuredClone(body);
        t.trust.signature = "ed25519:" + identityRSignature(seed, canonicalBytes({ ...body, trust: unsigned })).toString("base64url");
        out.push(at(m, t, storedAs));
        break;
      }
      case 15: {
        // an entity id with a lone surrogate: valid to the schema, no subject can carry it
        const t = structuredClone(body);
        (t.source as Record<string, unknown>).entity_id = "\ud800";
        out.push(at(m, t, storedAs));
        break;
      }
      case 13: // another version's message
        out.push({ ...at(m, body, storedAs), data: utf8.encode(JSON.stringify(signed(v0_2.StateUpdate.create({ source: { zone: ZONE, entity_type: "node", entity_id: "n" }, trust: { signer: "x", level: "verified", zone: ZONE, expires_at: new Date(Date.now() + 60_000).toISOString() }, payload: { state: "running" } } as never)))) });
        break;
      default:
        out.push(at(m, body, storedAs));
    }
  }
  return out;
}

function describeOutcome(outcome: Outcome): string {
  if (outcome.kind === "reject") return `reject ${outcome.error.code}: ${outcome.error.message}`;
  if (outcome.kind === "refuse") return `refuse ${outcome.refusal.code}`;
  if (outcome.kind === "deliver") return `deliver ${(outcome.message as { id: string }).id} by ${outcome.signer}`;
  return outcome.kind;
}

const pipelineOf = (trust = settings()) => typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], trust);

/** Prepares every message as it arrives and hands its check to the pool, as a subscription does. */
function arriving(pool: VerifyAhead, pipeline: ReceivePipeline, messages: Inbound[]) {
  return messages.map((m) => {
    const prepared = pipeline.prepare(m);
    return { prepared, job: prepared.check === undefined ? undefined : pool.submit(prepared.check) };
  });
}

describe("verification on worker threads", () => {
  it("refuses exactly what the single-threaded pipeline refuses, in the same order", async () => {
    const messages = traffic();
    const single = pipelineOf();
    const expected = messages.map((m) => describeOutcome(single.receive(m)));

    const pool = new VerifyAhead(2);
    pools.push(pool);
    // Everything prepared and submitted as it arrives, then finished one by one, in order, each verdict awaited.
    const jobs = arriving(pool, pipelineOf(), messages);
    const actual: string[] = [];
    const verdicts: boolean[] = [];
    for (const { prepared, job } of jobs) {
      const valid = job === undefined ? undefined : await job.result;
      if (valid !== undefined) verdicts.push(valid);
      actual.push(describeOutcome(prepared.finish(valid)));
    }
    expect(actual).toEqual(expected);
    // The outcomes are varied, and the threads' verdicts were taken, both ways.
    expect(new Set(expected.map((e) => e.split(":")[0]!.split(" ").slice(0, 2).join(" "))).size).toBeGreaterThan(6);
    expect(verdicts).toContain(true);
    expect(verdicts).toContain(false);
  });

  it("while the pipeline waits for a thread, it verifies the newest checks no thread has started, and the outcomes stay those of one thread", async () => {
    const messages = traffic();
    const single = pipelineOf();
    const expected = messages.map((m) => describeOutcome(single.receive(m)));

    const pool = new VerifyAhead(2);
    pools.push(pool);
    const jobs = arriving(pool, pipelineOf(), messages);
    const actual: string[] = [];
    let stolen = 0;
    for (const { prepared, job } of jobs) {
      let valid: boolean | undefined;
      if (job !== undefined) {
        const verdict = pool.take(job);
        while (!pool.settled(job) && pool.steal()) {
          stolen++;
          await new Promise((resolve) => setImmediate(resolve));
        }
        valid = await verdict;
      }
      actual.push(describeOutcome(prepared.finish(valid)));
    }
    expect(actual).toEqual(expected);
    // The pipeline's own thread verified some while it waited (the first steal comes before the
    // burst even reaches a thread).
    expect(stolen).toBeGreaterThan(0);
  });

  it.each([["the library this process verifies with"], ["OpenSSL"]] as const)("a thread's verdict is the single-threaded verdict on the check it was given, a forgery's included (%s)", async (library) => {
    const pool = new VerifyAhead(1, library === "OpenSSL" ? library : undefined);
    pools.push(pool);
    const checks: SignatureCheck[] = [];
    for (const m of traffic()) {
      const check = pipelineOf().prepare(m).check;
      if (check === undefined) continue;
      checks.push(check);
      // The same key and signature over other bytes, and a signature with one bit flipped.
      const flipped = new Uint8Array(check.signature);
      flipped[40]! ^= 1;
      checks.push({ ...check, bytes: Buffer.concat([check.bytes, Buffer.from(" ")]) }, { ...check, signature: flipped });
    }
    const threads = await Promise.all(checks.map((check) => pool.submit(check).result));
    expect(threads).toEqual(checks.map(({ key, bytes, signature }) => verifyEd25519(key, bytes, signature)));
    expect(threads.filter((valid) => valid === true).length).toBeGreaterThan(10);
  });

  it("preparing records and logs nothing: a message prepared and never finished uses up no id, and advisory warnings come out in order", async () => {
    const warned: string[] = [];
    const advisory = { ...settings(), policy: { ...DEFAULT_TRUST_POLICY, signature: PolicyMode.Advisory } };
    advisory.context.logger = { warn: (text: string) => void warned.push(text) };
    const pipeline = pipelineOf(advisory);
    const m = dispatch(700);
    const body = signed(m);
    const forged = signed(dispatch(701));
    forged.payload.priority = 9;
    // Prepared as if pulled, then dropped (the subscription stopped): nothing is remembered of it.
    pipeline.prepare(at(m, body, "S#700"));
    const forgedFirst = pipeline.prepare(at(dispatch(701), forged, "S#701"));
    const stored = pipeline.prepare(at(m, body, "S#702"));
    expect(warned).toEqual([]);
    expect(describeOutcome(forgedFirst.finish())).toMatch(/^deliver/);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/signature \(advisory\) ONEX_E_SIGNATURE_INVALID/);
    // The genuine copy is not a replay of the one prepared and dropped: its id is still unused.
    expect(describeOutcome(stored.finish(true))).toMatch(/^deliver/);
    expect(describeOutcome(pipeline.receive(at(m, body, "S#703")))).toMatch(/^reject ONEX_E_REPLAY/);
  });

  it("a verdict holds only for the key bytes it was reached with: a signer dropped, or a key changed in place, before the message is finished is judged afresh", () => {
    let ring = keyRing([key.publicKey]);
    const trust = settings();
    trust.context.keys = (keyId) => ring(keyId);
    const pipeline = pipelineOf(trust);
    const m = dispatch(800);
    const dropped = pipeline.prepare(at(m, signed(m), "S#800"));
    const renewed = pipeline.prepare(at(m, signed(m), "S#801"));
    expect(dropped.check?.key).toBe(key.publicKey);
    // The key ring drops the signer (a revocation) before the verdict is taken: refused, whatever the verdict.
    ring = keyRing([other.publicKey]);
    expect(describeOutcome(dropped.finish(true))).toMatch(/^reject ONEX_E_SIGNER_UNKNOWN/);
    // The ring holds the same key again, as another object (a resolver may make one per call): the
    // verdict reached on those bytes is the one taken (here a wrong one, to show it was).
    ring = keyRing([publicKeyFromRaw(key.publicKey.raw)]);
    expect(describeOutcome(renewed.finish(false))).toMatch(/^reject ONEX_E_SIGNATURE_INVALID/);

    // A key object changed in place after the check was made: another key, judged afresh, as one thread judges it.
    const mutable: PublicKey = { ...publicKeyFromRaw(key.publicKey.raw) };
    const byHand = (): TrustSettings => ({ ...settings(), context: { ...settings().context, keys: (keyId) => (keyId === key.keyId ? mutable : undefined) } });
    const changed = pipelineOf(byHand()).prepare(at(m, signed(m), "S#802"));
    expect(changed.check).toBeDefined();
    Object.assign(mutable, { raw: Buffer.from(other.publicKey.raw), keyObject: other.publicKey.keyObject });
    const single = describeOutcome(pipelineOf(byHand()).receive(at(m, signed(m), "S#802")));
    expect(single).toMatch(/^reject ONEX_E_KEY_INVALID/);
    expect(describeOutcome(changed.finish(true))).toBe(single);

    // A key slot rotated in place, its very bytes overwritten: the key that signed is gone from
    // the resolver, and the verdict reached on its old bytes must not pass for the new key's.
    const slot: PublicKey = { ...publicKeyFromRaw(key.publicKey.raw) };
    const rotating = (): TrustSettings => ({ ...settings(), context: { ...settings().context, keys: (keyId) => (keyId === slot.keyId ? slot : undefined) } });
    const rotated = pipelineOf(rotating()).prepare(at(m, signed(m), "S#803"));
    expect(rotated.check?.key).toBe(slot);
    slot.raw.set(other.publicKey.raw);
    Object.assign(slot, { keyId: other.publicKey.keyId, keyObject: other.publicKey.keyObject });
    const oneThread = describeOutcome(pipelineOf(rotating()).receive(at(m, signed(m), "S#803")));
    expect(oneThread).toMatch(/^reject ONEX_E_SIGNER_UNKNOWN/);
    expect(describeOutcome(rotated.finish(true))).toBe(oneThread);
  });

  it("a resolver that hands out a key whose key object is another key's is ONEX_E_KEY_INVALID, and no check reaches a thread", () => {
    // keyRing refuses such a key outright; a resolver written by hand can still return one.
    const chimera: PublicKey = { keyId: key.keyId, raw: key.publicKey.raw, keyObject: other.publicKey.keyObject };
    expect(() => keyRing([chimera])).toThrow(expect.objectContaining({ code: ErrorCode.KeyInvalid }));
    const byHand: KeyResolver = (keyId) => (keyId === key.keyId ? chimera : undefined);
    const trust = (): TrustSettings => ({ ...settings(), context: { ...settings().context, keys: byHand } });
    const m = dispatch(900);
    const message = at(m, signed(m), "S#900");
    expect(describeOutcome(pipelineOf(trust()).receive(message))).toMatch(/^reject ONEX_E_KEY_INVALID/);
    const prepared = pipelineOf(trust()).prepare(message);
    expect(prepared.check).toBeUndefined();
    expect(describeOutcome(prepared.finish(true))).toMatch(/^reject ONEX_E_KEY_INVALID/);
  });

  it("a pool that is closed or has no threads answers nothing, and the pipeline verifies", async () => {
    const m = dispatch(1);
    const check = pipelineOf().prepare(at(m, signed(m), "S#1")).check!;
    const none = new VerifyAhead(0);
    expect(none.active).toBe(false);
    expect(await none.submit(check).result).toBeUndefined();
    const pool = new VerifyAhead(1);
    await pool.close();
    expect(await pool.submit(check).result).toBeUndefined();
  });
});
