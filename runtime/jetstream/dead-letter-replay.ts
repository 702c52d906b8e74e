/**
 * Replaying a dead letter without obeying it. A letter is written by a subscriber, and a
 * member may write letters, so nothing in it is trusted as an instruction: the target
 * subject is derived from the original message itself — validated in its own version,
 * its signature verified, its subject built from its signed source fields by the generated
 * builder — and the message may only go back into the zone of the letter's writer.
 */
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { decodeInput, type OnexMessage } from "../message.js";
import type { ProtocolSdk, TransportMessageClass } from "../protocol-sdk.js";
import { declaredVersionOf } from "../receive/pipeline.js";
import { encodeSubjectToken } from "../subject-token.js";
import type { KeyResolver } from "../trust/keys.js";
import { judge, trustPolicy } from "../trust/policy.js";
import { digestOf, isLetterSubject, letterZoneToken, type DeadLetter } from "./dead-letter.js";
import { OnexHeader, readableHeaders } from "./headers.js";
import { isUnanswered, publishError } from "./publish-errors.js";
import { storedMessage, withRetry } from "./with-retry.js";
import { UNSCOPED_LETTER_ZONE } from "./streams.js";

/** What a replay is checked against. */
export interface ReplayCheck {
  /** Every protocol version the operator's tools know. */
  sdks: readonly ProtocolSdk[];
  /** Keys trusted to sign messages: an original that does not verify with them is not replayed. */
  keys: KeyResolver;
}

/** A letter that passed every check, and where it will go. */
export interface ReplayPlan {
  letter: DeadLetter;
  /** The subject the original's own source fields build. */
  target: string;
  type: string;
  version: string;
  /** The original's bytes, unchanged (from its stream when the letter holds only part of them). */
  data: Uint8Array;
  signer: string;
}

const SIGNATURE_ONLY = trustPolicy({ signature: "strict", token_valid: "off", zone_match: "off", origin_check: "off" });

/** A letter's original message, validated in its own version, and the subject its signed source fields build. */
export interface LetterOriginal {
  message: OnexMessage & { subject(): string };
  cls: TransportMessageClass;
  version: string;
  type: string;
  target: string;
}

/** Reads a letter's original from `data`; throws ONEX_E_DLQ_REFUSED when it is no valid message of a known version. */
export function originalOf(letter: DeadLetter, data: Uint8Array, sdks: readonly ProtocolSdk[]): LetterOriginal {
  let value: unknown;
  try {
    value = decodeInput(data, "*");
  } catch (error) {
    throw refused(letter, `its body is not a message: ${(error as Error).message}`, error);
  }
  const version = declaredVersionOf(value);
  const sdk = sdks.find((s) => s.version === version);
  if (sdk === undefined) throw refused(letter, `its body declares protocol version ${JSON.stringify(version)}, which these tools do not know`);
  const type = String((value as { type?: unknown }).type);
  const cls = Object.hasOwn(sdk.messageClasses, type) ? sdk.messageClasses[type] : undefined;
  if (cls === undefined) throw refused(letter, `"${type}" is not a message type of v${sdk.version}`);
  let message: LetterOriginal["message"];
  try {
    message = cls.parse(value as object) as LetterOriginal["message"];
  } catch (error) {
    throw refused(letter, `its body is not a valid v${sdk.version} ${type}: ${(error as Error).message}`, error);
  }
  return { message, cls, version: sdk.version, type, target: message.subject() };
}

/** Checks a letter and works out its target; throws ONEX_E_DLQ_REFUSED (the letter is left in place) when it cannot be replayed. */
export async function planReplay(jsm: JetStreamManager, letter: DeadLetter, check: ReplayCheck): Promise<ReplayPlan> {
  if (!isLetterSubject(letter.letterSubject)) {
    throw refused(letter, `it is stored under ${letter.letterSubject}, not under a letter's subject (onex.dlq.<zone>.<stream>.<consumer>): JetStream stores a pulled message there under its own subject when a pull's reply subject names the letters' prefix, and no subscription wrote it`);
  }
  const data = await originalBody(jsm, letter);
  const { message, cls, version, type, target } = originalOf(letter, data, check.sdks);
  const verdict = judge(message, { keys: check.keys, logger: { warn() {} } }, SIGNATURE_ONLY);
  if (!verdict.accepted) throw refused(letter, `its body does not verify: ${verdict.rejection?.message ?? "rejected"}`, verdict.rejection);
  if (letter.subject !== target) throw refused(letter, `the letter records subject ${letter.subject}, but the message belongs on ${target}`);
  const zoneToken = letterZoneToken(letter.letterSubject);
  const zoneParam = cls.subjectTemplate.sourceParams.zone;
  const zone = zoneParam === undefined ? undefined : (cls.subjectTemplate.parse(target) as Record<string, string | undefined>)[zoneParam];
  if (zoneToken !== UNSCOPED_LETTER_ZONE && (zone === undefined || encodeSubjectToken(zone, "zone") !== zoneToken)) {
    throw refused(letter, `the letter was written by a subscriber of zone token ${zoneToken}, but the message is for zone ${String(zone)}`);
  }
  return { letter, target, type, version, data, signer: verdict.verifiedSigner ?? "" };
}

