/**
 * Telling a NATS server that runs without JetStream from a JetStream without the stream asked
 * for. Both answer a publish on a stream subject with "no responders", which read as
 * ONEX_E_NO_STREAM: the caller was sent to apply the streams, which cannot be done on such a
 * server, and a subscription waited out a 30 s retry before it said "jetstream is not enabled"
 * as a stream configuration the server refused (ONEX_E_STREAM_CONFIG).
 *
 * The server says in its INFO whether it runs JetStream itself. One that does not may still reach
 * one (a leaf node, or a server of a cluster whose other servers run it), so JetStream's API is
 * asked: no responders there either, and nothing this connection reaches runs JetStream.
 * Asked only when the server's INFO says it runs none (a zone member, whose account has none of
 * its own and which may not ask the API, is on a server that runs it), and never taken from one
 * answer: such a server whose link to JetStream is down a moment (a leaf node's hub restarting,
 * a route) answers so too. A publish asks once its retries are spent; a subscription, as it opens,
 * asks again through the window its other requests are retried for.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError } from "../errors.js";

/** How long JetStream's API is given to answer; a server that runs it answers in a round trip. */
const ASK_TIMEOUT_MS = 2_000;

/** How long a subscription asks before it takes JetStream for absent: as long as its requests are retried (with-retry.ts). */
const ABSENT_FOR_MS = 30_000;

/** Whether nothing `nc` reaches runs JetStream: its server says it runs none, and JetStream's API has no responders. */
export async function jetStreamAbsent(nc: NatsConnection): Promise<boolean> {
  if (nc.info?.jetstream === true) return false;
  try {
    if (nc.isClosed()) return false;
    await nc.request("$JS.API.INFO", undefined, { timeout: ASK_TIMEOUT_MS });
    return false;
  } catch (error) {
    // An answer that is an error (no JetStream for this account) is JetStream answering; a
    // timeout or a permission violation says nothing either way.
    return isNoResponders(error);
  }
}

/** Whether nothing `nc` reaches runs JetStream, asked again every 250 ms while it stays so, until `forMs` passed. */
export async function jetStreamAbsentThroughout(nc: NatsConnection, forMs = ABSENT_FOR_MS): Promise<boolean> {
  const deadline = Date.now() + forMs;
  for (;;) {
    if (!(await jetStreamAbsent(nc))) return false;
    if (Date.now() >= deadline) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** nats.js's "no responders": its NoRespondersError, alone or as a RequestError's cause. */
function isNoResponders(error: unknown): boolean {
  const e = error as { name?: unknown; cause?: { name?: unknown } } | null | undefined;
  return e?.name === "NoResponders" || e?.name === "NoRespondersError" || (e?.name === "RequestError" && (e.cause?.name === "NoResponders" || e.cause?.name === "NoRespondersError"));
}

/**
 * ONEX_E_CONNECTION for `doing` on a connection nothing of which runs JetStream (as the CLI
 * reports a server without JetStream): no stream is missing, and applying the streams cannot mend it.
 */
export function noJetStream(nc: NatsConnection, doing: string, details: Record<string, unknown>, cause?: unknown): OnexError {
  // host:port only, never the address given (which may hold a password).
  const server = nc.getServer();
  return new OnexError(
    ErrorCode.ConnectionFailed,
    `${doing}: the NATS server ${server} runs without JetStream, and nothing it reaches answered JetStream's API; onex's streams live in JetStream: start nats-server with -js (or a jetstream block in its configuration), or connect to a server that runs it (on a leaf node or a server of a cluster, check its link to the servers that run JetStream)`,
    { ...details, server, reason: "no-jetstream" },
    cause === undefined ? undefined : { cause },
  );
}
