/**
 * `openRegistry(url)`: one entry point that picks the adapter by URL scheme, so a
 * deployment switches registries in configuration, not code.
 *
 *   nats://host:4222[,host2:4222]?bucket=onex_registry&ttl=10s&replicas=3
 *   etcd://host:2379[,host2:2379]?prefix=/onex/registry/&ttl=10s
 *   consul://host:8500?prefix=onex/registry/&ttl=10s&token=...
 */
import { addressSecrets, userinfoCredentials, withoutSecrets } from "../address-secrets.js";
import { checkTlsFiles, type TlsFiles } from "../tls-files.js";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { durationMs } from "../duration-text.js";
import { checkObject, checkWhole } from "../option-check.js";
import { MAX_TTL_MS, MIN_TTL_MS, type Registry, type RegistryOptions, type RegistryStore } from "./registry.js";
import { checkTrustOptions, DEFAULT_TTL_MS, TrustedRegistry } from "./trusted-registry.js";

/** The URL schemes openRegistry knows. */
export const REGISTRY_SCHEMES = ["nats", "etcd", "consul"] as const;

/** A registry URL taken apart. */
export interface RegistryUrl {
  scheme: (typeof REGISTRY_SCHEMES)[number];
  /** `host:port` of each server. */
  hosts: string[];
  ttlMs: number;
  /** Whether the TTL was asked for (a `ttl` in the URL, or openRegistry's `ttlMs`), not the default: an existing NATS KV bucket must then have it as its max age. */
  ttlGiven: boolean;
  params: URLSearchParams;
  /** The URL's user info, percent-decoded: a user and password (NATS, etcd) or a token (NATS). */
  credentials?: { user: string; pass: string } | { token: string };
}

/** A `?ttl=`: `10s`, `500ms`, `2m`, `1h` or a plain number of milliseconds, whole milliseconds only (1000.4 was rounded). */
function ttlMsOf(text: string): number {
  const ms = durationMs(text, { bareMs: true });
  if (ms === "none") throw new OnexError(ErrorCode.RegistryUrl, `"${text}" is not a duration (for example 500ms, 10s, 2m, 1h)`, { value: text });
  if (ms === "fraction") throw new OnexError(ErrorCode.RegistryUrl, `"${text}" is not a whole number of milliseconds`, { value: text });
  // Past an exact number it is past 24 h anyway, and refused as such.
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(ms);
}

/** Parses a registry URL; throws ONEX_E_REGISTRY_URL for an unknown scheme or a malformed URL. A password or token in it is not said. */
export function parseRegistryUrl(url: string, defaultTtlMs = DEFAULT_TTL_MS): RegistryUrl {
  try {
    return parseUrl(url, defaultTtlMs);
  } catch (error) {
    throw isOnexError(error) ? withoutSecrets(error, addressSecrets(String(url))) : error;
  }
}

