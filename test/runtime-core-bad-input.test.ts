/**
 * Arguments the types forbid, passed to the core runtime functions from plain JavaScript: each is
 * refused with an OnexError of a stable code (ONEX_E_USAGE for an argument or options of the
 * wrong kind, ONEX_E_KEY_INVALID for something that is no key), never a raw crash. Each of these
 * was a raw TypeError ("Cannot read properties of null", "keys is not a function", "keys is not
 * iterable") or one of Node's own errors (ERR_CRYPTO_SIGN_KEY_REQUIRED, ERR_INVALID_ARG_TYPE).
 */
import { describe, expect, it } from "vitest";
import * as v0_1 from "../generated/v0.1/index.js";
import * as R from "../runtime/index.js";
import { planStreams } from "../runtime/jetstream/streams.js";
import { agreeOnVersion, type ProtocolOffer } from "../runtime/negotiation/agreement.js";
import type { ProtocolSdk } from "../runtime/protocol-sdk.js";
import { catchOnexError, ErrorCode, NOW, taskDispatch, ZONE } from "./trust/fixtures.js";

const pair = R.generateKeyPair();
const pk = pair.publicKey;
const pem = R.exportPublicKey(pk);
const signed = R.signMessage(taskDispatch(), pair);
const BUILD = R.buildFingerprint("build");

/** The code `fn` fails with; fails the test for a raw error or none. */
const codeOf = (fn: () => unknown) => catchOnexError(fn).code;

describe("options that are no object", () => {
  it("planStreams refuses limits of null", () => {
    const sdk = v0_1 as unknown as ProtocolSdk;
    expect(codeOf(() => planStreams([sdk], null as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => planStreams([sdk], {}, "1000" as never))).toBe(ErrorCode.Usage);
    expect(catchOnexError(() => planStreams([sdk], null as never)).message).toMatch(/limits must be an object, not null/);
    expect(planStreams([sdk], { maxMessages: 10 }).length).toBeGreaterThan(1);
  });

  it("planStreams refuses SDKs or zones that are no iterable, and an SDK that is none, naming which", () => {
    const sdk = v0_1 as unknown as ProtocolSdk;
    // Each was a raw TypeError: "sdks is not iterable", "Cannot convert undefined or null to object", "zones is not iterable".
    const cases: [string, () => unknown, RegExp][] = [
      ["a number", () => planStreams(42 as never), /^planStreams: sdks must be an array of generated SDK modules/],
      ["null", () => planStreams(null as never), /^planStreams: sdks must be an array/],
      ["one SDK module alone", () => planStreams(sdk as never), /^planStreams: sdks must be an array .*one alone: \[sdk\]/],
      ["a string", () => planStreams("v0.1" as never), /^planStreams: sdks must be an array/],
      ["an array holding null", () => planStreams([sdk, null] as never), /^planStreams: sdks\[1\] must be a generated SDK module/],
      ["an array holding {}", () => planStreams([{}] as never), /^planStreams: sdks\[0\] must be a generated SDK module/],
      ["an SDK whose templates are none", () => planStreams([{ subjectTemplates: { event: 5 } }] as never), /^planStreams: sdks\[0\] must be a generated SDK module/],
      ["zones of a number", () => planStreams([sdk], {}, {}, 42 as never), /^planStreams: zones must be an array of zone ids/],
      ["zones of one zone alone", () => planStreams([sdk], {}, {}, ZONE as never), /^planStreams: zones must be an array of zone ids/],
    ];
    for (const [label, run, message] of cases) {
      const error = catchOnexError(run);
      expect([label, error.code]).toEqual([label, ErrorCode.Usage]);
      expect(error.message).toMatch(message);
    }
    // What the types allow still plans: an iterable of SDKs, and zones.
    expect(planStreams(new Set([sdk]) as never).map((p) => p.name)).toEqual(planStreams([sdk]).map((p) => p.name));
    expect(planStreams([sdk], {}, {}, [ZONE]).some((p) => p.name.endsWith("~zone~2Etrusted~2Eorg"))).toBe(true);
  });

  it("ReplayGuard refuses options of null", () => {
    expect(codeOf(() => new R.ReplayGuard(null as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => new R.ReplayGuard(5 as never))).toBe(ErrorCode.Usage);
    expect(new R.ReplayGuard().windowMs).toBe(300_000);
    expect(new R.ReplayGuard({ windowMs: 1000 }).windowMs).toBe(1000);
  });

  it("trustPolicy refuses overrides of null", () => {
    expect(codeOf(() => R.trustPolicy(null as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.trustPolicy("signature=off" as never))).toBe(ErrorCode.Usage);
    expect(R.trustPolicy()).toEqual(R.DEFAULT_TRUST_POLICY);
    expect(R.trustPolicy(new Map([["signature", "off"]])).signature).toBe("off");
    expect(R.trustPolicy({ zone_match: "strict" }).zone_match).toBe("strict");
    expect(codeOf(() => R.trustPolicy({ signature: "STRICT" }))).toBe(ErrorCode.PolicyInvalid);
  });
});

describe("keys", () => {
  it("keyPairFromSeed refuses what is no bytes as no key, as importPrivateKey does", () => {
    expect(codeOf(() => R.importPrivateKey(null as never))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.keyPairFromSeed(null as never))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.keyPairFromSeed("a".repeat(32) as never))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.keyPairFromSeed(new Array(32).fill(1) as never))).toBe(ErrorCode.KeyInvalid);
    const seed = new Uint8Array(32).fill(7);
    expect(R.keyPairFromSeed(seed).keyId).toBe(R.keyPairFromSeed(Buffer.from(seed)).keyId);
  });

  it("keyRing refuses a single key (no iterable) as usage, and a PEM text in it as no key", () => {
    expect(codeOf(() => R.keyRing(pk as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.keyRing(null as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.keyRing(pem as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.keyRing([pem] as never))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.keyRing([null] as never))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.keyRing([{ keyId: pk.keyId }] as never))).toBe(ErrorCode.KeyInvalid);
    expect(R.keyRing(new Set([pk]))(pk.keyId)).toBe(pk);
    expect(R.keyRing([pk])(pk.keyId)).toBe(pk);
  });

  it("exportPublicKey and exportPrivateKey refuse what is no key", () => {
    expect(codeOf(() => R.exportPublicKey(undefined as never))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.exportPublicKey(pem as never, "compact"))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.exportPrivateKey(undefined as never))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.exportPrivateKey(pk as never))).toBe(ErrorCode.KeyInvalid);
    expect(R.importPublicKey(R.exportPublicKey(pk, "compact")).keyId).toBe(pk.keyId);
    expect(R.importPrivateKey(R.exportPrivateKey(pair)).keyId).toBe(pair.keyId);
  });
});

