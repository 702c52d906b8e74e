/**
 * The dead-letter stream: messages that cannot be parsed, fail verification or policy, or
 * whose handler gave up, kept with why, where from, who wrote the letter and how often the
 * message was tried.
 *
 * A letter's subject is `onex.dlq.<zone>.<stream>.<consumer>`. The zone token is what the
 * server lets the writer publish under: `onex nats-auth` gives each member its own zone's
 * prefix only, and `~`, for unscoped subscriptions, to admins; what JetStream answers to a
 * reply subject a member names returns to the members' own account, where no stream stores
 * it. Everything else in a letter is the writer's word, which is why replay checks the
 * original itself.
 */
import { createHash } from "node:crypto";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager, JsMsg, StoredMsg } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";
import { checkObject, checkStreamName, checkWhole, describeValue } from "../option-check.js";
import { assertZoneId } from "../zone-id.js";
import { decodeSubjectToken, encodeSubjectToken } from "../subject-token.js";
import { OnexHeader, readableHeaders } from "./headers.js";
import { DEAD_LETTER_SUBJECTS, UNSCOPED_LETTER_ZONE } from "./streams.js";
import { jetStreamFailure, lookUpStream, storedMessage, withRetry } from "./with-retry.js";
import { APPLY_STREAMS, RAISE_LETTER_BYTES } from "./apply-advice.js";
import type { LetterLimits, LetterLimitsReader } from "./letter-limits.js";

/** Headers of the original a letter keeps, each cut to at most MAX_HEADER_BYTES: a forger's giant header must not make the letter unsendable. */
const KEPT_HEADERS = [OnexHeader.Type, OnexHeader.Version, "Nats-Msg-Id"] as const;
const MAX_HEADER_BYTES = 256;
const MAX_REASON_BYTES = 1_024;
/** Room for what the client adds (`Nats-Msg-Id`) and for the truncation headers. */
const SPARE_BYTES = 512;
/**
 * What nats-server 2.9's file store counts for a stored message beside its subject, headers and
 * body (record header, header length, hash): a stream's max_bytes must hold all of it.
 */
const STORED_RECORD_BYTES = 34;

/** A dead-lettered message as `onex dlq` shows it. */
export interface DeadLetter {
  /** The dead-letter stream holding it (`ONEX_DLQ`, or a zone's `ONEX_DLQ~<zone>`). */
  deadLetterStream: string;
  /** Sequence in the dead-letter stream. */
  sequence: number;
  reason: string;
  message: string;
  /** The letter's own subject: `onex.dlq.<zone>.<stream>.<consumer>`. */
  letterSubject: string;
  /**
   * The zone whose subscription wrote the letter (from the letter's subject, which the server
   * checked), or undefined for an unscoped (admin) subscription; "" when the message is stored
   * under a subject no letter is written under (`isLetterSubject`), which no subscription wrote.
   */
  writerZone: string | undefined;
  stream: string;
  consumer: string;
  subject: string;
  originalSequence: number;
  deliveries: number;
  time: string;
  data: Uint8Array;
  /** The original body's size when the letter holds only its first bytes (it did not fit under the server's max_payload, or the dead-letter stream's max_msg_size or max_bytes). */
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
  /** The dead-letter stream's max_bytes and max_msg_size, read for each letter: a letter never exceeds them either. */
  limits: LetterLimitsReader;
  /**
   * Random, one per subscription: the letters' de-duplication ids start with it, so nobody
   * can store a letter under an id ahead of time and make the real one a silent duplicate.
   */
  idPrefix: string;
}

/** What every letter's subject starts with. */
const LETTER_PREFIX = "onex.dlq.";

/** The subject a subscription's letters go to. */
export function deadLetterSubject(zone: string | undefined, stream: string, consumer: string): string {
  return `${LETTER_PREFIX}${zone === undefined ? UNSCOPED_LETTER_ZONE : encodeSubjectToken(zone, "zone")}.${token(stream)}.${token(consumer)}`;
}