/**
 * Publishes a checked letter's original again on its own subject, as a fresh delivery
 * (a de-duplication id of the letter's own, the message itself unchanged), and returns where
 * it is stored. A letter replayed again within the stream's duplicate window — given twice,
 * replayed by two operators at once, or run again after a run that ended without its
 * acknowledgement (`ONEX_E_PUBLISH_TIMEOUT`, a server restart) — is stored once: `duplicate`
 * then says the stored copy is that of an earlier replay.
 */
export async function replayDeadLetter(js: JetStreamClient, plan: ReplayPlan): Promise<{ stream: string; sequence: number; duplicate?: true }> {
  const ack = await publishOriginal(js, plan, `replay:${plan.letter.deadLetterStream}:${plan.letter.sequence}`);
  if (!ack.duplicate) return { stream: ack.stream, sequence: ack.seq };
  // The letter's id can be foreseen, so a member may have stored something else under it
  // ahead of time: only the original itself, on its subject with its type and version, is the
  // earlier replay. Anything else is published again under a random id, as if none were there.
  const stored = await storedMessage(await js.jetstreamManager(), ack.stream, ack.seq);
  if (stored !== null && isOriginal(stored, plan)) return { stream: ack.stream, sequence: ack.seq, duplicate: true };
  const fresh = await publishOriginal(js, plan, `replay:${globalThis.crypto.randomUUID()}`);
  return { stream: fresh.stream, sequence: fresh.seq };
}

async function publishOriginal(js: JetStreamClient, plan: ReplayPlan, id: string): Promise<{ stream: string; seq: number; duplicate: boolean }> {
  const h = natsHeaders();
  h.set(OnexHeader.Type, plan.type);
  h.set(OnexHeader.Version, plan.version);
  try {
    // An acknowledgement that does not come is waited for again with the same id: a publish stored
    // whose acknowledgement was lost is stored once (within the stream's duplicate window). No
    // stream for the subject ("no responders"), a refusal or a closed connection is said at once.
    return await withRetry(() => js.publish(plan.target, plan.data, { headers: h, msgID: id }), isUnanswered);
  } catch (error) {
    throw publishError(error, plan.target, id);
  }
}

/** Whether a stored message is the plan's original as a replay publishes it. */
function isOriginal(stored: { subject: string; data: Uint8Array; header?: { get(name: string): string } }, plan: ReplayPlan): boolean {
  if (stored.subject !== plan.target) return false;
  // A member may store its decoy with a header name nats.js throws on when it is read: such a
  // message is no replay's, and read unguarded it ended the operator's run (ONEX_E_INTERNAL).
  const header = readableHeaders(() => stored.header);
  return header?.get(OnexHeader.Type) === plan.type && header?.get(OnexHeader.Version) === plan.version && Buffer.compare(stored.data, plan.data) === 0;
}

/** The original body: the letter's, or — when the letter holds only its first bytes — the stored original, checked against the letter's digest. */
async function originalBody(jsm: JetStreamManager, letter: DeadLetter): Promise<Uint8Array> {
  if (letter.truncatedFrom === undefined) return letter.data;
  // The stream and sequence are the letter writer's word (a member may write letters): one that
  // names no stored message is refused here. Asked of the server, a name no stream can have went
  // unanswered and the refusal read as a connection failure (exit 69, as if worth retrying).
  if (letter.originalSequence < 1 || !STREAM_NAME.test(letter.stream)) {
    throw refused(letter, `the letter holds only ${letter.data.length} of ${letter.truncatedFrom} bytes, and names no stored original (${letter.stream}#${letter.originalSequence})`);
  }
  const stored = await storedMessage(jsm, letter.stream, letter.originalSequence).catch((error: unknown) => {
    if (isOnexError(error) && error.code === ErrorCode.NoStream) throw refused(letter, `the letter holds only ${letter.data.length} of ${letter.truncatedFrom} bytes, and names a stream there is none of (${letter.stream})`, error);
    throw error;
  });
  if (stored === null) throw refused(letter, `the letter holds only ${letter.data.length} of ${letter.truncatedFrom} bytes, and ${letter.stream}#${letter.originalSequence} is no longer stored`);
  if (digestOf(stored.data) !== letter.digest) throw refused(letter, `${letter.stream}#${letter.originalSequence} is not the message the letter was written for (digest differs)`);
  return stored.data;
}

/** A name JetStream gives a stream: no space, `.`, `*`, `>` or path separator (it is a token of the API's subjects). */
const STREAM_NAME = /^[^\s.*>/\\]{1,255}$/;

function refused(letter: DeadLetter, why: string, cause?: unknown): OnexError {
  const code = isOnexError(cause) ? cause.code : undefined;
  return new OnexError(ErrorCode.DeadLetterRefused, `dead letter ${letter.sequence} is not replayed: ${why}`, { sequence: letter.sequence, ...(code !== undefined ? { cause: code } : {}) }, { cause });
}
