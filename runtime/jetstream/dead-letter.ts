/**
 * The dead-letter stream: messages that cannot be parsed, fail verification or policy, or
 * whose handler gave up, kept with why, where from, who wrote the letter and how often the
 * message was tried.
 *
 * A letter's subject is `onex.dlq.<zone>.<stream>.<consumer>`. The zone token is what the
 * server lets the writer publish under (`onex nats-auth` gives each member its own zone's
 * prefix only, `~` is for unscoped subscriptions, which only admins may write), so the zone a
 * letter names is a fact, not a claim. Everything else in a letter is the writer's word.
 */
import { createHash } from "node:crypto";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager, JsMsg, StoredMsg } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";
import { decodeSubjectToken, encodeSubjectToken } from "../subject-token.js";
import { OnexHeader } from "./headers.js";
import { DEAD_LETTER_STREAM } from "./streams.js";

/** The zone token of letters written by subscriptions that follow no single zone. */
export const UNSCOPED_LETTER_ZONE = "~";

/** Room kept for the letter's own headers and the protocol line when a body must be cut to fit. */
const HEADER_ROOM = 4_096;
/** Headers of the original a letter keeps, each cut to this length: a forger's giant header must not make the letter unsendable. */
const KEPT_HEADERS = [OnexHeader.Type, OnexHeader.Version, "Nats-Msg-Id"] as const;
const MAX_HEADER_VALUE = 256;

/** A dead-lettered message as `onex dlq` shows it. */
export interface DeadLetter {
  /** Sequence in the dead-letter stream. */
  sequence: number;
  reason: string;
  message: string;
  /** The letter's own subject: `onex.dlq.<zone>.<stream>.<consumer>`. */
  letterSubject: string;
  /** The zone whose subscription wrote the letter (from the letter's subject, which the server checked), or undefined for an unscoped (admin) subscription. */
  writerZone: string | undefined;
  stream: string;
  consumer: string;
  subject: string;
  originalSequence: number;
  deliveries: number;
  time: string;
  data: Uint8Array;
  /** The original body's size when the letter holds only its first bytes (it did not fit under the server's max_payload). */
  truncatedFrom?: number;
  /** `sha256:<hex>` of the whole original body, for truncated letters. */
  digest?: string;
  headers: Record<string, string>;
}

/** Where a subscription writes its letters. */
export interface LetterWriter {
  /** The subscription's zone, or undefined when it follows every zone. */
  zone: string | undefined;
  consumer: string;
  /** The server's max_payload: a letter never exceeds it. */
  maxPayload: number;
}

/** The subject a subscription's letters go to. */
export function deadLetterSubject(zone: string | undefined, stream: string, consumer: string): string {
  return `onex.dlq.${zone === undefined ? UNSCOPED_LETTER_ZONE : encodeSubjectToken(zone, "zone")}.${token(stream)}.${token(consumer)}`;
}

/**
 * Moves a delivered message to the dead-letter stream with the reason; the caller then
 * terminates it. A body too large to fit beside the letter's headers is cut, with its size
 * and digest recorded: the original stays in its stream, where `onex dlq replay` finds it.
 */
export async function deadLetter(js: JetStreamClient, msg: JsMsg, writer: LetterWriter, reason: OnexError, deliveries: number): Promise<void> {
  const h = natsHeaders();
  for (const key of KEPT_HEADERS) {
    const value = msg.headers?.get(key);
    if (value) h.set(key === "Nats-Msg-Id" ? OnexHeader.DlqMsgId : key, value.slice(0, MAX_HEADER_VALUE));
  }
  h.set(OnexHeader.DlqReason, reason.code);
  h.set(OnexHeader.DlqMessage, oneLine(reason.message, 1024));
  h.set(OnexHeader.DlqStream, msg.info.stream);
  h.set(OnexHeader.DlqConsumer, writer.consumer);
  h.set(OnexHeader.DlqSubject, msg.subject);
  h.set(OnexHeader.DlqSequence, String(msg.info.streamSequence));
  h.set(OnexHeader.DlqDeliveries, String(deliveries));
  let data = msg.data;
  const room = Math.max(0, writer.maxPayload - HEADER_ROOM);
  if (data.length > room) {
    h.set(OnexHeader.DlqTruncated, String(data.length));
    h.set(OnexHeader.DlqDigest, digestOf(data));
    data = data.subarray(0, room);
  }
  await js.publish(deadLetterSubject(writer.zone, msg.info.stream, writer.consumer), data, {
    headers: h,
    // One letter per stored message and consumer, however often the write is retried.
    msgID: `dlq:${msg.info.stream}:${msg.info.streamSequence}:${writer.consumer}`,
  });
}

