/** A JetStream publish on a reply inbox: the message (with its id as `Nats-Msg-Id` when it has one), and the stream's acknowledgement read. */
import type { MsgHdrs } from "@nats-io/transport-node";
import type { ReplyInbox } from "./reply-inbox.js";

/** What the stream answered: where the message is stored, and whether it already was (the same id within the stream's duplicate window). */
export interface StreamAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

const utf8 = new TextDecoder();

/**
 * Publishes `bytes` on `subject` and resolves with the stream's acknowledgement. A refusal
 * rejects with the server's own description ("maximum messages exceeded", "wrong last
 * sequence"), as nats.js's `js.publish` does, so `publishError` types it, and its JetStream
 * error code as `errCode` (10071: a compare-and-set's expected sequence is not the last).
 */
export async function publishToStream(inbox: ReplyInbox, subject: string, bytes: Uint8Array, headers: MsgHdrs, timeoutMs: number, messageId?: string): Promise<StreamAck> {
  if (messageId !== undefined) headers.set("Nats-Msg-Id", messageId);
  const reply = await inbox.request(subject, bytes, headers, timeoutMs);
  const ack = JSON.parse(utf8.decode(reply.data)) as { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: number; err_code?: number; description?: string } };
  if (ack.error !== undefined) {
    throw Object.assign(new Error(ack.error.description ?? `the stream refused the message (${String(ack.error.code)})`), { code: ack.error.code, errCode: ack.error.err_code });
  }
  if (typeof ack.stream !== "string" || ack.stream === "" || typeof ack.seq !== "number") throw new Error(`invalid ack response: ${utf8.decode(reply.data).slice(0, 200)}`);
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
}
