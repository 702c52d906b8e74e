/**
 * The limits of the dead-letter stream a letter goes to, which the letter must fit beside the
 * server's max_payload: its `max_msg_size` (a larger letter is refused) and its `max_bytes`
 * (with discard old, a letter larger than the whole stream is stored, acknowledged and dropped
 * at once, so the message it was written for was acknowledged and gone without a trace).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";

/** A dead-letter stream's size limits; left out, none. */
export interface LetterLimits {
  maxBytes?: number;
  maxMsgSize?: number;
}

/** The limits for a letter to `subject`, as they are when it is written. */
export type LetterLimitsReader = (subject: string) => Promise<LetterLimits>;

/**
 * Reads the dead-letter stream's limits for each letter: an operator may lower them at any
 * time (`onex streams apply --dlq-max-bytes`), and nats-server says nothing to a writer whose
 * letter was stored and dropped, so limits remembered from before would lose letters silently.
 * Letters are the exception, not the traffic, and the read is one `STREAM.LIST` request for
 * the stream holding the letter's subject as it is then: a stream name kept from an earlier
 * read went on naming a stream that no longer held the subject once the letters were moved to
 * another (a zone's own), whose limits were then never read. Letters written at once (a flood
 * of forgeries) share the read in flight. A writer not permitted to read the stream (a zone's
 * member: only admins may use the JetStream API on dead-letter streams) has only max_payload
 * to go by, until a letter is refused and it tries again (`refused`). Any other failure to
 * read, or no stream holding the subject, fails the letter, which is then handled as one the
 * stream refused. One per subscription, whose letters share a subject; what the writer is not
 * permitted is known to every subscription of its client.
 */
export function letterLimitsReader(jsm: JetStreamManager): { read: LetterLimitsReader; refused: () => void } {
  let reading: Promise<LetterLimits> | undefined;
  const readNow = async (subject: string): Promise<LetterLimits> => {
    try {
      // Filtered by the subject, the list holds the one stream that stores the letter, if any.
      for await (const { config } of jsm.streams.list(subject)) {
        return { ...(config.max_bytes > 0 ? { maxBytes: config.max_bytes } : {}), ...(config.max_msg_size > 0 ? { maxMsgSize: config.max_msg_size } : {}) };
      }
    } catch (error) {
      if (!isPermissionViolation(error)) throw error;
      notPermitted.add(jsm);
      return {};
    }
    throw new OnexError(ErrorCode.NoStream, `no stream holds ${subject}`, { subject });
  };
  return {
    read: (subject) => {
      if (notPermitted.has(jsm)) return Promise.resolve({});
      reading ??= readNow(subject).finally(() => (reading = undefined));
      return reading;
    },
    refused: () => {
      notPermitted.delete(jsm);
    },
  };
}

/**
 * The managers (one per client) whose connection may not read the dead-letter streams' limits,
 * shared by their subscriptions: each asks as it opens, and a zone member's every subscription
 * was one more refused request, a permissions violation in the server's log, where an operator
 * looks for an attacker's.
 */
const notPermitted = new WeakSet<JetStreamManager>();

/**
 * nats.js reports a request the connection may not publish as a RequestError caused by a
 * PermissionViolationError. By its name only: any failure whose text said "permission" taken
 * for one made a writer that may read the limits go by max_payload alone from then on.
 */
function isPermissionViolation(error: unknown): boolean {
  const e = error as { name?: unknown; cause?: unknown } | null | undefined;
  return e?.name === "PermissionViolationError" || (e?.cause as { name?: unknown } | undefined)?.name === "PermissionViolationError";
}
