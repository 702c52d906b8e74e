/**
 * Verification on worker threads (receive/verify-ahead.ts) refuses exactly what the
 * single-threaded pipeline refuses, in the same order: the same messages — genuine, forged,
 * tampered, signed by strangers, malformed, expired, replayed, of other versions — go through
 * two identical pipelines, one verifying everything itself, one with the threads' verdicts
 * at hand as a subscription uses them, and every outcome (kind, code, message) must match.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import type { TransportMessageClass } from "../../runtime/protocol-sdk.js";
import { typedPipeline, type Inbound, type Outcome, type TrustSettings } from "../../runtime/receive/pipeline.js";
import { StoredMessageReplay } from "../../runtime/receive/stored-message-replay.js";
import { VerifyAhead } from "../../runtime/receive/verify-ahead.js";
import { randomBytes } from "node:crypto";
import { canonicalBytes } from "../../runtime/trust/canonical-json.js";
import { generateKeyPair, keyPairFromSeed, keyRing, type KeyResolver, type PublicKey } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY } from "../../runtime/trust/policy.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { withVerifiedAhead, type VerifiedAhead } from "../../runtime/trust/signature.js";
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

describe("verification on worker threads", () => {
  it("refuses exactly what the single-threaded pipeline refuses, in the same order", async () => {
    const messages = traffic();
    const single = typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], settings());
    const expected = messages.map((m) => describeOutcome(single.receive(m)));

    const pool = new VerifyAhead(keyRing([key.publicKey, other.publicKey]), 2);
    pools.push(pool);
    const threaded = typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], settings());
    // The threads learn a signer's key from its first message; a subscription's signers recur.
    await Promise.all([key, other].map((k) => pool.submit(utf8.encode(JSON.stringify(signed(dispatch(-1), k)))).result));
    // Everything submitted as it arrives, then judged one by one, in order, each verdict awaited.
    const checks = messages.map((m) => pool.submit(m.data));
    const actual: string[] = [];
    const used: VerifiedAhead[] = [];
    for (const [i, m] of messages.entries()) {
      const checked = await checks[i]!.result;
      actual.push(describeOutcome(checked === undefined ? threaded.receive(m) : withVerifiedAhead(checked, () => threaded.receive(m))));
      if (checked?.used) used.push(checked);
    }
    expect(actual).toEqual(expected);
    // The outcomes are varied, and the threads' verdicts were taken, both ways.
    expect(new Set(expected.map((e) => e.split(":")[0]!.split(" ").slice(0, 2).join(" "))).size).toBeGreaterThan(6);
    expect(used.some((c) => c.valid)).toBe(true);
    expect(used.some((c) => !c.valid)).toBe(true);
  });

  it("while the pipeline waits for a thread, it verifies the newest messages no thread has started, and the outcomes stay those of one thread", async () => {
    const messages = traffic();
    const single = typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], settings());
    const expected = messages.map((m) => describeOutcome(single.receive(m)));

    const pool = new VerifyAhead(keyRing([key.publicKey, other.publicKey]), 2);
    pools.push(pool);
    await Promise.all([key, other].map((k) => pool.submit(utf8.encode(JSON.stringify(signed(dispatch(-1), k)))).result));
    const threaded = typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], settings());
    const actual: string[] = [];
    let used = 0;
    let stolen = 0;
    const half = Math.floor(messages.length / 2);
    // The first half with the threads' verdicts only.
    const first = messages.slice(0, half).map((m) => pool.submit(m.data));
    for (const [i, m] of messages.slice(0, half).entries()) {
      const checked = await first[i]!.result;
      actual.push(describeOutcome(checked === undefined ? threaded.receive(m) : withVerifiedAhead(checked, () => threaded.receive(m))));
      if (checked?.used) used++;
    }
    expect(used).toBeGreaterThan(0);
    // The second half as a subscription takes it: stealing from the newest end while it waits.
    const second = messages.slice(half).map((m) => pool.submit(m.data));
    for (const [i, m] of messages.slice(half).entries()) {
      const job = second[i]!;
      const verdict = pool.take(job);
      while (!pool.settled(job) && pool.steal()) {
        stolen++;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const checked = await verdict;
      actual.push(describeOutcome(checked === undefined ? threaded.receive(m) : withVerifiedAhead(checked, () => threaded.receive(m))));
    }
    expect(actual).toEqual(expected);
    // The pipeline's own thread verified some while it waited (the first steal comes before the
    // burst even reaches a thread).
    expect(stolen).toBeGreaterThan(0);
  });

  it("a verdict is taken only for the exact key, bytes and signature it was reached on", async () => {
    const pool = new VerifyAhead(keyRing([key.publicKey]), 1);
    pools.push(pool);
    const m = dispatch(1);
    const body = signed(m);
    // The first message of a signer teaches the threads its key; the next is verified ahead.
    await pool.submit(at(m, body, "S#1").data).result;
    const checked = (await pool.submit(at(m, body, "S#2").data).result)!;
    expect(checked).toMatchObject({ valid: true });
    // A verdict that lies is never taken for other bytes: the pipeline verifies those itself.
    const lying = { ...checked, valid: true, bytes: new Uint8Array(checked.bytes).fill(0x20, 0, 1) };
    const tampered = structuredClone(body);
    tampered.payload.priority = 9;
    const out = withVerifiedAhead(lying, () => typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], settings()).receive(at(m, tampered, "S#3")));
    expect(describeOutcome(out)).toMatch(/^reject ONEX_E_SIGNATURE_INVALID/);
    expect(lying.used).toBeUndefined();
  });

  it("a resolver that hands out a key whose key object is another key's is ONEX_E_KEY_INVALID, with or without a thread's verdict", async () => {
    // keyRing refuses such a key outright; a resolver written by hand can still return one.
    const chimera: PublicKey = { keyId: key.keyId, raw: key.publicKey.raw, keyObject: other.publicKey.keyObject };
    expect(() => keyRing([chimera])).toThrow(expect.objectContaining({ code: ErrorCode.KeyInvalid }));
    const byHand: KeyResolver = (keyId) => (keyId === key.keyId ? chimera : undefined);
    const trust = (): TrustSettings => ({ ...settings(), context: { ...settings().context, keys: byHand } });
    const m = dispatch(900);
    const message = at(m, signed(m), "S#900");
    const single = typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], trust());
    expect(describeOutcome(single.receive(message))).toMatch(/^reject ONEX_E_KEY_INVALID/);
    const pool = new VerifyAhead(byHand, 1);
    pools.push(pool);
    await pool.submit(message.data).result;
    const checked = await pool.submit(message.data).result;
    // The thread verified with the raw bytes and found the signature good; the key is refused before its verdict counts.
    expect(checked?.valid).toBe(true);
    const threaded = typedPipeline([v0_1.TaskDispatch] as unknown as TransportMessageClass[], trust());
    expect(describeOutcome(withVerifiedAhead(checked, () => threaded.receive(message)))).toMatch(/^reject ONEX_E_KEY_INVALID/);
  });

  it("a pool that is closed or has no threads answers nothing, and the pipeline verifies", async () => {
    const none = new VerifyAhead(keyRing([key.publicKey]), 0);
    expect(none.active).toBe(false);
    expect(await none.submit(utf8.encode("{}")).result).toBeUndefined();
    const pool = new VerifyAhead(keyRing([key.publicKey]), 1);
    await pool.close();
    expect(await pool.submit(utf8.encode("{}")).result).toBeUndefined();
  });
});
