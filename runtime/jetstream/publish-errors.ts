/** Turning JetStream publish failures into onex errors a caller can act on. */
import { ErrorCode, OnexError } from "../errors.js";

/** Maps a failure of a JetStream publish (publishToStream, nats.js's `js.publish`) to a typed OnexError. */
export function publishError(error: unknown, subject: string, id: string): OnexError {
  if (error instanceof OnexError) return error;
  const message = (error as Error)?.message ?? String(error);
  const details = { subject, messageId: id };
  if (/maximum (messages|bytes|messages per subject) exceeded|stream store full|insufficient resources|resource limits exceeded/i.test(message)) {
    return new OnexError(ErrorCode.StreamFull, `the stream refused message ${id}: ${message}`, details, { cause: error });
  }
  // nats.js reports "jetstream is not enabled" when no stream answers on the subject.
  if (/no responders|no stream matches subject|jetstream is not enabled|503/i.test(message)) {
    return new OnexError(ErrorCode.NoStream, `no stream accepts subject ${subject}; run \`onex streams apply\``, details, { cause: error });
  }
  if (/permissions violation|authorization/i.test(message)) {
    return new OnexError(ErrorCode.PermissionDenied, `not permitted to publish on ${subject}: ${message}`, details, { cause: error });
  }
  if (/timeout|timed out|disconnect|closed|connection/i.test(message)) {
    return new OnexError(ErrorCode.PublishTimeout, `no acknowledgement for message ${id}: ${message}`, details, { cause: error });
  }
  return new OnexError(ErrorCode.PublishFailed, `publishing message ${id} failed: ${message}`, details, { cause: error });
}

/** True for failures worth retrying with the same message id (the server de-duplicates). */
export function isRetryable(error: OnexError): boolean {
  return error.code === ErrorCode.PublishTimeout || error.code === ErrorCode.NoStream;
}
