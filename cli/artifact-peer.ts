/** The flags, peer start-up and progress display the `onex artifact` commands share. */
import { Flags } from "@oclif/core";
import { createServer } from "node:net";
import { DataPlanePeer } from "@onex/runtime/dataplane";
import type { FetchProgress } from "@onex/runtime/dataplane";
import { ErrorCode, OnexError, assertZoneId } from "@onex/runtime";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type OnexClient } from "@onex/runtime/jetstream";
import { deadLetterStreamOf, listDeadLetters } from "@onex/runtime/jetstream";
import { publishersOf, type PublisherGrant } from "@onex/runtime/dataplane";
import { keyRing } from "@onex/runtime";
import { parseTrustPolicy, type TrustPolicy } from "@onex/runtime";
import { DATA_PLANE_TRUST_POLICY, MIN_TRANSFER_BYTES_PER_SECOND, SWARM_MESSAGE_TYPES, type SwarmMessages } from "@onex/runtime/dataplane";
import { readPrivateKey, readPublicKeys } from "./key-files.js";
import { printableField } from "./terminal-text.js";
import { inboxOption, natsFlags, serverFlagFailure, tlsFilesOf, warnPasswordOnCommandLine } from "./nats-flags.js";
import { compareVersions } from "@onex/runtime";
import { versions } from "@onex/sdk/versions";
import { definesTypes, sdkSpeaking } from "./protocol-choice.js";

export const artifactFlags = {
  ...natsFlags,
  key: Flags.string({ description: "Private key this peer signs its swarm messages (and published descriptors) with.", env: "ONEX_KEY", required: true }),
  trust: Flags.string({ description: "Public key file of a swarm peer whose messages are accepted: it may announce and serve pieces, not publish names (repeatable).", multiple: true, default: [] }),
  publisher: Flags.string({
    description: "[NAMES=]FILE: public key of a publisher whose descriptors are accepted, for the names given (comma-separated; `models/*` is a prefix), or every name (repeatable). The peer's own key publishes every name.",
    multiple: true,
    default: [],
  }),
  zone: Flags.string({ description: "Trust zone of the swarm.", env: "ONEX_ZONE", required: true }),
  "peer-id": Flags.string({ description: "This peer's node id (default: derived from its key id)." }),
  host: Flags.string({ description: "Address the piece server listens on.", default: "127.0.0.1" }),
  // Bounds here make oclif refuse a port no socket can have as ONEX_E_USAGE, before any work.
  port: Flags.integer({ description: "Port of the piece server (default: a free one).", default: 0, min: 0, max: 65535 }),
  "public-url": Flags.string({ description: "URL other peers reach the piece server at, when it is not the listen address." }),
  policy: Flags.string({ description: "Trust policy for descriptors, e.g. zone_match=advisory (default: signature and zone_match strict)." }),
  // At least the slowest rate a piece may move at: under it, no upload finished inside its deadline.
  "upload-limit": Flags.integer({ description: "Cap on the piece server's upload, in bytes per second, at least 16384 (default: none).", min: MIN_TRANSFER_BYTES_PER_SECOND, max: Number.MAX_SAFE_INTEGER }),
  protocol: Flags.string({ description: "Protocol version the swarm's messages are written in (default: the newest bundled version with the artifact messages).", env: "ONEX_PROTOCOL" }),
};

type ArtifactFlags = { server: string; user?: string; password?: string; key: string; trust: string[]; publisher: string[]; zone: string; "peer-id"?: string; host: string; port: number; "public-url"?: string; policy?: string; "upload-limit"?: number; protocol?: string };

/** Reads `--publisher [NAMES=]FILE` grants; the peer's own key may publish every name. */
export function readPublisherGrants(specs: readonly string[]): PublisherGrant[] {
  return specs.map((spec) => {
    const at = spec.indexOf("=");
    const names = at < 0 ? ["*"] : spec.slice(0, at).split(",").map((n) => n.trim()).filter(Boolean);
    const file = at < 0 ? spec : spec.slice(at + 1);
    if (names.length === 0 || file === "") throw new OnexError(ErrorCode.Usage, `--publisher "${spec}" is not [NAMES=]FILE`);
    return { key: readPublicKeys([file])[0]!, names };
  });
}

