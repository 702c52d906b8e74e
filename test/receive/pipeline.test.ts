/** The receive pipeline on its own: bytes in, one outcome out, no transport. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import type { ProtocolSdk, TransportMessageClass } from "../../runtime/protocol-sdk.js";
import { typedPipeline, versionedPipeline, type Inbound, type Outcome, type TrustSettings } from "../../runtime/receive/pipeline.js";
import { StoredMessageReplay } from "../../runtime/receive/stored-message-replay.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY } from "../../runtime/trust/policy.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { sameFastShape } from "../support/hidden-class.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const ZONE = "zone.trusted.org";
const key = generateKeyPair();
const stranger = generateKeyPair();
const utf8 = new TextEncoder();
const examples = join(PROJECT_ROOT, "docs", "examples");

/** The first message of `type` in the bundled example log of `version`. */
function example(version: string, type: string): Record<string, unknown> {
  const line = readFileSync(join(examples, `${version}.ndjson`), "utf8").split("\n").find((l) => l.includes(`"type":"${type}"`))!;
  return JSON.parse(line) as Record<string, unknown>;
}

function trust(replay?: ReplayGuard): TrustSettings {
  return {
    context: { keys: keyRing([key.publicKey]), zone: ZONE, keyOfEntity: () => key.keyId, logger: { warn() {} } },
    policy: DEFAULT_TRUST_POLICY,
    ...(replay !== undefined ? { replay: new StoredMessageReplay(replay) } : {}),
  };
}

