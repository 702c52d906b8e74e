/**
 * The receive pipeline, apart from any transport: bytes and routing facts in, one outcome
 * out — deliver, skip, refuse or reject — for the transport to act on. Every step happens
 * in one place and in one order:
 *
 *   decode → route (type, version, header) → validate in the sender's version → subject
 *   agrees with the signed body → verify and judge (replay included, on every delivery) →
 *   migrate to the receiver's version → deliver.
 *
 * Trust is judged on the sender's data: the signature covers the sender's bytes, not our
 * conversion of them. The pipeline never throws for a bad message.
 */
import type { Refusal } from "../control-plane.js";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { describeValue } from "../option-check.js";
import { decodeInput, handOver, type OnexMessage } from "../message.js";
import type { ProtocolSdk, SubjectTemplate, TransportMessageClass } from "../protocol-sdk.js";
import { findMigrationPath, migrateAlongGraph, type JsonObject, type VersionGraph } from "../transform.js";
import { declaredVersionOf, versionHasType } from "../trust/envelope.js";
import { verifyEd25519 } from "../trust/ed25519-verify.js";
import type { Envelope } from "../trust/envelope.js";
import { assertUsablePublicKey, type KeyResolver, type PublicKey } from "../trust/keys.js";
import { judgeWith, PolicyMode, type JudgeContext, type TrustPolicy, type TrustWarning, type Verdict } from "../trust/policy.js";
import { messageSignatureCheck, verifyMessageSignature, type SignatureCheck } from "../trust/sign-message.js";
import { signatureNotVerified } from "../trust/signature.js";
import type { ReplayGuard } from "../trust/replay-guard.js";
import type { StoredMessageReplay } from "./stored-message-replay.js";

/** One received message as a transport hands it over. */
export interface Inbound {
  data: Uint8Array;
  subject: string;
  /** The `Onex-Type` header, when the sender set one: a routing hint that must agree with the signed body. */
  typeHeader?: string;
  /** The `Onex-Version` header, when the sender set one: like the type header, it must agree with the body. */
  versionHeader?: string;
  /** Set when the message's header block could not be read (readableHeaders): its routing headers cannot be checked. */
  headersUnreadable?: true;
  /** Which stored message this is (stream and sequence): a redelivery is the same stored message, a replay is another. */
  storedAs: string;
}

/** What the transport does with a message. */
export type Outcome =
  /** Hand it to the caller. */
  | { kind: "deliver"; message: object; warnings: TrustWarning[]; signer?: string; receivedVersion: string; original: JsonObject; path: string[] }
  /** Not this receiver's: a type or version another subscriber reads. Acknowledge and move on. */
  | { kind: "skip" }
  /** Verified, but this receiver's version cannot represent it. Acknowledge (it stays in the stream for others) and record it. */
  | { kind: "refuse"; refusal: Omit<Refusal, "subject" | "sequence"> }
  /** Broken, forged, replayed or misrouted: dead-letter it and never deliver it again. */
  | { kind: "reject"; error: OnexError };

/** How received messages are judged. */
export interface TrustSettings {
  context: JudgeContext;
  policy: TrustPolicy;
  /** Replay protection that tells a redelivery from a replay; `context.replay` is ignored when set. */
  replay?: StoredMessageReplay;
}

/** A receive pipeline for one subscription. */
export interface ReceivePipeline {
  /** The subject template it reads. */
  readonly template: SubjectTemplate;
  /** The message's outcome: `prepare(inbound).finish()`. */
  receive(inbound: Inbound): Outcome;
  /**
   * Every step up to the arithmetic of the signature check: decoding, routing, validation, the
   * subject check, the signer's key and the bytes its signature covers. Nothing is recorded or
   * logged until `finish`, so messages may be prepared as they arrive, their signatures
   * verified on other threads, and finished one by one, in order.
   */
  prepare(inbound: Inbound): Prepared;
}

/** A received message prepared for its outcome (see `ReceivePipeline.prepare`). */
export interface Prepared {
  /** The signature left to verify, when the message has one the policy checks and that can be verified: `verifyEd25519(key, bytes, signature)`. */
  readonly check: SignatureCheck | undefined;
  /** The outcome, given the verdict on `check` when it was verified elsewhere; without one it is verified here. */
  finish(valid?: boolean): Outcome;
}

/** Where a message goes once decoded: a class to validate it with, or no further. */
type Route = { kind: "class"; cls: TransportMessageClass } | { kind: "skip" } | { kind: "skip-if-trusted" } | { kind: "unknown-version" } | { kind: "reject"; error: OnexError };