function parseUrl(url: string, defaultTtlMs: number): RegistryUrl {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(?:\/[^?#]*)?(?:\?([^#]*))?$/i.exec(String(url).trim());
  if (!match) throw new OnexError(ErrorCode.RegistryUrl, `"${url}" is not a registry URL (nats://host:4222, etcd://host:2379 or consul://host:8500)`, { url });
  const scheme = match[1]!.toLowerCase();
  if (!(REGISTRY_SCHEMES as readonly string[]).includes(scheme)) {
    throw new OnexError(ErrorCode.RegistryUrl, `unknown registry scheme "${scheme}:" (known: ${REGISTRY_SCHEMES.join(", ")})`, { url, scheme });
  }
  // User info up to the authority's last @: a password may hold one of its own.
  const authority = match[2]!;
  const at = authority.lastIndexOf("@");
  const credentials = at < 0 ? undefined : credentialsOf(scheme, authority.slice(0, at), url);
  const hosts = authority.slice(at + 1).split(",").filter(Boolean);
  if (hosts.length === 0) throw new OnexError(ErrorCode.RegistryUrl, `"${url}" names no server`, { url });
  for (const host of hosts) {
    const port = /^(?:[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(host);
    if (port === null) throw new OnexError(ErrorCode.RegistryUrl, `"${host}" is not host:port`, { url, host });
    if (port[1] !== undefined && (Number(port[1]) < 1 || Number(port[1]) > 65_535)) throw new OnexError(ErrorCode.RegistryUrl, `"${host}" names port ${port[1]}; a port is 1 to 65535`, { url, host });
  }
  const params = new URLSearchParams(match[3] ?? "");
  const tlsParam = TLS_PARAMS.map(([param]) => param).find((param) => params.has(param));
  if (tlsParam !== undefined && scheme === "consul") throw new OnexError(ErrorCode.RegistryUrl, `${tlsParam}= is for nats:// and etcd:// registries; Consul is reached over plain HTTP`, { url });
  if (tlsParam !== undefined && scheme === "etcd" && !params.has("tls_ca")) throw new OnexError(ErrorCode.RegistryUrl, "an etcd reached over TLS needs the CA of its certificate: add tls_ca=", { url });
  const ttl = params.get("ttl");
  const ttlMs = ttl === null ? defaultTtlMs : ttlMsOf(ttl);
  if (ttlMs < MIN_TTL_MS) throw new OnexError(ErrorCode.RegistryUrl, `a registry TTL below 1s (${ttlMs} ms) cannot be kept by every adapter`, { url, ttlMs });
  // Written negated so a `ttlMs` option that is no number (NaN) is refused too.
  if (!(ttlMs <= MAX_TTL_MS)) throw new OnexError(ErrorCode.RegistryUrl, `a registry TTL above 24h (1440m, 86400s; ${ttl ?? `${ttlMs} ms`} given) cannot be kept by every adapter (Consul's session TTL is at most 24h)`, { url, ttlMs });
  return { scheme: scheme as RegistryUrl["scheme"], hosts, ttlMs, ttlGiven: ttl !== null, params, ...(credentials === undefined ? {} : { credentials }) };
}

/**
 * The credentials a registry URL's user info holds, as its store takes them: NATS a user and
 * password or a token, etcd a user and password; Consul takes its token as `?token=`.
 */
function credentialsOf(scheme: string, userinfo: string, url: string): RegistryUrl["credentials"] {
  const refuse = (why: string) => new OnexError(ErrorCode.RegistryUrl, why, { url });
  // A second address's own user info: one set is written once, before the first host.
  if (userinfo.includes(",")) throw refuse("the URL names credentials in more than one address: write them once, before the first host (nats://user:pass@host1,host2), and a comma of a password as %2C");
  if (scheme === "consul") throw refuse("Consul takes its ACL token as ?token=, not as user info");
  const credentials = userinfoCredentials(userinfo);
  if (credentials === undefined) throw refuse(`the URL names an empty ${userinfo.includes(":") ? "user" : "token"}: write ${scheme}://user:pass@host${scheme === "nats" ? `, or ${scheme}://token@host` : ""}`);
  if ("token" in credentials && scheme === "etcd") throw refuse("etcd takes a user and password (etcd://user:pass@host:2379), not a token alone");
  return credentials;
}

/** Opens the registry a URL names, with trust checks on every read and write. */
export async function openRegistry(url: string, options: RegistryOptions = {}): Promise<Registry> {
  checkObject("openRegistry", "options", options);
  // The option is the caller's code, not the URL (a `?ttl=` is parsed to whole milliseconds): a
  // fraction reached NATS as nanoseconds that are no integer ("invalid JSON", reported as
  // ONEX_E_REGISTRY_UNAVAILABLE), and it is held to the URL's bounds.
  checkWhole("openRegistry", "ttlMs", options.ttlMs, { min: MIN_TTL_MS, max: MAX_TTL_MS });
  checkTrustOptions(options);
  const parsed = parseRegistryUrl(url, options.ttlMs ?? DEFAULT_TTL_MS);
  if (options.ttlMs !== undefined) parsed.ttlGiven = true;
  try {
    return new TrustedRegistry(await openStore(parsed, options.logger ?? console, options.zones), options);
  } catch (error) {
    // A store that cannot be reached names its servers; a Consul token is the URL's secret too.
    throw isOnexError(error) ? withoutSecrets(error, addressSecrets(String(url))) : error;
  }
}

/**
 * Loads a store's adapter, whose client is an optional peer dependency of the runtime: a service
 * that installed the SDK alone met Node's bare ERR_MODULE_NOT_FOUND, naming neither the URL nor
 * what to install. ONEX_E_REGISTRY_URL naming the packages, before anything connects.
 */
async function withClient<T>(scheme: string, packages: readonly string[], load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    // ERR_MODULE_NOT_FOUND from an ES module's import, MODULE_NOT_FOUND from a require (a service bundled as CommonJS).
    const code = (cause as NodeJS.ErrnoException).code;
    const missing = code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" ? packages.find((name) => (cause as Error).message.includes(`'${name}'`)) : undefined;
    if (missing === undefined) throw cause;
    // With the runtime's ranges: npm's newest @nats-io/kv asks for a newer @nats-io/jetstream than the runtime's, and the bare install failed (ERESOLVE).
    const install = packages.map((name) => `${name}@${CLIENT_RANGES[name]}`).join(" ");
    throw new OnexError(ErrorCode.RegistryUrl, `a registry at ${scheme}:// needs ${packages.join(", ")} installed beside @onex/runtime (${missing} is missing): npm install ${install}`, { scheme, missing }, { cause });
  }
}

/** The store clients' ranges among runtime/package.json's peerDependencies (test/package holds the two equal). */
const CLIENT_RANGES: Record<string, string> = {
  "@nats-io/transport-node": "~3.3.1",
  "@nats-io/jetstream": "~3.3.1",
  "@nats-io/kv": "~3.3.1",
  etcd3: "^1.1.2",
  consul: "^2.0.1",
};

/** Opens the bare store of a registry URL, without the trust layer (benchmarks and tests compare against it); `logger` hears what the store says of entries it skips; `zones`, the registry's, are the keys etcd's open check reads. */
export async function openStore(parsed: RegistryUrl, logger?: RegistryOptions["logger"], zones?: RegistryOptions["zones"]): Promise<RegistryStore> {
  switch (parsed.scheme) {
    case "nats": {
      const { openNatsKvStore } = await withClient("nats", ["@nats-io/transport-node", "@nats-io/jetstream", "@nats-io/kv"], () => import("./nats-kv.js"));
      const replicas = parsed.params.get("replicas");
      if (replicas !== null && !["1", "3", "5"].includes(replicas)) throw new OnexError(ErrorCode.RegistryUrl, `replicas=${replicas} is not 1, 3 or 5`, { replicas });
      const bucket = parsed.params.get("bucket") ?? "onex_registry";
      // NATS KV's rule for a bucket name; the longest leaves room for its streams' names (`KV_<bucket>_marks`, at most 255).
      if (!/^[-\w]{1,246}$/.test(bucket)) throw new OnexError(ErrorCode.RegistryUrl, `bucket=${JSON.stringify(bucket)} is not 1 to 246 letters, digits, "_" or "-"`, { bucket });
      const tls = tlsFilesOf(parsed.params);
      return openNatsKvStore({
        servers: parsed.hosts.map((h) => `nats://${h}`),
        ...parsed.credentials,
        ...(tls === undefined ? {} : { tls }),
        bucket,
        ttlMs: parsed.ttlMs,
        ttlGiven: parsed.ttlGiven,
        ...(replicas === null ? {} : { replicas: Number(replicas) }),
        ...(logger === undefined ? {} : { logger }),
      });
    }
    case "etcd": {
      const { openEtcdStore } = await withClient("etcd", ["etcd3"], async () => {
        const adapter = await import("./etcd.js");
        await adapter.loadEtcdClient();
        return adapter;
      });
      const credentials = parsed.credentials as { user: string; pass: string } | undefined;
      const tls = tlsFilesOf(parsed.params);
      return openEtcdStore({
        hosts: parsed.hosts.map((h) => `${tls === undefined ? "http" : "https"}://${h}`),
        ...(tls === undefined ? {} : { tls }),
        prefix: prefixOf(parsed, "/onex/registry/"),
        ttlMs: parsed.ttlMs,
        ...(credentials === undefined ? {} : { user: credentials.user, pass: credentials.pass }),
        ...(logger === undefined ? {} : { logger }),
        ...(zones === undefined ? {} : { zones }),
      });
    }
    case "consul": {
      const { openConsulStore } = await withClient("consul", ["consul"], async () => {
        const adapter = await import("./consul.js");
        await adapter.loadConsulClient();
        return adapter;
      });
      const token = parsed.params.get("token");
      return openConsulStore({ host: parsed.hosts[0]!, prefix: prefixOf(parsed, "onex/registry/"), ttlMs: parsed.ttlMs, ...(token ? { token } : {}) });
    }
  }
}

/**
 * The PEM files of a registry's TLS (`?tls_ca=&tls_cert=&tls_key=`, as the CLI's --tls-ca,
 * --tls-cert and --tls-key): a NATS server or etcd that verifies its clients, as the control
 * plane's NATS and a cluster's etcd may, is reached with them. A file that cannot be read is
 * ONEX_E_REGISTRY_URL, before anything connects.
 */
function tlsFilesOf(params: URLSearchParams): TlsFiles | undefined {
  const given = Object.fromEntries(TLS_PARAMS.filter(([param]) => params.has(param)).map(([param, field]) => [field, params.get(param)]));
  try {
    return checkTlsFiles(given, { caFile: "tls_ca=", certFile: "tls_cert=", keyFile: "tls_key=" });
  } catch (error) {
    throw isOnexError(error) ? new OnexError(ErrorCode.RegistryUrl, error.message, error.details, { cause: error }) : error;
  }
}

const TLS_PARAMS = [
  ["tls_ca", "caFile"],
  ["tls_cert", "certFile"],
  ["tls_key", "keyFile"],
] as const;

/** The URL's key prefix: an empty one would put the registry's keys among everything else in the store. */
function prefixOf(parsed: RegistryUrl, fallback: string): string {
  const prefix = parsed.params.get("prefix") ?? fallback;
  if (prefix === "") throw new OnexError(ErrorCode.RegistryUrl, `prefix= is empty; the registry's keys need a prefix of their own (default ${fallback})`, {});
  return prefix;
}
