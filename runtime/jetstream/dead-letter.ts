/**
 * The dead-letter stream: messages that cannot be parsed, fail verification or policy, or
 * whose handler gave up `max_deliver` times, kept with why, where from and how often tried.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager, JsMsg, StoredMsg } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";
import { OnexHeader } from "./headers.js";
import { DEAD_LETTER_STREAM } from "./streams.js";

/** A dead-lettered message as `onex dlq` shows it. */
export interface DeadLetter {
  /** Sequence in the dead-letter stream. */
  sequence: number;
  reason: string;
  message: string;
  stream: string;
  consumer: string;
  subject: string;
  originalSequence: number;
  deliveries: number;
  time: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** Moves a delivered message to the dead-letter stream with the reason; the caller then terms it. */
export async function deadLetter(js: JetStreamClient, msg: JsMsg, consumer: string, reason: OnexError): Promise<void> {
  const h = natsHeaders();
  for (const [key, values] of msg.headers ?? []) for (const value of values) h.append(key, value);
  h.set(OnexHeader.DlqReason, reason.code);
  h.set(OnexHeader.DlqMessage, reason.message.slice(0, 1024).replace(/[\r\n]+/g, " "));
  h.set(OnexHeader.DlqStream, msg.info.stream);
  h.set(OnexHeader.DlqConsumer, consumer);
  h.set(OnexHeader.DlqSubject, msg.subject);
  h.set(OnexHeader.DlqSequence, String(msg.info.streamSequence));
  h.set(OnexHeader.DlqDeliveries, String(msg.info.deliveryCount));
  // The original's own id would be de-duplicated against it; the dead letter gets its own.
  h.delete("Nats-Msg-Id");
  await js.publish(`onex.dlq.${token(msg.info.stream)}.${token(consumer)}`, msg.data, {
    headers: h,
    msgID: `dlq:${msg.info.stream}:${msg.info.streamSequence}:${consumer}`,
  });
}

function token(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_") || "_";
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

/**
 * Publishes a dead letter again on its original subject, as a fresh delivery (the
 * de-duplication id is new, the message itself is unchanged), and returns its new sequence.
 */
export async function replayDeadLetter(js: JetStreamClient, letter: DeadLetter): Promise<number> {
  const h = natsHeaders();
  for (const [key, value] of Object.entries(letter.headers)) if (!key.startsWith("Onex-Dlq-") && key !== "Nats-Msg-Id") h.set(key, value);
  const ack = await js.publish(letter.subject, letter.data, { headers: h, msgID: `replay:${letter.sequence}:${Date.now()}` });
  return ack.seq;
}

function fromStored(stored: StoredMsg): DeadLetter {
  const headers = headerRecord(stored.header);
  return {
    sequence: stored.seq,
    reason: headers[OnexHeader.DlqReason] ?? "",
    message: headers[OnexHeader.DlqMessage] ?? "",
    stream: headers[OnexHeader.DlqStream] ?? "",
    consumer: headers[OnexHeader.DlqConsumer] ?? "",
    subject: headers[OnexHeader.DlqSubject] ?? "",
    originalSequence: Number(headers[OnexHeader.DlqSequence] ?? 0),
    deliveries: Number(headers[OnexHeader.DlqDeliveries] ?? 0),
    time: stored.time.toISOString(),
    data: stored.data,
    headers,
  };
}

function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of h ?? []) out[key] = values[values.length - 1] ?? "";
  return out;
}
