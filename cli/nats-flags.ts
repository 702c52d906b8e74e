/** The flags and connection every command that talks to NATS shares. */
import { statSync } from "node:fs";
import { Flags } from "@oclif/core";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { addressSecrets, ErrorCode, isOnexError, OnexError, redactedAddress, withoutSecrets } from "@onex/runtime";
import { checkServers, checkTlsFiles, connectFailure, inboxPrefixOf, serverCredentials, type TlsFiles } from "@onex/runtime/jetstream";

export const natsFlags = {
  server: Flags.string({ description: "NATS server URL.", env: "NATS_URL", default: "nats://127.0.0.1:4222" }),
  user: Flags.string({ description: "NATS user.", env: "NATS_USER" }),
  password: Flags.string({ description: "NATS password. On the command line every user of the machine can read it (ps): set NATS_PASSWORD instead.", env: "NATS_PASSWORD" }),
  "tls-ca": Flags.string({ description: "CA certificate (PEM file) the server's certificate must chain to, for a server whose CA the system does not trust.", env: "NATS_CA" }),
  "tls-cert": Flags.string({ description: "Client certificate (PEM file), for a server that verifies clients; with --tls-key.", env: "NATS_CERT" }),
  "tls-key": Flags.string({ description: "The client certificate's private key (PEM file).", env: "NATS_KEY" }),
  "inbox-prefix": Flags.string({
    description: "Subject prefix of this connection's reply inboxes (default _INBOX). Under the configuration onex nats-auth writes, a zone member reads replies only under _INBOX_<user>: give that.",
    env: "NATS_INBOX_PREFIX",
  }),
};

/**
 * A password on the command line (--password, or one inside an address such as
 * nats://user:pass@host) can be read by every user of the machine for as long as the command
 * runs (`ps`, /proc/<pid>/cmdline): said once on stderr, as other tools do. The environment
 * (NATS_PASSWORD, NATS_URL, ONEX_REGISTRY) is this user's alone.
 */