/**
 * Moves a delivered message to the dead-letter stream with the reason; the caller then
 * terminates it. Every header is cut to a bounded number of bytes, and a body too large to
 * fit beside them under the server's max_payload, or the dead-letter stream's max_msg_size or
 * max_bytes, is cut, with its size and digest recorded: the original stays in its stream,
 * where `onex dlq replay` finds it. ONEX_E_STREAM_FULL, and nothing written, when not even
 * the letter without a body fits the stream.
 */
export async function deadLetter(js: JetStreamClient, msg: JsMsg, writer: LetterWriter, reason: OnexError, deliveries: number): Promise<void> {
  const h = natsHeaders();
  // Headers that cannot be read are not kept: the letter's reason says so.
  const original = readableHeaders(() => msg.headers);
  for (const key of KEPT_HEADERS) {
    const value = original?.get(key);
    if (value) h.set(key === "Nats-Msg-Id" ? OnexHeader.DlqMsgId : key, cutUtf8(value, MAX_HEADER_BYTES));
  }
  h.set(OnexHeader.DlqReason, reason.code);
  h.set(OnexHeader.DlqMessage, cutUtf8(reason.message.replace(/[\r\n]+/g, " "), MAX_REASON_BYTES));
  h.set(OnexHeader.DlqStream, msg.info.stream);
  h.set(OnexHeader.DlqConsumer, writer.consumer);
  h.set(OnexHeader.DlqSubject, msg.subject);
  h.set(OnexHeader.DlqSequence, String(msg.info.streamSequence));
  h.set(OnexHeader.DlqDeliveries, String(deliveries));
  const subject = deadLetterSubject(writer.zone, msg.info.stream, writer.consumer);
  // One letter per stored message and subscription, however often the write is retried.
  const msgID = `dlq:${writer.idPrefix}:${msg.info.streamSequence}`;
  const most = mostLetterBytes(writer.maxPayload, await writer.limits(subject), subject);
  let data = msg.data;
  const room = most - headerBytes(h) - SPARE_BYTES;
  if (data.length > room) {
    h.set(OnexHeader.DlqTruncated, String(data.length));
    h.set(OnexHeader.DlqDigest, digestOf(data));
    data = data.subarray(0, Math.max(0, room));
  }
  const least = letterBytes(h, msgID);
  if (least > most) {
    throw new OnexError(ErrorCode.StreamFull, `the dead-letter stream for ${subject} cannot hold a letter of ${least} bytes without its body (at most ${most} fit): raise its max_bytes with ${RAISE_LETTER_BYTES}`, { subject, letterBytes: least, mostBytes: most });
  }
  await js.publish(subject, data, { headers: h, msgID });
}

/**
 * ONEX_E_STREAM_FULL when the dead-letter stream for `writer`'s letters of messages of `stream`
 * cannot hold even the smallest letter it could write: no body, and one byte for each header a
 * message fills (its reason, subject, sequence, deliveries). Such a stream takes no letter, and
 * every message the subscription rejects is handed back, again and again, each holding one of its
 * `maxInFlight` slots: it opened, and then stopped receiving once as many were rejected. Asked
 * as it opens; a stream missing or unreadable then is left to the letters, as before.
 */
export async function assertRoomForLetters(writer: LetterWriter, stream: string): Promise<void> {
  const subject = deadLetterSubject(writer.zone, stream, writer.consumer);
  const limits = await writer.limits(subject).catch(() => undefined);
  if (limits === undefined) return;
  const h = natsHeaders();
  for (const key of [OnexHeader.DlqReason, OnexHeader.DlqMessage, OnexHeader.DlqSubject, OnexHeader.DlqSequence, OnexHeader.DlqDeliveries]) h.set(key, "x");
  h.set(OnexHeader.DlqStream, stream);
  h.set(OnexHeader.DlqConsumer, writer.consumer);
  const least = letterBytes(h, `dlq:${writer.idPrefix}:1`);
  const most = mostLetterBytes(writer.maxPayload, limits, subject);
  if (least > most) {
    throw new OnexError(
      ErrorCode.StreamFull,
      `the dead-letter stream for ${subject} cannot hold any letter of this subscription (the smallest, without a body, is ${least} bytes; at most ${most} fit), so every message it rejects would be kept and handed back until the stream is raised: raise its max_bytes with ${RAISE_LETTER_BYTES}`,
      { subject, letterBytes: least, mostBytes: most },
    );
  }
}

