/**
 * Keeping a node registered for as long as it runs: heartbeats every third of the TTL, and
 * what a long-running node must do when they fail. A server restart or a leader change makes
 * calls fail for a few seconds (ONEX_E_REGISTRY_UNAVAILABLE); that is retried with a growing
 * delay, never longer than the heartbeat interval, so the entry is refreshed as soon as the
 * cluster answers again. An entry that lapsed anyway (an outage longer than the TTL) or was
 * removed is registered again. Only a refusal no retry can change — a newer registration of
 * the node elsewhere (ONEX_E_REPLAY), an entry the registry rejects (signature, identity,
 * zone, age, a key retired) — ends the loop, with that error. Closing the registry ends the loop as aborting
 * its signal does (it resolves): a closed registry is a shutdown, not an outage to retry.
 *
 * A store that refuses the registry's user for want of a grant (ONEX_E_REGISTRY_UNAVAILABLE with
 * `details.permission`: an etcd role without the prefixes, a NATS user without the bucket's
 * subjects) is retried too, but at the heartbeat interval, and said once, then again every five
 * minutes while it goes on, and once when it passes. No retry by itself fixes a missing grant, but
 * an operator does, without restarting any node: etcd changes a role's grants at run time (a
 * nats-server 2.9 needs a restart, docs/registry.md), and a loop that ended would leave every
 * node of a fleet unregistered after the grant came back, each to be restarted by hand. Said at every attempt (as before), it wrote a line
 * every third of the TTL per node for as long as the grant was missing, burying the one line that
 * says which grant.
 */
import { ErrorCode, isOnexError } from "../errors.js";
import type { NodeIdentityRecord, RegistryEntryRecord } from "../trust/records.js";
import type { Registry } from "./registry.js";
import { after } from "../timer.js";
import { checkObject, checkPositive, checkSignal } from "../option-check.js";

/** How `keepAlive` runs. */
export interface KeepAliveOptions {
  /** Ends the loop (resolves); so does closing the registry. */
  signal?: AbortSignal;
  /** Time between heartbeats (default: a third of the registry TTL). */
  intervalMs?: number;
  /** First retry delay after a failure, doubled each time up to the interval (default 250 ms). */
  retryDelayMs?: number;
  /** Told about every failed attempt, every repair and every recovery (default: console). */
  logger?: { warn(message: string, details?: Record<string, unknown>): void };
}

/** How often a refusal for want of permission that goes on is said again. */
const REFUSAL_REPEAT_MS = 5 * 60_000;

/**
 * Heartbeats `entry` (already registered through `registry`) until `options.signal` aborts,
 * retrying through outages and registering again after a lapse. Resolves when the signal aborts
 * or the registry is closed; rejects only with an error that retrying cannot fix.
 */
export async function keepAlive(registry: Registry, registration: { entry: RegistryEntryRecord; identity: NodeIdentityRecord }, options: KeepAliveOptions = {}): Promise<void> {
  // From plain JavaScript a null registration or options was a raw TypeError.
  checkObject("keepAlive", "options", options);
  checkSignal("keepAlive", "options.signal", options.signal);
  checkObject("keepAlive", "registration ({ entry, identity })", registration, { required: true });
  checkObject("keepAlive", "registration.entry", registration.entry, { required: true });
  checkObject("keepAlive", "registration.identity", registration.identity, { required: true });
  const address = registration.entry.address;
  const interval = options.intervalMs ?? Math.max(250, Math.floor(registry.ttlMs / 3));
  const firstRetry = options.retryDelayMs ?? 250;
  // NaN waited 0 ms: about 900 heartbeats a second, against the registry every node shares.
  checkPositive("keepAlive", "intervalMs", interval, { finite: true });
  checkPositive("keepAlive", "retryDelayMs", firstRetry, { finite: true });
  const logger = options.logger ?? console;
  // The registry's close ends the loop too: its closed connection failed every heartbeat as
  // ONEX_E_REGISTRY_UNAVAILABLE, retried once a second for ever, keeping the process alive.
  const signals = [options.signal, registry.closeSignal].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  let failures = 0;
  let wait = interval;
  // When a refusal for want of permission was last said, while refusals go on.
  let refusalSaidAt: number | undefined;
  while (!signal?.aborted) {
    await pause(wait, signal);
    if (signal?.aborted) return;
    try {
      await beat(registry, registration, logger);
      if (failures > 0) logger.warn(`onex registry: heartbeat of ${address} restored after ${failures} failed attempt${failures === 1 ? "" : "s"}`, { address, failures });
      failures = 0;
      wait = interval;
      refusalSaidAt = undefined;
    } catch (error) {
      if (signal?.aborted) return;
      if (!retryable(error)) throw error;
      failures++;
      const code = isOnexError(error) ? error.code : "error";
      const permission = refusedPermission(error);
      if (permission !== undefined) {
        // Retried sooner, a missing grant is refused sooner: at the interval, it is retried as a heartbeat would be.
        wait = interval;
        const now = Date.now();
        if (refusalSaidAt !== undefined && now - refusalSaidAt < REFUSAL_REPEAT_MS) continue;
        refusalSaidAt = now;
        logger.warn(`onex registry: heartbeat of ${address} refused for want of permission (attempt ${failures}, ${code}: ${(error as Error).message}); retrying every ${interval} ms until the grant is given, said again every ${REFUSAL_REPEAT_MS / 60_000} minutes meanwhile`, { address, failures, code, permission });
        continue;
      }
      wait = Math.min(interval, firstRetry * 2 ** (failures - 1));
      logger.warn(`onex registry: heartbeat of ${address} failed (attempt ${failures}, ${code}: ${(error as Error).message}); retrying in ${wait} ms`, { address, failures, code });
    }
  }
}

async function beat(registry: Registry, registration: { entry: RegistryEntryRecord; identity: NodeIdentityRecord }, logger: NonNullable<KeepAliveOptions["logger"]>): Promise<void> {
  try {
    await registry.heartbeat(registration.entry.address);
  } catch (error) {
    if (!isOnexError(error, ErrorCode.NotFound)) throw error;
    // The entry lapsed (an outage longer than the TTL) or was removed: the node is alive, so it says so again.
    logger.warn(`onex registry: no live entry at ${registration.entry.address} any more (${error.message}); registering again`, { address: registration.entry.address });
    await registry.register(registration.entry, registration.identity);
  }
}

/** The grant a store refused the registry's user for want of (`details.permission`, as the etcd and NATS KV adapters say), if that is the failure. */
function refusedPermission(error: unknown): string | undefined {
  if (!isOnexError(error, ErrorCode.RegistryUnavailable)) return undefined;
  const permission = error.details.permission;
  return typeof permission === "string" ? permission : undefined;
}

/** Failures of the connection, not of the entry: they pass when the servers answer again (a missing grant, once it is given). */
function retryable(error: unknown): boolean {
  return !isOnexError(error) || error.code === ErrorCode.RegistryUnavailable;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      timer.cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = after(ms, done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
