/**
 * Reading a stream's history from a sequence or a time, without a durable consumer and
 * without acknowledging anything: what `onex replay` prints.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";
import { OnexHeader } from "./headers.js";

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
  fromSequence?: number;
  fromTime?: Date;
  /** Only messages of this type (the body's; a header may say anything). */
  type?: string;
  limit?: number;
}

/** Yields the stream's messages from the start point up to the last one stored when called. */
export async function* readHistory(js: JetStreamClient, jsm: JetStreamManager, stream: string, options: HistoryOptions): AsyncGenerator<HistoryEntry> {
  const info = await jsm.streams.info(stream).catch((cause: unknown) => {
    throw new OnexError(ErrorCode.NoStream, `stream ${stream} does not exist`, { stream }, { cause });
  });
  const last = info.state.last_seq;
  if (info.state.messages === 0 || (options.fromSequence ?? 0) > last) return;
  const start =
    options.fromTime !== undefined
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: options.fromTime.toISOString() }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, options.fromSequence ?? 1) };
  const consumer = await js.consumers.get(stream, start);
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let count = 0;
  const messages = await consumer.consume();
  try {
    for await (const msg of messages) {
      if (msg.seq > last) break;
      // The body's type, which its signature covers; the header only when the body has none.
      const type = bodyType(msg.data) ?? (msg.headers?.get(OnexHeader.Type) || undefined);
      if (options.type === undefined || type === options.type) {
        yield { sequence: msg.seq, subject: msg.subject, time: new Date(msg.info.timestampNanos / 1_000_000).toISOString(), type, data: msg.data };
        if (++count >= limit) break;
      }
      if (msg.seq >= last || msg.info.pending === 0) break;
    }
  } finally {
    await messages.close();
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