export function warnPasswordOnCommandLine(argv: readonly string[] = process.argv.slice(2)): void {
  if (warnedOfPassword) return;
  const flag = argv.some((arg) => arg === "--password" || arg.startsWith("--password="));
  // Any address of a list (`nats://a,nats://user:pass@b`), and a token alone as its user (`nats://s3cret@host`).
  const inAddress = argv.some((arg) => /(?:^|[=,])[a-z][a-z0-9+.-]*:\/\/[^/?#,\s]+@/i.test(arg) || /[?&](?:token|password|pass)=/i.test(arg));
  if (!flag && !inAddress) return;
  warnedOfPassword = true;
  const what = flag ? "--password" : "a password or token in an address";
  process.stderr.write(`warning: ${what} on the command line can be read by every user of this machine (ps); set ${flag ? "NATS_PASSWORD" : "NATS_URL or ONEX_REGISTRY"} instead\n`);
}
let warnedOfPassword = false;

type NatsFlags = { server: string; user?: string; password?: string; "tls-ca"?: string; "tls-cert"?: string; "tls-key"?: string; "inbox-prefix"?: string };

/**
 * --inbox-prefix, checked: a subject without wildcards (nats.js refused another only as a failed
 * connection). A zone member under the configuration `onex nats-auth` writes may read replies only
 * under `_INBOX_<user>`, and every request of a command (JetStream's API, a negotiation) waits for
 * one, so without it each was refused for a subscription to `_INBOX.…`.
 */
export function inboxOption(flags: NatsFlags): { inboxPrefix: string } | Record<string, never> {
  const prefix = flags["inbox-prefix"];
  if (prefix === undefined) return {};
  if (!prefix.split(".").every((token) => token !== "" && !/[*>\s]/.test(token))) {
    throw new OnexError(ErrorCode.Usage, `--inbox-prefix must be a subject without wildcards, like _INBOX_alice, not "${prefix}"`);
  }
  return { inboxPrefix: prefix };
}

/**
 * The TLS files the flags name, checked (ONEX_E_USAGE naming the flag): a file nats.js could not
 * read failed as an unreachable server. A private key other users can read is said on stderr,
 * as ssh says it; only said, since secrets mounted by an orchestrator are often mode 0644.
 */
export function tlsFilesOf(flags: NatsFlags): TlsFiles | undefined {
  const given = { caFile: flags["tls-ca"], certFile: flags["tls-cert"], keyFile: flags["tls-key"] };
  const named = Object.fromEntries(Object.entries(given).filter(([, path]) => path !== undefined));
  const files = checkTlsFiles(named, { caFile: "--tls-ca", certFile: "--tls-cert", keyFile: "--tls-key" });
  const key = files?.keyFile;
  const mode = key === undefined || process.platform === "win32" ? 0 : statSync(key).mode & 0o777;
  if ((mode & 0o044) !== 0) process.stderr.write(`warning: --tls-key ${key} is a private key other users can read (mode ${mode.toString(8).padStart(4, "0")}); run \`chmod 600 ${key}\`\n`);
  return files;
}

/** Connects with the command's NATS flags, runs `fn`, and closes the connection. */
export async function withNats<T>(flags: NatsFlags, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  let nc: NatsConnection;
  warnPasswordOnCommandLine();
  const tls = tlsFilesOf(flags);
  const inbox = inboxOption(flags);
  try {
    checkServers(flags.server);
    const { servers, user, pass, token } = serverCredentials(flags.server, flags.user ? { user: flags.user, pass: flags.password } : {});
    nc = await connect({ servers, ...(user !== undefined ? { user, pass } : {}), ...(token !== undefined ? { token } : {}), ...(tls !== undefined ? { tls } : {}), ...inbox, timeout: 5_000 });
  } catch (error) {
    throw serverFlagFailure(error, flags.server);
  }
  try {
    return await fn(nc);
  } catch (error) {
    throw withInboxHint(error, flags);
  } finally {
    await nc.close();
  }
}

/**
 * A failure to connect with --server: an address that is no address is the flag's fault (exit 2),
 * not the network's (69). A password or token in the address (`nats://user:pass@host`) is never
 * said: error output goes to terminals others watch and to CI logs.
 */
export function serverFlagFailure(error: unknown, server: string): OnexError {
  // connectFailure hides the address's secrets; an OnexError made elsewhere is checked for them too.
  const failure = withoutSecrets(isOnexError(error) ? error : connectFailure(error, server), addressSecrets(server));
  if (failure.code === ErrorCode.Usage) return new OnexError(ErrorCode.Usage, `--server: ${failure.message}`, { server: redactedAddress(server) }, { cause: failure.cause });
  return failure;
}

/**
 * Connects, runs `fn` with the JetStream client and manager, and closes the connection. The
 * manager asks the server for JetStream first, so a server or account without it is said so
 * once, rather than as whichever request happens to fail.
 */
export function withJetStream<T>(flags: NatsFlags, fn: (js: JetStreamClient, jsm: JetStreamManager, nc: NatsConnection) => Promise<T>): Promise<T> {
  return withNats(flags, async (nc) => {
    const jsm = await jetstreamManager(nc).catch((error: unknown) => {
      const text = (error as Error)?.message ?? String(error);
      const server = redactedAddress(flags.server);
      const details = { server };
      // A zone member under the configuration onex nats-auth writes may use the API on its zone's
      // streams only, not ask for the account's JetStream: its commands go on, and a request it may
      // not make is refused as it is made.
      if (/Permissions Violation for Publish to "\$JS\.API\.INFO"/.test(text)) return jetstreamManager(nc, { checkAPI: false });
      if (/permission/i.test(text)) throw new OnexError(ErrorCode.PermissionDenied, `this user may not ask ${server} for JetStream: ${text}`, details, { cause: error });
      const why = /not enabled/i.test(text) ? "has no JetStream for this user (nats-server needs -js, and the user's account JetStream)" : `did not answer a JetStream request: ${text}`;
      throw new OnexError(ErrorCode.ConnectionFailed, `${server} ${why}`, details, { cause: error });
    });
    return fn(jetstream(nc), jsm, nc);
  });
}

/** A refusal to read replies under the default inboxes, with what to do: give the prefix `onex nats-auth` grants each user. */
function withInboxHint(error: unknown, flags: NatsFlags): unknown {
  if (flags["inbox-prefix"] !== undefined || !isOnexError(error, ErrorCode.PermissionDenied) || !/Subscription to "_INBOX\./.test(error.message)) return error;
  const prefix = flags.user === undefined ? "_INBOX_<user>" : inboxPrefixOf(flags.user);
  return new OnexError(error.code, `${error.message}; this user may not read replies under _INBOX (a zone member under the configuration onex nats-auth writes reads them only under _INBOX_<user>): give --inbox-prefix ${prefix}`, error.details, { cause: error });
}
