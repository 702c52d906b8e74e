/**
 * A warning told from where nothing awaits the caller: a loop of its own over the connection's
 * statuses, or an event listener of the etcd client. What the owner's logger throws there was an
 * unhandled rejection (which ends a Node process) or an exception inside the etcd client's watch
 * manager; it is dropped, and the line goes to console.warn instead, so it is not lost.
 */
export function warnUnawaited(logger: { warn(message: string, details?: Record<string, unknown>): void }, message: string, details?: Record<string, unknown>): void {
  try {
    logger.warn(message, details);
  } catch {
    console.warn(message);
  }
}