function update(entity = "n-1"): v0_1.StateUpdate {
  return v0_1.StateUpdate.create({
    source: { zone: ZONE, entity_type: "node", entity_id: entity },
    trust: { signer: "x", level: "verified", zone: ZONE, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { state: "busy" },
  });
}

/** A message as a transport hands it over: signed bytes on the subject the message builds. */
function inbound(message: { toJSON(): object; subject(): string; type: string }, options: { signer?: typeof key; storedAs?: string; subject?: string; typeHeader?: string | null; body?: object } = {}): Inbound {
  const body = options.body ?? signMessage(message.toJSON(), options.signer ?? key);
  return {
    data: utf8.encode(JSON.stringify(body)),
    subject: options.subject ?? message.subject(),
    ...(options.typeHeader === null ? {} : { typeHeader: options.typeHeader ?? message.type }),
    storedAs: options.storedAs ?? "S#1",
  };
}

function codeOf(outcome: Outcome): string {
  return outcome.kind === "reject" ? outcome.error.code : outcome.kind === "refuse" ? `refuse:${outcome.refusal.code}` : outcome.kind;
}

const typed = (classes: readonly unknown[], settings = trust()) => typedPipeline(classes as readonly TransportMessageClass[], settings);

describe("typedPipeline", () => {
  it("delivers a signed message of a handled class as an instance, with its signer", () => {
    const m = update();
    const out = typed([v0_1.StateUpdate]).receive(inbound(m));
    expect(out.kind).toBe("deliver");
    if (out.kind !== "deliver") return;
    expect(out.message).toBeInstanceOf(v0_1.StateUpdate);
    expect((out.message as v0_1.StateUpdate).id).toBe(m.id);
    expect(out.signer).toBe(key.keyId);
    expect(out).toMatchObject({ receivedVersion: "0.1", path: ["0.1"] });
  });

  it("rejects what is broken, forged, mislabelled or misrouted, each with its code", () => {
    const p = typed([v0_1.StateUpdate]);
    const m = update();
    const signed = signMessage(m.toJSON(), key);
    const cases: [string, Inbound][] = [
      [ErrorCode.JsonSyntax, { data: utf8.encode("{"), subject: m.subject(), storedAs: "S#1" }],
      [ErrorCode.JsonSyntax, { data: new Uint8Array([0xff, 0xfe]), subject: m.subject(), storedAs: "S#1" }],
      [ErrorCode.JsonDuplicateKey, { data: utf8.encode(JSON.stringify(signed).replace('{"', '{"type":"x","')), subject: m.subject(), storedAs: "S#1" }],
      [ErrorCode.ValidationFailed, { data: utf8.encode("[1]"), subject: m.subject(), storedAs: "S#1" }],
      [ErrorCode.UnknownType, { data: utf8.encode('{"id":"x"}'), subject: m.subject(), storedAs: "S#1" }],
      [ErrorCode.SignerUnknown, inbound(m, { signer: stranger })],
      [ErrorCode.SignatureInvalid, inbound(m, { body: { ...signed, payload: { state: "idle" } } })],
      [ErrorCode.RoutingMismatch, inbound(m, { typeHeader: "event.node.register" })],
      [ErrorCode.RoutingMismatch, { ...inbound(m), versionHeader: "0.2" }],
      ["deliver", { ...inbound(m), versionHeader: "0.1" }],
      [ErrorCode.RoutingMismatch, inbound(m, { subject: update("n-2").subject() })],
      [ErrorCode.UnknownType, inbound(m, { body: signMessage({ ...m.toJSON(), type: "signal.made.up" }, key), typeHeader: null })],
      [ErrorCode.UnknownType, inbound(m, { body: signMessage({ ...m.toJSON(), type: "signal.made.up" }, key), typeHeader: "signal.made.up" })],
    ];
    expect(cases.map(([, i]) => codeOf(p.receive(i)))).toEqual(cases.map(([code]) => code));
  });

  it("skips another subscriber's type of the same version, and other loaded versions' messages of their own types, judging nothing", () => {
    const p = typed([v0_1.StateUpdate]);
    const register = v0_1.NodeRegister.parse(example("v0.1", "event.node.register"));
    // Unsigned: skipping these must not depend on trust (nor cost a verification).
    expect(codeOf(p.receive(inbound(register, { body: register.toJSON(), subject: register.subject() })))).toBe("skip");
    const newer = update().toJSON() as unknown as { protocol: object };
    const stopped = Object.values(v0_2.messageClasses).find((c) => !(c.type in v0_1.messageClasses))!;
    for (const type of ["signal.state.update", stopped.type]) {
      const body = { ...newer, type, protocol: { ...newer.protocol, version: "0.2" } };
      expect([type, codeOf(p.receive({ data: utf8.encode(JSON.stringify(body)), subject: update().subject(), storedAs: "S#1" }))]).toEqual([type, "skip"]);
    }
  });

  it("judges another version's message before skipping it when that version is not loaded or lacks its type: forgeries are dead-lettered", () => {
    const p = typed([v0_2.StateUpdate]);
    const m = update();
    const as = (type: string, version: string) => ({ ...m.toJSON(), type, protocol: { ...(m.toJSON() as unknown as { protocol: object }).protocol, version } });
    const stopped = Object.values(v0_2.messageClasses).find((c) => !(c.type in v0_1.messageClasses))!;
    const cases: [string, object][] = [
      // A v0.2 type labelled v0.1, which has no such type: no v0.1 subscriber would ever read it.
      [stopped.type, "0.1"],
      ["signal.made.up", "0.1"],
      ["signal.made.up", "0.0.9"],
      ["signal.made.up", "9.9"],
      [m.type, "9.9"],
    ].map(([type, version]) => [`${type}@${version}`, as(type!, version!)]);
    for (const [label, body] of cases) {
      // Signed by a key nobody trusts, or not at all: refused and dead-lettered.
      expect([label, codeOf(p.receive(inbound(m, { body: signMessage(body, stranger), typeHeader: null })))]).toEqual([label, ErrorCode.SignerUnknown]);
      expect([label, codeOf(p.receive(inbound(m, { body: { ...body, trust: { ...m.trust, signature: "AAAA" } }, typeHeader: null })))]).not.toEqual([label, "skip"]);
      // Signed by a trusted key: left to a subscriber of that version.
      expect([label, codeOf(p.receive(inbound(m, { body: signMessage(body, key), typeHeader: null })))]).toEqual([label, "skip"]);
    }
  });

  it("judges replay on every delivery: a redelivery of the accepted stored message passes, another stored copy never does", () => {
    const p = typed([v0_1.StateUpdate], trust(new ReplayGuard()));
    const m = update();
    const first = inbound(m, { storedAs: "S#1" });
    const copy = { ...first, storedAs: "S#2" };
    expect(codeOf(p.receive(first))).toBe("deliver");
    expect(codeOf(p.receive(first))).toBe("deliver");
    for (let delivery = 0; delivery < 3; delivery++) expect(codeOf(p.receive(copy))).toBe(ErrorCode.Replay);
    expect(codeOf(p.receive(first))).toBe("deliver");
  });

  it("refuses to be built from classes of two templates or two classes of one type", () => {
    const other = { ...v0_1.StateUpdate, type: "signal.state.update", version: "9", subjectTemplate: { ...v0_1.StateUpdate.subjectTemplate, key: "other" } };
    expect(() => typed([v0_1.StateUpdate, other])).toThrow(/one subject template/);
    expect(() => typed([v0_1.StateUpdate, v0_2.StateUpdate])).toThrow(/two classes/);
    expect(() => typed([])).toThrow(/at least one/);
  });
});

describe("versionedPipeline", () => {
  const receiver = (sdk: ProtocolSdk) => ({ sdk, sources: [v0_0_9, v0_1, v0_2] as ProtocolSdk[], graph: versionGraph });

  it("judges the sender's bytes, then converts: a v0.1 message reaches a v0.2 receiver as v0.2", () => {
    const m = update();
    const out = versionedPipeline(receiver(v0_2), undefined, trust()).receive(inbound(m));
    expect(out.kind).toBe("deliver");
    if (out.kind !== "deliver") return;
    expect(out.message).toBeInstanceOf(v0_2.StateUpdate);
    expect(out).toMatchObject({ receivedVersion: "0.1", path: ["0.1", "0.2"], signer: key.keyId });
    expect(out.original.id).toBe(m.id);
  });

  it("refuses what the receiver's version cannot represent, and rejects a forgery of it", () => {
    const p = versionedPipeline(receiver(v0_1), undefined, trust());
    const stopped = v0_2.AgentStopped.parse({ ...example("v0.2", "event.agent.stopped"), trust: update().toJSON().trust });
    expect(codeOf(p.receive(inbound(stopped)))).toBe(`refuse:${ErrorCode.NoCounterpart}`);
    const newer = signMessage({ ...update().toJSON(), protocol: { ...(update().toJSON().protocol as object), version: "9.9" } }, key);
    expect(codeOf(p.receive(inbound(update(), { body: newer })))).toBe(`refuse:${ErrorCode.UnknownVersion}`);
    expect(codeOf(p.receive(inbound(update(), { body: { ...newer, payload: { state: "idle" } } })))).toBe(ErrorCode.SignatureInvalid);
    expect(codeOf(p.receive(inbound(stopped, { signer: stranger })))).toBe(ErrorCode.SignerUnknown);
  });

  it("the delivered message and its original share nothing, whether it was converted or not", () => {
    const m = v0_1.TaskDispatch.create({
      source: { zone: ZONE, entity_type: "task", entity_id: "t-1" },
      trust: { signer: "x", level: "verified", zone: ZONE, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
      payload: { task_id: "task-1", target: "node-1", action: "render", priority: 5, input: { scene: "intro" } },
    });
    for (const sdk of [v0_1, v0_2] as ProtocolSdk[]) {
      const out = versionedPipeline(receiver(sdk), undefined, trust()).receive(inbound(m));
      if (out.kind !== "deliver") throw new Error(`expected a delivery, got ${codeOf(out)}`);
      const delivered = out.message as { payload: { input: { scene: string } }; source: { entity_id: string } };
      delivered.payload.input.scene = "changed";
      delivered.source.entity_id = "changed";
      expect(out.original).toMatchObject({ payload: { input: { scene: "intro" } }, source: { entity_id: "t-1" } });
      (out.original.payload as { task_id: string }).task_id = "changed too";
      expect((out.message as { payload: { task_id: string } }).payload.task_id).toBe("task-1");
    }
  });
});

describe("the replay guard one client's subscriptions share", () => {
  /** A guard that counts what it is asked to remember. */
  function countingReplay(): { replay: StoredMessageReplay; remembered: () => number } {
    let remembered = 0;
    class CountingGuard extends ReplayGuard {
      override accept(...args: Parameters<ReplayGuard["accept"]>): void {
        remembered++;
        super.accept(...args);
      }
    }
    return { replay: new StoredMessageReplay(new CountingGuard()), remembered: () => remembered };
  }
  const settings = (replay: StoredMessageReplay): TrustSettings => ({ ...trust(), replay });

  it("a member's copy of a genuine message, stored on another entity's subject and read first by an older-version reader, leaves the genuine one deliverable", () => {
    const { replay, remembered } = countingReplay();
    const oldReader = versionedPipeline({ sdk: v0_1, sources: [v0_1], graph: versionGraph }, undefined, settings(replay));
    const newReader = typedPipeline([v0_2.StateUpdate], settings(replay));
    const genuine = v0_2.StateUpdate.create({ source: { zone: ZONE, entity_type: "node", entity_id: "copied-from" }, trust: update().toJSON().trust as v0_2.StateUpdate["trust"], payload: { state: "running" } } as Parameters<typeof v0_2.StateUpdate.create>[0]);
    const copy = inbound(genuine, { subject: update("copied-to").subject(), storedAs: "S#2" });
    expect(codeOf(oldReader.receive(copy))).toBe(`refuse:${ErrorCode.UnknownVersion}`);
    expect(remembered()).toBe(0);
    expect(codeOf(newReader.receive({ ...copy, subject: genuine.subject(), storedAs: "S#1" }))).toBe("deliver");
    expect(remembered()).toBe(1);
  });

  it("what a delivery would be refused for, a message read by a route that delivers nothing is refused for too: a stale copy, an accepted one stored again", () => {
    const { replay, remembered } = countingReplay();
    const oldReader = versionedPipeline({ sdk: v0_1, sources: [v0_1], graph: versionGraph }, undefined, settings(replay));
    const newReader = typedPipeline([v0_2.StateUpdate], settings(replay));
    const dayOld = new Date(Date.now() - 86_400_000).toISOString();
    const stale = v0_2.StateUpdate.parse({ ...(update().toJSON() as object), protocol: { ...(update().toJSON().protocol as object), version: "0.2" }, time: dayOld, payload: { state: "running" } });
    expect(codeOf(oldReader.receive(inbound(stale, { subject: update("copied-to").subject() })))).toBe(ErrorCode.Replay);
    const genuine = v0_2.StateUpdate.parse({ ...(update("copied-from").toJSON() as object), protocol: { ...(update().toJSON().protocol as object), version: "0.2" }, payload: { state: "running" } });
    const signed = inbound(genuine, { storedAs: "S#1" });
    expect(codeOf(newReader.receive(signed))).toBe("deliver");
    // The same stored message read again by the old reader is its redelivery; another stored copy a replay.
    expect(codeOf(oldReader.receive(signed))).toBe(`refuse:${ErrorCode.UnknownVersion}`);
    expect(codeOf(oldReader.receive({ ...signed, storedAs: "S#3" }))).toBe(ErrorCode.Replay);
    expect(remembered()).toBe(1);
  });

  it("a message of a version no loaded layout reads is judged and skipped without being remembered", () => {
    const { replay, remembered } = countingReplay();
    const m = update();
    const unreadable = signMessage({ ...m.toJSON(), protocol: { ...(m.toJSON().protocol as object), version: "9.9" } }, key);
    expect(codeOf(typed([v0_1.StateUpdate], settings(replay)).receive(inbound(m, { body: unreadable, typeHeader: null })))).toBe("skip");
    expect(remembered()).toBe(0);
  });
});

describe("the outcome's shape", () => {
  it("deliveries have fast properties and, signed alike, one hidden class, converted or not", () => {
    const p = typed([v0_1.StateUpdate]);
    const versioned = versionedPipeline({ sdk: v0_2, sources: [v0_1], graph: versionGraph }, undefined, trust());
    const [a, b, c, d] = [p.receive(inbound(update("n-1"))), p.receive(inbound(update("n-2"))), versioned.receive(inbound(update("n-3"))), versioned.receive(inbound(update("n-4")))];
    for (const out of [a, b, c, d]) expect(out!.kind).toBe("deliver");
    expect(sameFastShape(a!, b!)).toBe(true);
    expect(sameFastShape(c!, d!)).toBe(true);
    expect(sameFastShape(a!, c!)).toBe(true);
  });
});

describe("never throws", () => {
  it("any bytes, any subject, any header: one of the four outcomes", () => {
    const pipelines = [typed([v0_1.StateUpdate, v0_1.TaskDispatch], trust(new ReplayGuard())), versionedPipeline({ sdk: v0_2, sources: [v0_0_9, v0_1], graph: versionGraph }, undefined, trust())];
    const m = update();
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => b),
      fc.jsonValue().map((v) => utf8.encode(JSON.stringify(v))),
      fc.record({ type: fc.constantFrom("signal.state.update", "x", ""), protocol: fc.record({ version: fc.constantFrom("0.1", "0.2", "0.0.9", "7") }), source: fc.anything() }).map((v) => utf8.encode(JSON.stringify({ ...m.toJSON(), ...v }))),
    );
    fc.assert(
      fc.property(body, fc.constantFrom(m.subject(), "x", ""), fc.option(fc.string({ maxLength: 30 }), { nil: undefined }), (data, subject, typeHeader) => {
        for (const p of pipelines) {
          const out = p.receive({ data, subject, ...(typeHeader !== undefined ? { typeHeader } : {}), storedAs: "S#9" });
          expect(["deliver", "skip", "refuse", "reject"]).toContain(out.kind);
          if (out.kind === "reject") expect(out.error.code).not.toBe(ErrorCode.Internal);
        }
      }),
      { numRuns: 300 },
    );
  });
});
