/** The flags, peer start-up and progress display the `onex artifact` commands share. */
import { Flags } from "@oclif/core";
import * as v0_2 from "../generated/v0.2/index.js";
import { DataPlanePeer } from "../runtime/dataplane/peer.js";
import type { FetchProgress } from "../runtime/dataplane/fetcher.js";
import { ErrorCode, OnexError } from "../runtime/errors.js";
import { connect, type OnexClient } from "../runtime/jetstream/client.js";
import { keyRing } from "../runtime/trust/keys.js";
import { parseTrustPolicy, type TrustPolicy } from "../runtime/trust/policy.js";
import { DATA_PLANE_TRUST_POLICY } from "../runtime/dataplane/descriptor.js";
import { readPrivateKey, readPublicKeys } from "./key-files.js";
import { natsFlags } from "./nats-flags.js";

export const artifactFlags = {
  ...natsFlags,
  key: Flags.string({ description: "Private key this peer signs its swarm messages (and published descriptors) with.", env: "ONEX_KEY", required: true }),
  trust: Flags.string({ description: "Public key file of a peer or publisher to trust (repeatable); the peer's own key is always trusted.", multiple: true, default: [] }),
  zone: Flags.string({ description: "Trust zone of the swarm.", env: "ONEX_ZONE", required: true }),
  "peer-id": Flags.string({ description: "This peer's node id (default: derived from its key id)." }),
  host: Flags.string({ description: "Address the piece server listens on.", default: "127.0.0.1" }),
  port: Flags.integer({ description: "Port of the piece server (default: a free one).", default: 0 }),
  "public-url": Flags.string({ description: "URL other peers reach the piece server at, when it is not the listen address." }),
  policy: Flags.string({ description: "Trust policy for descriptors, e.g. zone_match=advisory (default: signature and zone_match strict)." }),
};

type ArtifactFlags = { server: string; user?: string; password?: string; key: string; trust: string[]; zone: string; "peer-id"?: string; host: string; port: number; "public-url"?: string; policy?: string };

/** Connects to NATS, starts a peer, runs `fn`, and stops both whatever happens. */
export async function withPeer<T>(flags: ArtifactFlags, fn: (peer: DataPlanePeer) => Promise<T>): Promise<T> {
  const key = readPrivateKey(flags.key);
  const trusted = keyRing([key.publicKey, ...readPublicKeys(flags.trust)]);
  let policy: TrustPolicy = DATA_PLANE_TRUST_POLICY;
  if (flags.policy) {
    parseTrustPolicy(flags.policy); // ONEX_E_POLICY_INVALID for an unknown policy or mode
    policy = { ...DATA_PLANE_TRUST_POLICY, ...onlyGiven(flags.policy) } as TrustPolicy;
  }
  let client: OnexClient;
  try {
    client = await connect({
      servers: flags.server,
      identity: key,
      keys: trusted,
      trust: { zone: flags.zone, logger: { warn() {} } },
      ...(flags.user ? { user: flags.user, pass: flags.password } : {}),
    });
  } catch (error) {
    throw error instanceof OnexError ? error : new OnexError(ErrorCode.ConnectionFailed, String(error));
  }
  let peer: DataPlanePeer | undefined;
  try {
    peer = await DataPlanePeer.start({
      client,
      messages: v0_2,
      key,
      peerId: flags["peer-id"] ?? `peer-${key.keyId.slice(4, 16)}`,
      zone: flags.zone,
      publisherKeys: trusted,
      policy,
      server: { host: flags.host, port: flags.port, ...(flags["public-url"] ? { publicUrl: flags["public-url"] } : {}) },
      logger: { warn: (message) => process.stderr.write(`${message}\n`) },
    });
    return await fn(peer);
  } finally {
    await peer?.stop().catch(() => undefined);
    await client.close().catch(() => undefined);
  }
}

// parseTrustPolicy fills unnamed policies with the protocol defaults; only the named ones override the data-plane defaults.
function onlyGiven(text: string): Record<string, string> {
  return Object.fromEntries(text.split(",").map((p) => p.trim().split("=").map((s) => s.trim())).filter((p): p is [string, string] => p.length === 2 && Boolean(p[0]) && Boolean(p[1])));
}

/** Splits `name@version` (the name may contain `@` only before the last one). */
export function parseArtifactRef(ref: string): { name: string; version: string } {
  const at = ref.lastIndexOf("@");
  if (at <= 0 || at === ref.length - 1) throw new OnexError(ErrorCode.Usage, `"${ref}" is not NAME@VERSION`);
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}

/** Seeds until SIGINT/SIGTERM, or for `ms` when given. */
export function seedUntilStopped(ms?: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}

/** A one-line progress bar on a terminal; silent when stderr is not one (logs and CI stay clean). */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): { update(p: FetchProgress): void; done(): void } {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.pieces < p.total) return;
      last = now;
      const width = 24;
      const filled = p.total === 0 ? width : Math.round((p.pieces / p.total) * width);
      stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${p.pieces}/${p.total} pieces  ${p.peers} peers  ${formatRate(p.bytesPerSecond)}\u001b[K`);
      shown = true;
    },
    done() {
      if (shown) stream.write("\n");
    },
  };
}

/** Bytes per second as `12.3 MB/s`. */
export function formatRate(bytesPerSecond: number): string {
  const units = ["B/s", "kB/s", "MB/s", "GB/s"];
  let value = bytesPerSecond;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}
