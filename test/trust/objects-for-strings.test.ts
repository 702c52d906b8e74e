/**
 * A trusted signer's message judged before, or without, its schema (a version no loaded SDK
 * reads, `judge()`, `onex verify`) may hold an object where the envelope holds a string. One
 * whose own `toString` and `valueOf` are no functions makes String() throw a TypeError: each
 * check that read such a member that way failed as ONEX_E_INTERNAL ("a bug in onex", exit 70)
 * instead of with its own code, and a subscription dead-lettered it so. `onex verify` met the
 * same in the registrations it reads (--entries), and ended as ONEX_E_INTERNAL.
 */
import { createPublicKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { versionGraph } from "../../generated/transforms/index.js";
import type { ProtocolSdk } from "../../runtime/protocol-sdk.js";
import { versionedPipeline } from "../../runtime/receive/pipeline.js";
import { StoredMessageReplay } from "../../runtime/receive/stored-message-replay.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY, judge, type JudgeContext, type PolicyName, type TrustPolicy } from "../../runtime/trust/policy.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { GrantBook, issueSessionGrant } from "../../runtime/trust/session-grant.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { onex, scratch } from "../cli/cli-harness.js";
import { ErrorCode, NOW, taskDispatch, ZONE } from "./fixtures.js";

const node = generateKeyPair();
const authority = generateKeyPair();
/** Parsed from JSON text as any other member: own data members, neither of them a function. */
const FORGED = JSON.parse('{"toString":1,"valueOf":1}') as object;

/** The fixture message, signed by `node`, with `change` made to its plain data first. */
function forged(change: (data: Record<string, any>) => void): object {
  const data = taskDispatch(node.keyId).toJSON() as Record<string, any>;
  change(data);
  return signMessage(data, node);
}

/** The policy that enforces `signature` and `name` alone, so one check at a time is judged. */
function strictOnly(name: PolicyName): TrustPolicy {
  return { signature: "strict", zone_match: "off", token_valid: "off", origin_check: "off", [name]: "strict" };
}

function grants(): GrantBook {
  const book = new GrantBook(new ZoneAuthorities([{ zone: ZONE, key: authority.publicKey }]));
  book.add(issueSessionGrant(authority, { subject: node.keyId, zone: ZONE, messageTypes: ["signal.task.dispatch"], notBefore: NOW - 60_000, expiresAt: NOW + 60_000 }));
  return book;
}

describe("judge: an object where the envelope holds a string", () => {
  const context = (extra: Partial<JudgeContext> = {}): JudgeContext => ({ keys: keyRing([node.publicKey]), now: NOW, zone: ZONE, logger: { warn() {} }, ...extra });
  const cases: { what: string; policy: PolicyName; change: (data: Record<string, any>) => void; extra?: () => Partial<JudgeContext>; code: string }[] = [
    { what: "trust.zone, against the session's zone", policy: "zone_match", change: (d) => (d.trust.zone = FORGED), code: ErrorCode.ZoneMismatch },
    { what: "trust.zone, against the source zone", policy: "zone_match", change: (d) => (d.trust.zone = FORGED), extra: () => ({ zone: undefined }), code: ErrorCode.ZoneMismatch },
    { what: "trust.zone, looked up in the grants", policy: "token_valid", change: (d) => (d.trust.zone = FORGED), extra: () => ({ grants: grants() }), code: ErrorCode.GrantInvalid },
    { what: "type, looked up in the grants", policy: "token_valid", change: (d) => (d.type = FORGED), extra: () => ({ grants: grants() }), code: ErrorCode.GrantInvalid },
    // An array naming another zone, which String() makes that zone: taken for no source zone, it passed both checks.
    { what: "source.zone, against the trust zone", policy: "zone_match", change: (d) => (d.source.zone = ["zone.other.org"]), code: ErrorCode.ZoneMismatch },
    { what: "source.zone, looked up in the grants", policy: "token_valid", change: (d) => (d.source.zone = ["zone.other.org"]), extra: () => ({ grants: grants() }), code: ErrorCode.GrantInvalid },
    { what: "source.zone null, looked up in the grants", policy: "token_valid", change: (d) => (d.source.zone = null), extra: () => ({ grants: grants() }), code: ErrorCode.GrantInvalid },
  ];
  for (const { what, policy, change, extra, code } of cases) {
    it(`${what}: ${code}`, () => {
      // The same message with the member a string is accepted: only the forged member fails.
      expect(judge(forged(() => undefined), context(extra?.()), strictOnly(policy)).accepted).toBe(true);
      const verdict = judge(forged(change), context(extra?.()), strictOnly(policy));
      expect([verdict.accepted, verdict.rejection?.code, verdict.rejection?.details.policy]).toEqual([false, code, policy]);
    });
  }

  it("trust.signer of a message judged unsigned, against the source's registered key: ONEX_E_ORIGIN_MISMATCH", () => {
    const policy: TrustPolicy = { signature: "off", zone_match: "off", token_valid: "off", origin_check: "strict" };
    const registered = context({ keyOfEntity: () => node.keyId });
    expect(judge(forged(() => undefined), registered, policy).accepted).toBe(true);
    for (const ctx of [registered, context({ keyOfEntity: () => undefined })]) {
      // Set after signing, which names its own key as the signer.
      const message = forged(() => undefined) as { trust: Record<string, unknown> };
      message.trust.signer = FORGED;
      const verdict = judge(message, ctx, policy);
      expect([verdict.accepted, verdict.rejection?.code]).toEqual([false, ErrorCode.OriginMismatch]);
    }
  });

  it("an advisory zone_match warns with the mismatch, not ONEX_E_INTERNAL", () => {
    const verdict = judge(forged((d) => (d.trust.zone = FORGED)), context(), { ...strictOnly("signature"), zone_match: "advisory" });
    expect(verdict.accepted).toBe(true);
    expect(verdict.warnings.map((w) => w.code)).toEqual([ErrorCode.ZoneMismatch]);
  });
});

describe("a subscription's pipeline: a message of a version no loaded SDK reads is judged as it came", () => {
  it("an object as its id is ONEX_E_REPLAY, an object as its trust zone ONEX_E_ZONE_MISMATCH, each dead-lettered with its own code", () => {
    const receiver = { sdk: v0_2 as unknown as ProtocolSdk, sources: [v0_1, v0_2] as unknown as ProtocolSdk[], graph: versionGraph };
    const settings = (zoneMatch: "off" | "strict") => ({
      context: { keys: keyRing([node.publicKey]), zone: ZONE, logger: { warn() {} } },
      policy: { ...DEFAULT_TRUST_POLICY, zone_match: zoneMatch, origin_check: "off" } as TrustPolicy,
      replay: new StoredMessageReplay(new ReplayGuard()),
    });
    const fresh = (change: (data: Record<string, any>) => void) =>
      forged((d) => {
        d.protocol.version = "9.9";
        d.time = new Date().toISOString();
        d.trust.expires_at = new Date(Date.now() + 3_600_000).toISOString();
        change(d);
      });
    const receive = (message: object, zoneMatch: "off" | "strict") => {
      const outcome = versionedPipeline(receiver, undefined, settings(zoneMatch)).receive({ data: new TextEncoder().encode(JSON.stringify(message)), subject: taskDispatch().subject(), storedAs: "S#1" });
      return outcome.kind === "reject" ? outcome.error.code : outcome.kind === "refuse" ? `refuse:${outcome.refusal.code}` : outcome.kind;
    };
    // Genuine, it is refused as a version this receiver does not read.
    expect(receive(fresh(() => undefined), "strict")).toBe(`refuse:${ErrorCode.UnknownVersion}`);
    expect(receive(fresh((d) => (d.id = FORGED)), "off")).toBe(ErrorCode.Replay);
    expect(receive(fresh((d) => (d.trust.zone = FORGED)), "strict")).toBe(ErrorCode.ZoneMismatch);
  });
});

describe("a stored message's replay check", () => {
  it("a second stored copy of a message whose id is an object is ONEX_E_REPLAY", () => {
    const replay = new StoredMessageReplay(new ReplayGuard());
    const message = forged((d) => (d.id = FORGED)) as { trust: { signature: string } };
    replay.seed("S#1", "subject", message.trust.signature);
    let thrown: unknown;
    try {
      replay.forStoredMessage("S#2", "subject").accept(message, NOW);
    } catch (error) {
      thrown = error;
    }
    expect([(thrown as { code?: string }).code, (thrown as Error).message]).toEqual([ErrorCode.Replay, 'message {"toString":1,"valueOf":1} was already stored as S#1']);
  });
});

describe("onex verify", () => {
  const { dir, remove } = scratch("objects-for-strings");
  afterAll(remove);

  it("reports a trust zone that is an object as ONEX_E_ZONE_MISMATCH and exits 1, not 70", () => {
    writeFileSync(join(dir, "node.pub"), createPublicKey(node.privateKey).export({ type: "spki", format: "pem" }));
    const lines = [forged(() => undefined), forged((d) => (d.trust.zone = FORGED))].map((m) => JSON.stringify(m)).join("\n") + "\n";
    const run = onex(dir, ["verify", "-", "--key", "node.pub", "--zone", ZONE, "--at", new Date(NOW).toISOString(), "--policy", "zone_match=strict,origin_check=off", "--json"], lines);
    const verdicts = run.stdout.trim().split("\n").slice(0, 2).map((line) => JSON.parse(line) as { accepted: boolean; code: string | null });
    expect([run.code, ...verdicts.map((v) => v.code)]).toEqual([1, null, ErrorCode.ZoneMismatch]);
  });

  it("skips, with a warning, a registration (--entries) whose node id or key id is an object, and judges the messages", () => {
    writeFileSync(join(dir, "node.pub"), createPublicKey(node.privateKey).export({ type: "spki", format: "pem" }));
    const registrations = [{ node_id: FORGED, key_id: node.keyId }, { entry: { node_id: "node-dispatcher", key_id: FORGED }, identity: {} }];
    writeFileSync(join(dir, "entries.ndjson"), registrations.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const run = onex(dir, ["verify", "-", "--key", "node.pub", "--at", new Date(NOW).toISOString(), "--entries", "entries.ndjson", "--policy", "origin_check=strict", "--json"], JSON.stringify(forged(() => undefined)) + "\n");
    expect(run.stderr.split("\n").filter((line) => line.startsWith("warning")).map((line) => line.split(":")[0])).toEqual(["warning ONEX_E_IDENTITY_MISMATCH", "warning ONEX_E_SIGNER_UNKNOWN"]);
    // Neither ties the source node to the key: the message is judged, and fails origin_check.
    expect([run.code, (JSON.parse(run.stdout.split("\n")[0]!) as { code: string }).code]).toEqual([1, ErrorCode.OriginMismatch]);
  });

  it("cuts a registration's member of megabytes in its warning, as a message's field is cut", () => {
    writeFileSync(join(dir, "node.pub"), createPublicKey(node.privateKey).export({ type: "spki", format: "pem" }));
    const long = { node_id: "n".repeat(1_000_000), key_id: ["k".repeat(1_000_000)] };
    writeFileSync(join(dir, "long.ndjson"), [long, { entry: long, identity: {} }].map((r) => JSON.stringify(r)).join("\n") + "\n");
    const run = onex(dir, ["verify", "-", "--key", "node.pub", "--at", new Date(NOW).toISOString(), "--entries", "long.ndjson", "--policy", "origin_check=strict", "--json"], JSON.stringify(forged(() => undefined)) + "\n");
    const warnings = run.stderr.split("\n").filter((line) => line.startsWith("warning"));
    expect(warnings.map((line) => [line.split(":")[0], line.length < 10_000, line.includes("characters not shown")])).toEqual([
      ["warning ONEX_E_IDENTITY_MISMATCH", true, true],
      ["warning ONEX_E_SIGNER_UNKNOWN", true, true],
    ]);
  });
});