/** How a validated, accepted message reaches the caller. */
type Convert = (message: OnexMessage, original: JsonObject, version: string) => { message: object; path: string[] } | { refusal: OnexError };

/**
 * The pipeline of `subscribe(classes)`: messages of exactly these classes, in their version.
 * A message the subscription does not handle is skipped when another subscriber could read
 * it (another type of the same version's template, or any message of another version), and
 * rejected as ONEX_E_UNKNOWN_TYPE when the version it declares has no such type. A message of
 * another version is skipped unjudged only when a loaded SDK of that version has its type;
 * otherwise (a version not loaded here, or a type it does not have) it is judged first, so a
 * forgery nobody here can read is dead-lettered, not passed over.
 */
export function typedPipeline(classes: readonly TransportMessageClass[], trust: TrustSettings): ReceivePipeline {
  // Plain JavaScript: a class instead of an array of them, null, or type names all failed as raw TypeErrors.
  if (!Array.isArray(classes)) throw new OnexError(ErrorCode.Usage, `subscribe() takes an array of generated message classes ([v0_1.StateUpdate]), not ${describeValue(classes)}`);
  if (classes.length === 0) throw new OnexError(ErrorCode.Usage, "subscribe() needs at least one message class");
  classes.forEach((cls, index) => {
    if (!isMessageClass(cls)) throw new OnexError(ErrorCode.Usage, `subscribe(): element ${index} is no generated message class (like v0_1.StateUpdate): ${describeValue(cls)}`);
  });
  const template = classes[0]!.subjectTemplate;
  const templateKey = template.key;
  if (classes.some((c) => c.subjectTemplate.key !== templateKey)) {
    throw new OnexError(ErrorCode.Usage, "subscribe() takes message classes of one subject template at a time");
  }
  const byType = new Map<string, TransportMessageClass>();
  const typesByVersion = new Map<string, ReadonlySet<string>>();
  for (const cls of classes) {
    const other = byType.get(cls.type);
    if (other !== undefined && other !== cls) throw new OnexError(ErrorCode.Usage, `subscribe() got two classes for "${cls.type}"; use subscribeVersioned to read several versions`, { type: cls.type });
    byType.set(cls.type, cls);
    typesByVersion.set(cls.version, new Set(cls.subjectTemplate.types));
  }
  const route = (type: string, version: string | undefined): Route => {
    // No loaded SDK's envelope layout reads a version in it: another version's message (v0.0.9's
    // layout, its SDK not imported here), judged and left to others, or a forgery, dead-lettered.
    if (version === undefined) return { kind: "skip-if-trusted" };
    const cls = byType.get(type);
    if (cls !== undefined && cls.version === version) return { kind: "class", cls };
    const known = typesByVersion.get(version);
    if (known === undefined) return versionHasType(version, type) === true ? { kind: "skip" } : { kind: "skip-if-trusted" };
    if (known.has(type)) return { kind: "skip" };
    return { kind: "reject", error: new OnexError(ErrorCode.UnknownType, `"${type}" is not a message type of v${version} on subject template ${templateKey}`, { type, version }) };
  };
  const convert: Convert = (message, _original, version) => ({ message, path: [version] });
  return pipeline(template, route, convert, trust);
}

/**
 * The pipeline of `subscribeVersioned(receiver)`: messages of every version the receiver
 * reads, validated in their own version, judged, then converted to the receiver's version.
 * A verified message the receiver's version cannot represent is refused, not dead-lettered.
 */