describe("signing and verifying messages", () => {
  it("verifyMessage refuses options without a key resolver", () => {
    expect(codeOf(() => R.verifyMessage(signed, { keys: [pk] } as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => (R.verifyMessage as (m: unknown) => unknown)(signed))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.verifyMessage(signed, null as never))).toBe(ErrorCode.Usage);
    expect(catchOnexError(() => R.verifyMessage(signed, { keys: [pk] } as never)).message).toMatch(/keyRing/);
    expect(R.verifyMessage(signed, { keys: R.keyRing([pk]), now: NOW, zone: ZONE }).keyId).toBe(pair.keyId);
  });

  it("judge refuses a context whose keys (or other parts) are of the wrong kind as ONEX_E_USAGE, not as every message's ONEX_E_INTERNAL rejection", () => {
    const keys = R.keyRing([pk]);
    // Each was judged: a verdict rejecting the message with ONEX_E_INTERNAL ("keys is not a function"), a fault of onex.
    const contexts: [string, unknown, RegExp][] = [
      ["keys of a list of keys", { keys: [pk], now: NOW }, /^judge: context\.keys must be a key resolver \(keyRing\(\[\.\.\.\]\)\), not an array/],
      ["keys of a number", { keys: 42, now: NOW }, /^judge: context\.keys must be a key resolver/],
      ["keys of a PEM text", { keys: pem, now: NOW }, /^judge: context\.keys must be a key resolver .*not a string/],
      ["no keys", { now: NOW }, /^judge: context\.keys must be a key resolver/],
      ["keyOfEntity of a string", { keys, now: NOW, keyOfEntity: "key-1" }, /^judge: context\.keyOfEntity must be a function/],
      ["grants of {}", { keys, now: NOW, grants: {} }, /^judge: context\.grants must be a GrantBook/],
      ["replay of true", { keys, now: NOW, replay: true }, /^judge: context\.replay must be a replay guard/],
      ["logger of a function", { keys, now: NOW, logger: () => undefined }, /^judge: context\.logger must be an object with a warn/],
    ];
    for (const [label, context, message] of contexts) {
      const error = catchOnexError(() => R.judge(signed, context as never));
      expect([label, error.code]).toEqual([label, ErrorCode.Usage]);
      expect(error.message).toMatch(message);
    }
    expect(codeOf(() => R.judge(signed, null as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.judge(signed, { keys }, null as never))).toBe(ErrorCode.Usage);
    // With the signature policy off no keys are asked for; given, they must still be a resolver.
    const off = { ...R.DEFAULT_TRUST_POLICY, signature: "off" as const };
    expect(R.judge(signed, { now: NOW } as never, off).accepted).toBe(true);
    expect(codeOf(() => R.judge(signed, { keys: [pk], now: NOW } as never, off))).toBe(ErrorCode.Usage);
    expect(R.judge(signed, { keys, now: NOW, zone: ZONE }).accepted).toBe(true);
  });

  it("signMessage refuses what is no key pair", () => {
    const message = taskDispatch();
    expect(codeOf(() => (R.signMessage as (m: unknown, k?: unknown) => unknown)(message, undefined))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.signMessage(message, R.exportPrivateKey(pair) as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.signMessage(message, pk as never))).toBe(ErrorCode.Usage);
    // The private key's text is never put in the message.
    expect(catchOnexError(() => R.signMessage(message, R.exportPrivateKey(pair) as never)).message).not.toMatch(/PRIVATE KEY/);
    expect(R.verifyMessage(R.signMessage(message, pair), { keys: R.keyRing([pk]), now: NOW }).keyId).toBe(pair.keyId);
  });
});

describe("text and versions", () => {
  it("parseJson refuses what is no text", () => {
    expect(codeOf(() => R.parseJson(undefined as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.parseJson(Buffer.from("{}") as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.parseJsonWithLines(undefined as never))).toBe(ErrorCode.Usage);
    expect(R.parseJson('{"a":[1,2]}')).toEqual({ a: [1, 2] });
  });

  it("compareVersions refuses what is no version text", () => {
    expect(codeOf(() => R.compareVersions(undefined as never, "0.1"))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.compareVersions("0.1", 2 as never))).toBe(ErrorCode.Usage);
    expect(R.compareVersions("v0.1", "0.1.0")).toBe(0);
    expect(R.compareVersions("0.2", "0.10")).toBeLessThan(0);
  });

  it("durationMs refuses what is no text", () => {
    expect(codeOf(() => R.durationMs(10 as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.durationMs("10s", null as never))).toBe(ErrorCode.Usage);
    expect(R.durationMs("1.5m")).toBe(90_000n);
    expect(R.durationMs("10", { bareMs: true })).toBe(10n);
  });
});

describe("identities", () => {
  it("buildFingerprint refuses what is no bytes or text", () => {
    expect(codeOf(() => R.buildFingerprint(undefined as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.buildFingerprint(5 as never))).toBe(ErrorCode.Usage);
    expect(R.buildFingerprint(Buffer.from("build"))).toBe(BUILD);
  });

  it("createNodeIdentity refuses a build, zone or key of the wrong kind", () => {
    expect(codeOf(() => R.createNodeIdentity(pair, undefined as never, ZONE))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.createNodeIdentity(pair, BUILD, undefined as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => R.createNodeIdentity(undefined as never, BUILD, ZONE))).toBe(ErrorCode.KeyInvalid);
    expect(codeOf(() => R.createNodeIdentity(pem as never, BUILD, ZONE))).toBe(ErrorCode.KeyInvalid);
    // A malformed fingerprint keeps its code.
    expect(codeOf(() => R.createNodeIdentity(pair, "sha256:00", ZONE))).toBe(ErrorCode.ValidationFailed);
    const identity = R.createNodeIdentity(pair, BUILD, ZONE);
    expect(R.createNodeIdentity(pk, BUILD, ZONE)).toEqual(identity);
    expect(R.verifyNodeIdentity(identity).keyId).toBe(pk.keyId);
  });
});

describe("negotiation", () => {
  const offer = (deployment: string): ProtocolOffer => ({
    kind: "onex.offer/1",
    deployment,
    protocol: { version: "0.1", compatible_with: [], declared_by: deployment, schema_manifest_url: "https://example.org/v0.1" },
    speaks: [{ version: "0.1", content_hash: "sha256:aa" }],
    converts: [],
  });

  it("agreeOnVersion refuses offers that are none", () => {
    expect(codeOf(() => agreeOnVersion({} as never, {} as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => agreeOnVersion(offer("a"), null as never))).toBe(ErrorCode.Usage);
    expect(codeOf(() => agreeOnVersion(offer("a"), { ...offer("b"), converts: undefined } as never))).toBe(ErrorCode.Usage);
    const agreement = agreeOnVersion(offer("a"), offer("b"));
    expect([agreement.mode, agreement.version]).toEqual(["direct", "0.1"]);
  });
});