// What the v0.2 schemas accept (records/artifact-descriptor.yaml; zones: records/address.yaml). A value
// they refuse fails only when a message is validated, after connecting (and, for publish,
// hashing), as ONEX_E_VALIDATION naming a message field instead of the flag: checked here first.
// test/cli/artifact-flag-schema.test.ts holds these checks to every version's schema.
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
const ARTIFACT_VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
// RFC 3986 characters only: the announced endpoint must pass the schema's `uri` format.
const URI_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

/** ONEX_E_USAGE unless `name` and `version` can be an artifact's; `where` says where they came from (`--name`, `"a@1": NAME`). */
export function checkArtifactName(name: string, version: string, where: { name: string; version: string }): void {
  if (!ARTIFACT_NAME.test(name)) throw new OnexError(ErrorCode.Usage, `${where.name} "${name}" is not an artifact name (up to 200 letters, digits and ._/-, starting with a letter or digit)`);
  if (!ARTIFACT_VERSION.test(version)) throw new OnexError(ErrorCode.Usage, `${where.version} "${version}" is not an artifact version (up to 64 letters, digits and ._+-, starting with a letter or digit)`);
}

/** ONEX_E_USAGE unless `mediaType` can be an artifact's: 3 to 255 characters, counted as the schema counts them (code points). */
export function checkMediaType(mediaType: string): void {
  const length = [...mediaType].length;
  if (length < 3 || length > 255) throw new OnexError(ErrorCode.Usage, `--media-type "${mediaType}" is not a media type (3 to 255 characters, e.g. application/octet-stream)`);
}

/** ONEX_E_USAGE for a shared flag the swarm's messages could not carry; checks nothing outside the process. */
export function checkPeerFlags(flags: ArtifactFlags): void {
  assertZoneId(flags.zone, "--zone");
  const peerId = flags["peer-id"];
  if (peerId !== undefined && (peerId === "" || peerId.length > 256)) throw new OnexError(ErrorCode.Usage, `--peer-id must have 1 to 256 characters`);
  const url = flags["public-url"];
  if (url !== undefined) {
    // Peers fetch `${endpoint}/v1/...` over plain HTTP (the piece client speaks nothing else):
    // a query, a fragment or a trailing slash would break those URLs, credentials are not sent.
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !URI_CHARACTERS.test(url) || parsed.protocol !== "http:" || parsed.hostname === "" || parsed.username !== "" || parsed.password !== "" || parsed.search !== "" || parsed.hash !== "" || url.endsWith("/")) {
      throw new OnexError(ErrorCode.Usage, `--public-url "${url}" is not http://HOST[:PORT][/PATH] (no trailing /, query or fragment)`);
    }
  }
}

/**
 * ONEX_E_USAGE when the piece server cannot listen at --host and --port (an unknown host, an
 * address not of this machine, a port in use): the user chose them, and --port 0 takes a free
 * port. Undefined for any other failure. (Node's errors carry a syscall, so the base command
 * would report them as an output file that cannot be written.)
 */
function listenFailure(error: unknown, host: string, port: number): OnexError | undefined {
  const { code, syscall } = (error ?? {}) as NodeJS.ErrnoException;
  if (syscall !== "listen" && syscall !== "getaddrinfo") return undefined;
  const address = `${host}:${port}`;
  const why =
    code === "EADDRINUSE" ? `--port ${port}: ${address} is already in use (choose another port, or 0 for a free one)`
    : code === "ENOTFOUND" || code === "EAI_AGAIN" ? `--host ${host}: no such host to listen on (${code})`
    : code === "EADDRNOTAVAIL" ? `--host ${host}: not an address of this machine, cannot listen on ${address} (${code})`
    : code === "EACCES" ? `--port ${port}: not permitted to listen on ${address} (${code})`
    : `--host ${host} --port ${port}: cannot listen on ${address} (${code ?? String(error)})`;
  return new OnexError(ErrorCode.Usage, why, { host, port, ...(code ? { errno: code } : {}) }, { cause: error });
}