export function versionedPipeline(receiver: { sdk: ProtocolSdk; sources: readonly ProtocolSdk[]; graph: VersionGraph }, templateKey: string | undefined, trust: TrustSettings): ReceivePipeline {
  checkReceiver(receiver);
  if (templateKey !== undefined && typeof templateKey !== "string") throw new OnexError(ErrorCode.Usage, `subscribeVersioned: templateKey must be a subject template's key, not ${describeValue(templateKey)}`);
  const target = receiver.sdk;
  const key = templateKey ?? Object.values(target.messageClasses)[0]?.subjectTemplate.key;
  if (key === undefined || target.subjectTemplates[key] === undefined) {
    throw new OnexError(ErrorCode.Usage, `v${target.version} has no subject template ${JSON.stringify(key)}`, { version: target.version });
  }
  const sources = new Map<string, ProtocolSdk>(receiver.sources.map((s) => [s.version, s]));
  sources.set(target.version, target);
  const route = (type: string, version: string | undefined): Route => {
    if (version === undefined) return { kind: "skip-if-trusted" }; // as in typedPipeline
    const sdk = sources.get(version);
    if (sdk === undefined) return { kind: "unknown-version" };
    const cls = Object.hasOwn(sdk.messageClasses, type) ? sdk.messageClasses[type] : undefined;
    if (cls === undefined) return { kind: "reject", error: new OnexError(ErrorCode.UnknownType, `"${type}" is not a message type of v${version}`, { type, version }) };
    return { kind: "class", cls };
  };
  const convert: Convert = (message, original, from) => {
    try {
      const type = String(original.type);
      const cls = Object.hasOwn(target.messageClasses, type) ? target.messageClasses[type] : undefined;
      if (cls === undefined) throw new OnexError(ErrorCode.NoCounterpart, `message type "${type}" of v${from} has no counterpart in v${target.version}`, { type, from, to: target.version });
      if (from === target.version) return { message, path: [from] };
      const path = [from, ...findMigrationPath(receiver.graph, from, target.version).map(({ step, direction }) => (direction === "up" ? step.newer : step.older))];
      return { message: cls.parse(migrateAlongGraph(receiver.graph, original, from, target.version)), path };
    } catch (error) {
      return { refusal: isOnexError(error) ? error : new OnexError(ErrorCode.Internal, `conversion failed: ${String(error)}`, {}, { cause: error }) };
    }
  };
  const unknownVersion = (from: string) =>
    new OnexError(ErrorCode.UnknownVersion, `the message is written in v${from}, which this v${target.version} receiver does not know (it reads ${[...sources.keys()].map((v) => `v${v}`).join(", ")})`, { version: from, from, to: target.version });
  return pipeline(target.subjectTemplates[key]!, route, convert, trust, (version) => unknownVersion(version), target.version);
}

/**
 * The receiver of subscribeVersioned, checked as the subscription opens. From plain JavaScript a
 * receiver without `graph` was accepted, and every message of another version then failed its
 * conversion as ONEX_E_INTERNAL (consumed, not delivered); null, `{}`, no `sources` or an `sdk`
 * that is a string were raw TypeErrors.
 */
function checkReceiver(receiver: unknown): asserts receiver is { sdk: ProtocolSdk; sources: readonly ProtocolSdk[]; graph: VersionGraph } {
  const usage = (what: string) => new OnexError(ErrorCode.Usage, `subscribeVersioned: ${what} (the receiver is { sdk, sources, graph }: the generated SDK module of the version it reads in, those of the versions it reads from, and versionGraph from the generated transforms)`);
  if (receiver === null || typeof receiver !== "object") throw usage(`the receiver must be an object, not ${describeValue(receiver)}`);
  const { sdk, sources, graph } = receiver as Record<string, unknown>;
  if (!isSdk(sdk)) throw usage(`receiver.sdk must be a generated SDK module (import * as sdk from "@onex/sdk/<version>"), not ${describeValue(sdk)}`);
  if (!Array.isArray(sources)) throw usage(`receiver.sources must be an array of generated SDK modules (the versions it reads), not ${describeValue(sources)}`);
  sources.forEach((source, index) => {
    if (!isSdk(source)) throw usage(`receiver.sources[${index}] is no generated SDK module: ${describeValue(source)}`);
  });
  const g = graph as Partial<VersionGraph> | null | undefined;
  if (g === null || typeof g !== "object" || !Array.isArray(g.versions) || !Array.isArray(g.steps) || g.validators === null || typeof g.validators !== "object") {
    throw usage(`receiver.graph must be the generated version graph, not ${describeValue(graph)}`);
  }
}

function isSdk(value: unknown): value is ProtocolSdk {
  const sdk = value as Partial<ProtocolSdk> | null;
  return sdk !== null && typeof sdk === "object" && typeof sdk.version === "string" && typeof sdk.messageClasses === "object" && sdk.messageClasses !== null && typeof sdk.subjectTemplates === "object" && sdk.subjectTemplates !== null;
}

/** A generated message class, as far as the pipeline reads one. */
function isMessageClass(value: unknown): value is TransportMessageClass {
  if (value === null || (typeof value !== "function" && typeof value !== "object")) return false;
  const cls = value as Partial<TransportMessageClass>;
  return typeof cls.type === "string" && typeof cls.version === "string" && typeof cls.subjectTemplate?.key === "string";
}

/** The version a message body declares, where its version's generated envelope layout says (see trust/envelope.ts). */
export { declaredVersionOf };

