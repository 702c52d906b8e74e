/**
 * Reading a stream's history from a sequence or a time, without a durable consumer and
 * without acknowledging anything: what `onex replay` prints.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";
import { checkObject, checkStreamName, checkTime, checkWhole, describeValue } from "../option-check.js";
import { OnexHeader, readableHeaders } from "./headers.js";
import { readStored } from "./stored-reader.js";
import { lookUpStream } from "./with-retry.js";

/** One stored message. */
export interface HistoryEntry {
  sequence: number;
  subject: string;
  time: string;
  type: string | undefined;
  data: Uint8Array;
}

/** Where to start and what to keep. */
export interface HistoryOptions {
  /** A stream sequence, a whole number (0 or 1: the first message). */
  fromSequence?: number;
  fromTime?: Date;
  /** Only messages of this type (the body's; a header may say anything). */
  type?: string;
  /** At most this many, a whole number of at least 1 (Infinity, or left out: no limit). */
  limit?: number;
}

/** Yields the stream's messages from the start point up to the last one stored when called; ONEX_E_USAGE for a stream that is no stream name, a sequence or limit that is no whole number, or a fromTime that is no valid Date from 0000 to 9999. */
export async function* readHistory(js: JetStreamClient, jsm: JetStreamManager, stream: string, options: HistoryOptions): AsyncGenerator<HistoryEntry> {
  // Before the stream is asked: a limit of 0 yielded one message, and a sequence of NaN was sent
  // to the server and came back as ONEX_E_CONNECTION. 0 keeps its meaning, the first message.
  // From plain JavaScript: null was a raw TypeError, a fromTime that is no valid Date a raw RangeError
  // or TypeError, and a type that is no string matched nothing, so the history read empty.
  // A stream of 5 or null was a raw TypeError inside nats.js, and one of "a.b" nats.js's refusal:
  // both were reported as ONEX_E_CONNECTION. A fromTime past the year 9999 went to the server as
  // "+010000-…", which it refused as invalid JSON (ONEX_E_CONNECTION too).
  checkStreamName("readHistory", "stream", stream);
  checkObject("readHistory", "options", options, { required: true });
  if (options.fromTime !== undefined) checkTime("readHistory", "fromTime", options.fromTime);
  if (options.type !== undefined && typeof options.type !== "string") throw new OnexError(ErrorCode.Usage, `readHistory: type must be a message type name, not ${describeValue(options.type)}`);
  checkWhole("readHistory", "fromSequence", options.fromSequence, { min: 0 });
  checkWhole("readHistory", "limit", options.limit, { infinity: true });
  const info = await lookUpStream(() => jsm.streams.info(stream), (cause) => new OnexError(ErrorCode.NoStream, `stream ${stream} does not exist`, { stream }, { cause }), `reading ${stream}`, { stream });
  const last = info.state.last_seq;
  if (info.state.messages === 0 || (options.fromSequence ?? 0) > last) return;
  const from = options.fromTime !== undefined ? { time: options.fromTime } : { sequence: Math.max(1, options.fromSequence ?? 1) };
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let count = 0;
  for await (const msg of readStored(js, jsm, stream, { from, upTo: last, averageBytes: info.state.bytes / info.state.messages })) {
    // The body's type, which its signature covers; the header only when the body has none.
    const type = bodyType(msg.data) ?? (readableHeaders(() => msg.headers)?.get(OnexHeader.Type) || undefined);
    if (options.type !== undefined && type !== options.type) continue;
    yield { sequence: msg.seq, subject: msg.subject, time: new Date(msg.info.timestampNanos / 1_000_000).toISOString(), type, data: msg.data };
    if (++count >= limit) return;
  }
}

/** The `type` of a stored message's body, when the body is a JSON object with a string one; read without judging it. */
export function bodyType(data: Uint8Array): string | undefined {
  const type = bodyOf(data)?.type;
  return typeof type === "string" ? type : undefined;
}

/** A stored message's body as a JSON object, or undefined when it is none. */
export function bodyOf(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return body !== null && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