/** A letter's bytes without its body: its headers, and the id's, which the client adds. */
function letterBytes(h: MsgHdrs, msgID: string): number {
  return headerBytes(h) + Buffer.byteLength(`Nats-Msg-Id: ${msgID}\r\n`);
}

/**
 * The most bytes of headers and body a letter to `subject` may have: the server's max_payload,
 * the stream's max_msg_size, and its max_bytes less what storing the letter adds (with discard
 * old, a letter larger than the stream is acknowledged and dropped at once).
 */
function mostLetterBytes(maxPayload: number, limits: LetterLimits, subject: string): number {
  let most = Math.min(maxPayload, limits.maxMsgSize ?? Number.POSITIVE_INFINITY);
  if (limits.maxBytes !== undefined) most = Math.min(most, limits.maxBytes - STORED_RECORD_BYTES - Buffer.byteLength(subject));
  return most;
}

/** The encoded size of a header block: `NATS/1.0\r\n`, `Key: Value\r\n` each, `\r\n`. */
function headerBytes(h: MsgHdrs): number {
  let bytes = 12;
  for (const [key, values] of h) for (const value of values) bytes += Buffer.byteLength(key) + Buffer.byteLength(value) + 4;
  return bytes;
}

/** `text` cut to at most `max` UTF-8 bytes, never inside a character. */
function cutUtf8(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    bytes += Buffer.byteLength(ch);
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

/** `sha256:<hex>` of a body. */
export function digestOf(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The dead-letter streams on the server: `ONEX_DLQ`, and one per zone in a zoned deployment. */
export async function deadLetterStreams(jsm: JetStreamManager): Promise<string[]> {
  const names = await withRetry(async () => {
    const found: string[] = [];
    for await (const name of jsm.streams.names(DEAD_LETTER_SUBJECTS)) found.push(name);
    return found;
  }).catch((error: unknown) => {
    throw jetStreamFailure(error, "listing the dead-letter streams", {});
  });
  if (names.length === 0) throw new OnexError(ErrorCode.NoStream, `there is no dead-letter stream; ${APPLY_STREAMS}`, {});
  return names.sort();
}

/** The dead-letter stream that holds the letters of `zone` (undefined: of unscoped subscriptions); ONEX_E_USAGE for a zone no message can name. */
export async function deadLetterStreamOf(jsm: JetStreamManager, zone: string | undefined): Promise<string> {
  if (zone !== undefined) assertZoneId(zone, "deadLetterStreamOf");
  const subject = deadLetterSubject(zone, "_", "_");
  return lookUpStream(
    () => jsm.streams.find(subject),
    (cause) => new OnexError(ErrorCode.NoStream, `no dead-letter stream holds ${subject}; ${APPLY_STREAMS}`, { subject }, { cause }),
    `finding the dead-letter stream of ${subject}`,
    { subject },
  );
}

/** Which letters to read: one zone's, one stream's, or (neither given) every dead-letter stream's. */
export interface LetterQuery {
  zone?: string;
  stream?: string;
  /** A dead-letter stream sequence, a whole number (0 or 1: the first letter). */
  fromSequence?: number;
  /** At most this many per stream, a whole number of at least 1 (Infinity, or left out: no limit). */
  limit?: number;
  /** Only letters with this reason code (`ONEX_E_SIGNATURE_INVALID`); `limit` counts only these. */
  reason?: string;
}

/**
 * How many letters are asked for ahead of the one in hand: reading a letter is a round trip,
 * and 100,000 of them one after another took 26 s. Also the most a reading holds in memory.
 */
const READ_AHEAD = 32;

/**
 * The dead letters in sequence order per stream, optionally from a sequence, of one reason, and
 * at most `limit` per stream, yielded as they are read: a caller printing them holds a few at a
 * time, however many the stream keeps (`onex dlq list --limit 100000` held every letter until the
 * last was read: 257 MiB of a 100,000-letter stream, and as much more per letter as its body).
 * ONEX_E_USAGE for a sequence or limit that is no whole number, or a zone no message can name.
 */
export async function* readDeadLetters(jsm: JetStreamManager, query: LetterQuery = {}): AsyncGenerator<DeadLetter> {
  // null (from plain JavaScript) was a raw TypeError: a default parameter replaces only undefined.
  checkObject("listDeadLetters", "query", query);
  // A sequence of NaN listed nothing (no sequence is at least NaN), as did a limit of NaN; 0 keeps its meaning, the first letter.
  checkWhole("listDeadLetters", "fromSequence", query.fromSequence, { min: 0 });
  checkWhole("listDeadLetters", "limit", query.limit, { infinity: true });
  // One that is no name ("a.b") was refused by nats.js, and reported as ONEX_E_CONNECTION.
  if (query.stream !== undefined) checkStreamName("listDeadLetters", "stream", query.stream);
  if (query.reason !== undefined && typeof query.reason !== "string") throw new OnexError(ErrorCode.Usage, `listDeadLetters: reason must be a reason code, not ${describeValue(query.reason)}`);
  // A zone no message can name has no letters, yet its subject falls under the one ONEX_DLQ of a
  // deployment without zones: its listing was every zone's letters. Checked with a stream named too.
  if (query.zone !== undefined) assertZoneId(query.zone, "listDeadLetters");
  const streams = query.stream !== undefined ? [query.stream] : query.zone !== undefined ? [await deadLetterStreamOf(jsm, query.zone)] : await deadLetterStreams(jsm);
  for (const stream of streams) {
    const info = await lookUpStream(
      () => jsm.streams.info(stream),
      (cause) => new OnexError(ErrorCode.NoStream, `the dead-letter stream ${stream} does not exist; ${APPLY_STREAMS}`, { stream }, { cause }),
      `reading ${stream}`,
      { stream },
    );
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    let taken = 0;
    // At least 1: an empty stream's first and last sequences are 0, and a read of sequence 0 is a bad request.
    for await (const stored of storedInOrder(jsm, stream, Math.max(1, query.fromSequence ?? 1, info.state.first_seq), info.state.last_seq)) {
      const letter = letterOf(stream, stored);
      if (query.reason !== undefined && letter.reason !== query.reason) continue;
      yield letter;
      if (++taken >= limit) break;
    }
  }
}

/** readDeadLetters, gathered into an array: for a caller that wants a few letters at once. */
export async function listDeadLetters(jsm: JetStreamManager, query: LetterQuery = {}): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  for await (const letter of readDeadLetters(jsm, query)) out.push(letter);
  return out;
}

/**
 * The messages stored from `from` to `last`, in order, with up to READ_AHEAD reads in flight.
 * Read one by one (each a `STREAM.MSG.GET`, which an operator's permissions allow), not by a
 * consumer: a listing must not need the right to make consumers on the dead-letter stream.
 */
async function* storedInOrder(jsm: JetStreamManager, stream: string, from: number, last: number): AsyncGenerator<StoredMsg> {
  const ahead: Promise<StoredMsg | null>[] = [];
  let next = from;
  for (;;) {
    while (ahead.length < READ_AHEAD && next <= last) {
      const read = storedMessage(jsm, stream, next++);
      // Awaited in turn below; one left behind when the caller stops early must not count as unhandled.
      read.catch(() => undefined);
      ahead.push(read);
    }
    const read = ahead.shift();
    if (read === undefined) return;
    const stored = await read;
    if (stored) yield stored;
  }
}

/** One dead letter by its sequence in `ONEX_DLQ`, or in the dead-letter stream of `zone`; ONEX_E_NOT_FOUND when there is none, ONEX_E_USAGE for a sequence that is no whole number from 1 or a zone no message can name. */
export async function getDeadLetter(jsm: JetStreamManager, sequence: number, zone?: string): Promise<DeadLetter> {
  // The server answers 0 with "bad request" and a fraction with "invalid JSON", which read as a failed connection.
  checkWhole("getDeadLetter", "sequence", sequence);
  // As in readDeadLetters: under the one ONEX_DLQ, such a zone read another zone's letter.
  if (zone !== undefined) assertZoneId(zone, "getDeadLetter");
  const stream = await deadLetterStreamOf(jsm, zone);
  const stored = await storedMessage(jsm, stream, sequence);
  if (!stored) throw new OnexError(ErrorCode.NotFound, `no dead letter with sequence ${sequence} in ${stream}`, { sequence, stream });
  return letterOf(stream, stored);
}

/**
 * A stored message of a dead-letter stream as a letter. Its headers are the writer's word, and a
 * member may write letters: whatever they hold, this reads them, and a count or sequence that is
 * no whole number reads as 0 (unknown), as a missing one does.
 */
export function letterOf(deadLetterStream: string, stored: Pick<StoredMsg, "seq" | "subject" | "time" | "data" | "header">): DeadLetter {
  // A member writes letters under its zone's prefix, so a letter's headers may be unreadable too: then it has none.
  const headers = headerRecord(readableHeaders(() => stored.header) ?? undefined);
  const truncated = headers[OnexHeader.DlqTruncated];
  return {
    deadLetterStream,
    sequence: stored.seq,
    reason: headers[OnexHeader.DlqReason] ?? "",
    message: headers[OnexHeader.DlqMessage] ?? "",
    letterSubject: stored.subject,
    writerZone: writerZoneOf(stored.subject),
    stream: headers[OnexHeader.DlqStream] ?? "",
    consumer: headers[OnexHeader.DlqConsumer] ?? stored.subject.split(".").slice(4).join("."),
    subject: headers[OnexHeader.DlqSubject] ?? "",
    originalSequence: wholeNumberOf(headers[OnexHeader.DlqSequence]),
    deliveries: wholeNumberOf(headers[OnexHeader.DlqDeliveries]),
    time: stored.time.toISOString(),
    data: stored.data,
    ...(truncated !== undefined ? { truncatedFrom: wholeNumberOf(truncated), digest: headers[OnexHeader.DlqDigest] ?? "" } : {}),
    headers,
  };
}

/**
 * Whether a dead-letter stream holds this message under a letter's subject,
 * `onex.dlq.<zone>.<stream>.<consumer>`. One stored under another subject was not published as
 * a letter: JetStream delivered a stored message of the account to a pull request's reply
 * subject, and the stream kept it under the subject it had. Whoever made that request chose its
 * headers, and no zone token vouches for it.
 */
export function isLetterSubject(subject: string): boolean {
  return subject.startsWith(LETTER_PREFIX) && subject.split(".").length >= 5;
}

/** The zone token of a letter's subject, as the server checked it; "" for a subject no letter is written under. */
export function letterZoneToken(letterSubject: string): string {
  return isLetterSubject(letterSubject) ? letterSubject.split(".")[2]! : "";
}

/** The zone in a letter's subject, for display (a token onex never writes is shown as it is). */
function writerZoneOf(letterSubject: string): string | undefined {
  if (!isLetterSubject(letterSubject)) return "";
  const zoneToken = letterZoneToken(letterSubject);
  if (zoneToken === UNSCOPED_LETTER_ZONE) return undefined;
  try {
    return decodeSubjectToken(zoneToken, "zone");
  } catch {
    return zoneToken;
  }
}

/**
 * A header's whole number as onex writes it (decimal digits, at most 2^53 - 1), or 0 when it is
 * none: Number() read "abc" as NaN (`dlq list --json` printed null), "-1" and "1.5" as
 * themselves, "0x10" as 16 and 20 digits as a number no sequence is.
 */
function wholeNumberOf(value: string | undefined): number {
  const n = value !== undefined && /^\d{1,16}$/.test(value) ? Number(value) : 0;
  return Number.isSafeInteger(n) ? n : 0;
}

function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of h ?? []) out[key] = values[values.length - 1] ?? "";
  return out;
}

function token(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_") || "_";
}