function pipeline(template: SubjectTemplate, route: (type: string, version: string | undefined) => Route, convert: Convert, trust: TrustSettings, unknownVersion?: (version: string) => OnexError, targetVersion?: string): ReceivePipeline {
  /**
   * The replay guard for one message. The routes that deliver nothing (`record` false) are refused
   * what a delivery would be, but leave nothing remembered: a copy a member stored on another
   * subject, read first by such a route, was remembered as the holder of its id, and the genuine
   * message, read later by a subscription that delivers it, refused as its replay.
   */
  const replayFor = (storedAs: string, subject: string, record: boolean): JudgeContext["replay"] => {
    if (trust.replay !== undefined) return trust.replay.forStoredMessage(storedAs, subject, record);
    const guard = trust.context.replay as (JudgeContext["replay"] & Partial<Pick<ReplayGuard, "check">>) | undefined;
    return record || guard === undefined ? guard : { accept: (message, now) => guard.check?.(message, now) };
  };
  /**
   * The message's trust, judged when finished: its signature check (all but the arithmetic)
   * made now, so that only the arithmetic is left to `finish`, or to a thread before it.
   */
  const judged = (value: object, { storedAs, subject }: Inbound, then: (verdict: Verdict) => Outcome, record = true): Prepared => {
    let check: SignatureCheck | undefined;
    if (trust.policy.signature !== PolicyMode.Off) {
      try {
        check = messageSignatureCheck(value, trust.context.keys);
      } catch {
        // Not verifiable: the judgement's own signature step fails the same way, when finished.
      }
    }
    // The key's bytes as the check was made with them: a key object changed in place since is another key.
    const keyRaw = check === undefined ? undefined : Buffer.from(check.key.raw);
    return new Judged(check, (valid) => {
      const context = trust.replay === undefined && record ? trust.context : { ...trust.context, replay: replayFor(storedAs, subject, record) };
      return then(judgeWith(value, context, trust.policy, check === undefined ? verifyMessageSignature : verdictOn(check, keyRaw!, valid)));
    });
  };
  const prepare = (inbound: Inbound): Prepared => {
    if (inbound.headersUnreadable) {
      return new Settled(reject(new OnexError(ErrorCode.RoutingMismatch, "the message's headers cannot be read (a header name with a space, a colon or a byte outside ASCII), so its Onex-Type and Onex-Version cannot be checked against its body", {})));
    }
    let value: unknown;
    try {
      value = decodeInput(inbound.data, "*");
    } catch (error) {
      return new Settled(reject(error));
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) return new Settled(reject(new OnexError(ErrorCode.ValidationFailed, "the message is not a JSON object", {})));
    const type = (value as { type?: unknown }).type;
    if (typeof type !== "string") return new Settled(reject(new OnexError(ErrorCode.UnknownType, 'the message has no string "type" field', {})));
    // The header is not signed: it may only repeat what the body says.
    if (inbound.typeHeader !== undefined && inbound.typeHeader !== type) {
      return new Settled(reject(new OnexError(ErrorCode.RoutingMismatch, `the Onex-Type header says "${inbound.typeHeader}" but the message is "${type}"`, { type, header: inbound.typeHeader })));
    }
    const version = declaredVersionOf(value);
    // Checked only against a version a loaded layout reads: one it cannot read (v0.0.9's, its SDK not imported) is judged below.
    if (inbound.versionHeader !== undefined && version !== undefined && inbound.versionHeader !== version) {
      return new Settled(reject(new OnexError(ErrorCode.RoutingMismatch, `the Onex-Version header says "${inbound.versionHeader}" but the message declares "${version}"`, { version, header: inbound.versionHeader })));
    }
    const where = route(type, version);
    if (where.kind === "skip") return new Settled(where);
    if (where.kind === "reject") return new Settled(where);
    if (where.kind === "skip-if-trusted") {
      // Nobody here can tell whether the type exists: judged, then left to another subscriber.
      return judged(value, inbound, (verdict) => (verdict.accepted ? { kind: "skip" } : reject(verdict.rejection)), false);
    }
    if (where.kind === "unknown-version") {
      // Not readable, but still judged: a forgery is dead-lettered, a genuine message of a newer version refused.
      return judged(value, inbound, (verdict) => {
        if (!verdict.accepted) return reject(verdict.rejection);
        const error = unknownVersion!(version!);
        return { kind: "refuse", refusal: refusalOf(error, value as JsonObject, version!, targetVersion!, verdict.verifiedSigner) };
      }, false);
    }
    let message: OnexMessage & { subject(): string; toJSON(): JsonObject };
    try {
      message = where.cls.parse(handOver(value)) as typeof message;
    } catch (error) {
      return new Settled(reject(error));
    }
    // The subject is not signed; the source fields that build it are. A source no subject can
    // carry (a lone surrogate in an id passes the schema) is the message's fault, like any other.
    let expected: string;
    try {
      expected = message.subject();
    } catch (error) {
      return new Settled(reject(error));
    }
    if (expected !== inbound.subject) {
      return new Settled(reject(new OnexError(ErrorCode.RoutingMismatch, `the message travelled on ${inbound.subject} but its source belongs on ${expected}`, { subject: inbound.subject, expected })));
    }
    // Judged as the plain data it was parsed into (the message holds the same values), so
    // reading the envelope copies nothing.
    return judged(value, inbound, (verdict) => {
      if (!verdict.accepted) return reject(verdict.rejection);
      // `value` now lives in `message`. A message delivered as it came still holds it, so the
      // original is read again from the bytes, and only if asked for; a converted one came
      // from a copy, and the message that holds `value` goes no further.
      const converted = convert(message, value as JsonObject, where.cls.version);
      if ("refusal" in converted) return { kind: "refuse", refusal: refusalOf(converted.refusal, value as JsonObject, where.cls.version, targetVersion ?? where.cls.version, verdict.verifiedSigner) };
      return new Delivered(converted.message, verdict.warnings, verdict.verifiedSigner, where.cls.version, converted.message === message ? undefined : (value as JsonObject), inbound.data, converted.path);
    });
  };
  return { template, prepare, receive: (inbound) => prepare(inbound).finish() };
}

