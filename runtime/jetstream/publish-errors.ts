/** Turning JetStream publish failures into onex errors a caller can act on. */
import { JetStreamApiCodes } from "@nats-io/jetstream";
import { ErrorCode, OnexError } from "../errors.js";
import { APPLY_STREAMS } from "./apply-advice.js";

/**
 * What went wrong with a publish, read from the kind of error nats.js throws (its classes'
 * names, which ReplyInbox's errors share) and the server's JetStream error code — never from
 * the message text, which names the subject: a permission violation on a subject holding
 * "503" read as a missing stream, and a closed connection as a timeout worth retrying.
 */
type PublishFailure = "unanswered" | "no-stream" | "denied" | "closed" | "full" | "refused";

/** The server's descriptions of a stream at its limits (nats-server answers these with one error code, 10077, for every store failure). */
const FULL = /maximum (messages|bytes|messages per subject) exceeded|stream store full|insufficient resources|resource limits exceeded/i;

function failureOf(error: unknown): PublishFailure {
  const e = (typeof error === "object" && error !== null ? error : {}) as { name?: unknown; cause?: unknown; code?: unknown; errCode?: unknown; message?: unknown };
  switch (e.name) {
    // nats.js's request wraps what happened (no responders, a permission violation) as the cause of a RequestError.
    // A request the connection's close cut short is one without a cause, "connection closed" (nats.js's own words).
    case "RequestError":
      if (e.cause !== undefined) return failureOf(e.cause);
      return e.message === "connection closed" ? "closed" : "refused";
    case "TimeoutError":
      return "unanswered";
    case "NoResponders": // nats.js's NoRespondersError
    case "JetStreamNotEnabled": // what js.publish makes of no responders
      return "no-stream";
    case "PermissionViolationError":
      return "denied";
    case "ClosedConnectionError":
    case "DrainingConnectionError":
      return "closed";
  }
  // The stream's own refusal: js.publish's JetStreamApiError (`code` is the JetStream code), publishToStream's Error (`errCode`).
  const apiCode = e.name === "JetStreamApiError" || e.name === "StreamNotFoundError" ? e.code : e.errCode;
  if (apiCode === JetStreamApiCodes.StreamNotFound || apiCode === JetStreamApiCodes.JetStreamNotEnabledForAccount) return "no-stream";
  if (typeof apiCode === "number" && FULL.test(String(e.message))) return "full";
  return "refused";
}

/** Maps a failure of a JetStream publish (publishToStream, nats.js's `js.publish`) to a typed OnexError. */
export function publishError(error: unknown, subject: string, id: string): OnexError {
  if (error instanceof OnexError) return error;
  const message = (error as Error)?.message ?? String(error);
  const details = { subject, messageId: id };
  switch (failureOf(error)) {
    case "full":
      return new OnexError(ErrorCode.StreamFull, `the stream refused message ${id}: ${message}`, details, { cause: error });
    case "no-stream":
      return new OnexError(ErrorCode.NoStream, `no stream accepts subject ${subject}; ${APPLY_STREAMS}`, details, { cause: error });
    case "denied":
      return new OnexError(ErrorCode.PermissionDenied, `not permitted to publish on ${subject}: ${message}`, details, { cause: error });
    case "unanswered":
      return new OnexError(ErrorCode.PublishTimeout, `no acknowledgement for message ${id}: ${message}`, details, { cause: error });
    case "closed":
      return new OnexError(ErrorCode.ConnectionFailed, `message ${id} was not published: the NATS connection is closed (${message}); connect again`, details, { cause: error });
    case "refused":
      return new OnexError(ErrorCode.PublishFailed, `publishing message ${id} failed: ${message}`, details, { cause: error });
  }
}

/** True for a publish that got no answer in time (nats.js's TimeoutError), the one failure a retry with the same id may get past. */
export function isUnanswered(error: unknown): boolean {
  return failureOf(error) === "unanswered";
}

/** True for failures worth retrying with the same message id (the server de-duplicates). */
export function isRetryable(error: OnexError): boolean {
  return error.code === ErrorCode.PublishTimeout || error.code === ErrorCode.NoStream;
}
