/**
 * How long stop() and close() wait on a server that is connected but answers nothing (stalled,
 * or cut off by a network partition that has not reset the socket yet). nats.js notices such a
 * connection only after its pings go unanswered, minutes later; a service shutting down on
 * SIGTERM, with an orchestrator's grace period of some 30 s, must not wait for that. A server
 * that answers at all ends a pull within its 1 s expiry and a flush or drain within a round trip.
 */
export const SILENT_SERVER_MS = 5_000;

/** Whether `promise` settled within `ms` (its rejection counts as settled and is swallowed). */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