/** `sha256:<hex>` of a body. */
export function digestOf(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The dead letters in sequence order, optionally from a sequence and at most `limit`. */
export async function listDeadLetters(jsm: JetStreamManager, options: { fromSequence?: number; limit?: number } = {}): Promise<DeadLetter[]> {
  const info = await jsm.streams.info(DEAD_LETTER_STREAM).catch((error: unknown) => {
    throw new OnexError(ErrorCode.NoStream, `the dead-letter stream ${DEAD_LETTER_STREAM} does not exist; run \`onex streams apply\``, {}, { cause: error });
  });
  const out: DeadLetter[] = [];
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  for (let seq = Math.max(options.fromSequence ?? 1, info.state.first_seq); seq <= info.state.last_seq && out.length < limit; seq++) {
    const stored = await jsm.streams.getMessage(DEAD_LETTER_STREAM, { seq }).catch(() => null);
    if (stored) out.push(fromStored(stored));
  }
  return out;
}

/** One dead letter by its sequence, or ONEX_E_NOT_FOUND. */
export async function getDeadLetter(jsm: JetStreamManager, sequence: number): Promise<DeadLetter> {
  const stored = await jsm.streams.getMessage(DEAD_LETTER_STREAM, { seq: sequence }).catch(() => null);
  if (!stored) throw new OnexError(ErrorCode.NotFound, `no dead letter with sequence ${sequence}`, { sequence });
  return fromStored(stored);
}

function fromStored(stored: StoredMsg): DeadLetter {
  const headers = headerRecord(stored.header);
  const truncated = headers[OnexHeader.DlqTruncated];
  return {
    sequence: stored.seq,
    reason: headers[OnexHeader.DlqReason] ?? "",
    message: headers[OnexHeader.DlqMessage] ?? "",
    letterSubject: stored.subject,
    writerZone: writerZoneOf(stored.subject),
    stream: headers[OnexHeader.DlqStream] ?? "",
    consumer: headers[OnexHeader.DlqConsumer] ?? stored.subject.split(".").slice(4).join("."),
    subject: headers[OnexHeader.DlqSubject] ?? "",
    originalSequence: Number(headers[OnexHeader.DlqSequence] ?? 0),
    deliveries: Number(headers[OnexHeader.DlqDeliveries] ?? 0),
    time: stored.time.toISOString(),
    data: stored.data,
    ...(truncated !== undefined ? { truncatedFrom: Number(truncated), digest: headers[OnexHeader.DlqDigest] ?? "" } : {}),
    headers,
  };
}

/** The zone token of a letter's subject, as the server checked it. */
export function letterZoneToken(letterSubject: string): string {
  return letterSubject.split(".")[2] ?? "";
}

/** The zone in a letter's subject, for display (a token onex never writes is shown as it is). */
function writerZoneOf(letterSubject: string): string | undefined {
  const zoneToken = letterZoneToken(letterSubject);
  if (zoneToken === UNSCOPED_LETTER_ZONE) return undefined;
  try {
    return decodeSubjectToken(zoneToken, "zone");
  } catch {
    return zoneToken;
  }
}

function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of h ?? []) out[key] = values[values.length - 1] ?? "";
  return out;
}

function token(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_") || "_";
}

function oneLine(text: string, max: number): string {
  return text.slice(0, max).replace(/[\r\n]+/g, " ");
}
