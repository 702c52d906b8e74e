/**
 * JetStream requests retried through what passes by itself: a cluster electing a new stream
 * leader, or a server restarting, answers nothing (or "no responders") for a few seconds.
 */
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";

/**
 * What a JetStream request that went unanswered says: a server restarting, or a stream or
 * cluster electing its leader (nats-server: "JetStream system temporarily unavailable" while
 * the cluster has no meta leader, "stream is offline" while a stream's peers are away).
 */
export const UNANSWERED = /timeout|no responders|jetstream is not enabled|leader|temporarily unavailable|is offline/i;

/**
 * Whether `error` says a request went unanswered (UNANSWERED). Never a permission violation,
 * whatever its words: its message names the subject, and a durable consumer named
 * "timeout-watch" or "leader" that the connection may not create was retried for 30 s.
 */
export function wentUnanswered(error: unknown): boolean {
  const e = error as { name?: unknown; cause?: unknown; message?: unknown } | null | undefined;
  // nats.js's request reports a violation as a RequestError whose cause is the PermissionViolationError.
  if (e?.name === "PermissionViolationError" || (e?.cause as { name?: unknown } | undefined)?.name === "PermissionViolationError") return false;
  return UNANSWERED.test(String(e?.message ?? ""));
}

/**
 * How long an unanswered request is retried. nats-server's Raft followers wait 4–9 s for a lost
 * leader before they campaign, a split vote starts another such round, and a stream elects its
 * own leader once the cluster has one: 15 s was outlasted by a cluster regaining quorum on a
 * loaded 2-core host.
 */
const RETRY_WINDOW_MS = 30_000;

/**
 * While a cluster elects a new stream leader (or a server restarts), JetStream requests time out
 * for a few seconds; those are retried, for RETRY_WINDOW_MS. `retried` narrows what counts as unanswered
 * (a pattern of the error's message, or a test of the error).
 */
export async function withRetry<T>(fn: () => Promise<T>, retried: RegExp | ((error: unknown) => boolean) = wentUnanswered): Promise<T> {
  const deadline = Date.now() + RETRY_WINDOW_MS;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const unanswered = typeof retried === "function" ? retried(error) : retried.test((error as Error)?.message);
      if (unanswered && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      throw error;
    }
  }
}

/**
 * The message stored at `seq`, or null when the stream holds none there (removed, or never
 * written: the server's "no message found"). A request that goes unanswered is retried, and
 * one that still fails throws, so a leader election never passes for a missing message.
 */
export async function storedMessage(jsm: JetStreamManager, stream: string, seq: number): Promise<StoredMsg | null> {
  try {
    return await withRetry(() => jsm.streams.getMessage(stream, { seq }));
  } catch (error) {
    throw jetStreamFailure(error, `reading ${stream}#${seq}`, { stream, sequence: seq });
  }
}

/**
 * A stream looked up (its info, the stream holding a subject), retried through an election.
 * Only the server's "no such stream" is `missing`; a lookup that is not permitted or goes
 * unanswered is jetStreamFailure's, so neither is mistaken for a stream to create.
 */
export async function lookUpStream<T>(lookup: () => Promise<T>, missing: (cause: unknown) => OnexError, doing: string, details: Record<string, unknown>): Promise<T> {
  try {
    return await withRetry(lookup);
  } catch (error) {
    if (/stream not found|no stream matches subject/i.test((error as Error)?.message ?? "")) throw missing(error);
    throw jetStreamFailure(error, doing, details);
  }
}

/** A JetStream request's failure as an OnexError: not permitted, no such stream, or no answer; a TypeError is a fault of the code, not of the connection. */
export function jetStreamFailure(error: unknown, doing: string, details: Record<string, unknown>): OnexError {
  const text = (error as Error)?.message ?? String(error);
  // A TypeError ("name.indexOf is not a function") is no server's answer: called ONEX_E_CONNECTION,
  // it read as something a retry could mend. Network failures reach here as nats.js's errors.
  if (error instanceof TypeError) return new OnexError(ErrorCode.Internal, `${doing} failed: ${text}`, details, { cause: error });
  if (/permission/i.test(text)) return new OnexError(ErrorCode.PermissionDenied, `${doing} is not permitted: ${text}`, details, { cause: error });
  if (/stream not found/i.test(text)) return new OnexError(ErrorCode.NoStream, `${doing} failed, the stream is gone: ${text}`, details, { cause: error });
  return new OnexError(ErrorCode.ConnectionFailed, `${doing} failed: ${text}`, details, { cause: error });
}