/** Listens at --host and --port once and lets go: the piece server's address is refused before the peer connects to anything. */
async function checkListen(host: string, port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (error) => reject(listenFailure(error, host, port) ?? error));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/**
 * Checks the shared flags (the commands check their own before calling), connects to NATS,
 * starts a peer, runs `fn`, and stops both whatever happens.
 */
export async function withPeer<T>(flags: ArtifactFlags, fn: (peer: DataPlanePeer, client: OnexClient) => Promise<T>): Promise<T> {
  checkPeerFlags(flags);
  const key = readPrivateKey(flags.key);
  const sdk = await swarmSdk(flags.protocol);
  const publishers = [...publishersOf([key.publicKey]), ...readPublisherGrants(flags.publisher)];
  // Messages are accepted from peers and publishers (a publisher seeds what it publishes); descriptors from publishers only.
  const trusted = keyRing([key.publicKey, ...readPublicKeys(flags.trust), ...publishers.map((g) => g.key)]);
  let policy: TrustPolicy = DATA_PLANE_TRUST_POLICY;
  if (flags.policy) {
    parseTrustPolicy(flags.policy); // ONEX_E_POLICY_INVALID for an unknown policy or mode
    policy = { ...DATA_PLANE_TRUST_POLICY, ...onlyGiven(flags.policy) } as TrustPolicy;
  }
  // Last before connecting, so the address is as free as it can be when the peer starts.
  await checkListen(flags.host, flags.port);
  let client: OnexClient;
  warnPasswordOnCommandLine();
  const tls = tlsFilesOf(flags);
  try {
    client = await connect({
      servers: flags.server,
      identity: key,
      keys: trusted,
      trust: { zone: flags.zone, logger: { warn() {} } },
      // Every message is still verified, on this thread: a swarm peer receives a few messages a
      // second, and starting a verification thread (the default on more than one core) cost
      // each peer ~25 ms of CPU before its first piece request, more than it would ever save.
      verifyThreads: 0,
      ...(flags.user ? { user: flags.user, pass: flags.password } : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...inboxOption(flags),
    });
  } catch (error) {
    throw serverFlagFailure(error, flags.server);
  }
  let peer: DataPlanePeer | undefined;
  try {
    peer = await DataPlanePeer.start({
      client,
      messages: sdk,
      key,
      peerId: flags["peer-id"] ?? `peer-${key.keyId.slice(4, 16)}`,
      zone: flags.zone,
      publishers,
      policy,
      server: { host: flags.host, port: flags.port, ...(flags["public-url"] ? { publicUrl: flags["public-url"] } : {}), ...(flags["upload-limit"] ? { uploadBytesPerSecond: flags["upload-limit"] } : {}) },
      // The swarm's warnings quote what peers announced (a peer id, a name): controls escaped, as onex dlq prints letters.
      logger: { warn: (message) => process.stderr.write(`${printableField(message)}\n`) },
    }).catch((error: unknown) => {
      // Something took the port since checkListen: the same refusal.
      throw listenFailure(error, flags.host, flags.port) ?? error;
    });
    return await fn(peer, client);
  } finally {
    await peer?.stop().catch(() => undefined);
    await client.close().catch(() => undefined);
  }
}

/**
 * The SDK the swarm speaks: the one `--protocol` names, else the newest bundled version with
 * the artifact messages, as `sdkSpeaking` picks it; but loaded newest first and no further
 * than needed, since every peer process pays for each SDK it loads (~10-20 ms of CPU each).
 */
async function swarmSdk(requested: string | undefined): Promise<SwarmMessages> {
  const fits = definesTypes(SWARM_MESSAGE_TYPES);
  if (requested === undefined) {
    for (const version of Object.keys(versions).sort((a, b) => compareVersions(b, a)) as (keyof typeof versions)[]) {
      const sdk = (await versions[version]()) as unknown as Parameters<typeof fits>[0];
      if (fits(sdk)) return sdk as SwarmMessages;
    }
  }
  // A version asked for, or none fits: the shared choice says which and why.
  return (await sdkSpeaking("the artifact swarm", fits, requested)) as SwarmMessages;
}

// parseTrustPolicy fills unnamed policies with the protocol defaults; only the named ones override the data-plane defaults.
function onlyGiven(text: string): Record<string, string> {
  return Object.fromEntries(text.split(",").map((p) => p.trim().split("=").map((s) => s.trim())).filter((p): p is [string, string] => p.length === 2 && Boolean(p[0]) && Boolean(p[1])));
}

/**
 * When nothing acceptable was announced: an announcement this peer's client refused before
 * the swarm saw it (a peer or publisher outside the key ring) is in the dead-letter stream
 * under the swarm's consumer. Returns the refusal as an error saying what and why, if there
 * is one; the original error otherwise.
 */
export async function explainNothingAnnounced(error: unknown, peer: DataPlanePeer, client: OnexClient, ref: { name: string; version: string }, zone: string): Promise<unknown> {
  if (!(error instanceof OnexError) || error.code !== ErrorCode.NoPeers || error.details.name !== ref.name) return error;
  const consumer = peer.swarm.consumer;
  if (consumer === undefined) return error;
  try {
    const jsm = await jetstreamManager(client.nc);
    // The swarm follows one zone: its letters are in that zone's dead-letter stream.
    const stream = await deadLetterStreamOf(jsm, zone);
    const last = (await jsm.streams.info(stream)).state.last_seq;
    // The refusals of this run are the newest letters; older ones belong to other consumers.
    for (const letter of (await listDeadLetters(jsm, { stream, fromSequence: Math.max(1, last - 999) })).reverse()) {
      if (letter.consumer !== consumer) continue;
      let message: { type?: string; payload?: { descriptor?: { name?: string; version?: string }; peer_id?: string }; trust?: { signer?: string } };
      try {
        message = JSON.parse(Buffer.from(letter.data).toString("utf8")) as typeof message;
      } catch {
        continue;
      }
      const d = message.payload?.descriptor;
      if (message.type !== "event.artifact.announced" || d?.name !== ref.name || d.version !== ref.version) continue;
      const code = (Object.values(ErrorCode) as string[]).includes(letter.reason) ? (letter.reason as ErrorCode) : ErrorCode.DescriptorInvalid;
      return new OnexError(
        code,
        `the announcement of ${ref.name}@${ref.version} by peer ${String(message.payload?.peer_id)} (signed by ${String(message.trust?.signer)}) was refused by this peer's trust policy (${letter.reason}: ${letter.message}); trust the announcing peer with --trust and its publisher with --publisher`,
        { name: ref.name, version: ref.version, peer_id: message.payload?.peer_id, signer: message.trust?.signer, reason: letter.reason },
        { cause: error },
      );
    }
  } catch {
    // Explaining is best effort: without a dead-letter stream the original error stands.
  }
  return error;
}

/** Splits `name@version` (the name may contain `@` only before the last one). */
export function parseArtifactRef(ref: string): { name: string; version: string } {
  const at = ref.lastIndexOf("@");
  if (at <= 0 || at === ref.length - 1) throw new OnexError(ErrorCode.Usage, `"${ref}" is not NAME@VERSION`);
  const name = ref.slice(0, at);
  const version = ref.slice(at + 1);
  // No descriptor could carry another name: refused now, not after --timeout as ONEX_E_NO_PEERS.
  checkArtifactName(name, version, { name: `"${ref}": NAME`, version: `"${ref}": VERSION` });
  return { name, version };
}

/**
 * Aborted by SIGINT or SIGTERM from now until `release()`. A fetch that goes on seeding holds
 * one for both: when the fetch's listener gave way to the seeding's, a signal sent in between
 * was lost (Node stops watching a signal when its last listener goes, and drops one caught for
 * that watcher but not yet delivered), and the process then seeded for all of --seed-for.
 */
export function stopSignals(): { signal: AbortSignal; release(): void } {
  const stopped = new AbortController();
  const stop = (name: NodeJS.Signals) => stopped.abort(new Error(`interrupted by ${name}`));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return {
    signal: stopped.signal,
    release() {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    },
  };
}

/** Seeds until `stop` is aborted (at once if it already is), or for `ms` when given. */
export function seedUntilStopped(stop: AbortSignal, ms?: number): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      stop.removeEventListener("abort", done);
      resolve();
    };
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    stop.addEventListener("abort", done);
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