/** A message whose outcome was known before its trust was judged. */
class Settled implements Prepared {
  readonly check = undefined;
  constructor(readonly outcome: Outcome) {}
  finish(): Outcome {
    return this.outcome;
  }
}

/** A message judged when finished, its signature check prepared. */
class Judged implements Prepared {
  readonly #finish: (valid: boolean | undefined) => Outcome;
  constructor(
    readonly check: SignatureCheck | undefined,
    finish: (valid: boolean | undefined) => Outcome,
  ) {
    this.#finish = finish;
  }
  finish(valid?: boolean): Outcome {
    return this.#finish(valid);
  }
}

/**
 * The judgement's signature step, given the verdict on `check` (or verifying it here). The
 * key ring is asked again: a verdict holds only for the key bytes it was reached with
 * (`keyRaw`), so a signer whose key changed since the check was prepared is verified afresh.
 * The key the ring hands out now is checked as any verified key is (a resolver may hand out a
 * new object each time, or change one in place).
 */
function verdictOn(check: SignatureCheck, keyRaw: Uint8Array, valid: boolean | undefined): (data: Envelope, keys: KeyResolver) => PublicKey {
  return (data, keys) => {
    const key = keys(check.key.keyId);
    if (key === undefined || key.keyId !== check.key.keyId || Buffer.compare(key.raw, keyRaw) !== 0) return verifyMessageSignature(data, keys);
    assertUsablePublicKey(key);
    if (!(valid ?? verifyEd25519(key, check.bytes, check.signature))) throw signatureNotVerified(key);
    return key;
  };
}

/**
 * The "deliver" outcome. A class, for its `original` getter: V8 makes an object literal with a
 * getter a dictionary, and with one such outcome and one such delivery per message its
 * young-generation collections promoted 3.7 KB a message to the old generation
 * (docs/performance.md).
 */
class Delivered {
  readonly kind = "deliver";
  declare readonly signer?: string;
  #original: JsonObject | undefined;
  readonly #data: Uint8Array;

  constructor(
    readonly message: object,
    readonly warnings: TrustWarning[],
    signer: string | undefined,
    readonly receivedVersion: string,
    /** The data as received, when the message delivered no longer holds it (it was converted); otherwise read again from `data` when asked for. */
    original: JsonObject | undefined,
    data: Uint8Array,
    readonly path: string[],
  ) {
    if (signer !== undefined) (this as { signer?: string }).signer = signer;
    this.#original = original;
    this.#data = data;
  }

  get original(): JsonObject {
    return (this.#original ??= decodeInput(this.#data, "*") as JsonObject);
  }
}

function reject(error: unknown): Outcome {
  return { kind: "reject", error: isOnexError(error) ? error : new OnexError(ErrorCode.Internal, `receiving failed unexpectedly: ${String(error)}`, {}, { cause: error }) };
}

function refusalOf(error: OnexError, original: JsonObject, fromVersion: string, toVersion: string, signer: string | undefined): Omit<Refusal, "subject" | "sequence"> {
  return {
    code: error.code,
    message: error.message,
    type: String(original.type),
    fromVersion,
    toVersion,
    ...(typeof original.id === "string" ? { messageId: original.id } : {}),
    ...(signer !== undefined ? { signer } : {}),
  };
}
