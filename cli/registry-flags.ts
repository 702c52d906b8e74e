/** The `--registry` flag every `onex registry` command shares, and opening the registry it names. */
import { Flags } from "@oclif/core";
import { isOnexError, OnexError } from "@onex/runtime";
import { openRegistry } from "@onex/runtime/registry";
import { warnPasswordOnCommandLine } from "./nats-flags.js";
import type { Registry, ResolvedEntry } from "@onex/runtime/registry";
import { printableField } from "./terminal-text.js";

export const registryFlags = {
  registry: Flags.string({ description: "Registry URL: nats://host:4222, etcd://host:2379 or consul://host:8500 (with ?ttl=10s, ?bucket= or ?prefix=).", env: "ONEX_REGISTRY", required: true }),
};

/** Opens the registry, runs `fn`, and closes it even when `fn` fails. A password or token in the URL is never said in an error. */
export async function withRegistry<T>(url: string, fn: (registry: Registry) => Promise<T>): Promise<T> {
  const secrets = secretsOf(url);
  warnPasswordOnCommandLine();
  const hide = (text: string) => secrets.reduce((shown, secret) => shown.split(secret).join("***"), text);
  try {
    const registry = await openRegistry(url, {
      // What a store holds is anyone's text: a tampered value's own bytes are quoted in why it failed.
      onTampered: (address, error) => process.stderr.write(`warning ${error.code}: ${address}: ${printableField(hide(error.message))}\n`),
      logger: { warn: (message) => process.stderr.write(`warning ${printableField(hide(message))}\n`) },
    });
    try {
      return await fn(registry);
    } finally {
      await registry.close();
    }
  } catch (error) {
    if (!isOnexError(error) || secrets.length === 0) throw error;
    const details = Object.fromEntries(Object.entries(error.details).map(([name, value]) => [name, typeof value === "string" ? hide(value) : value]));
    throw new OnexError(error.code, hide(error.message), details, { cause: error });
  }
}

/** The password (or user name alone, a token to some clients) and `token=` values a registry URL holds, as written and decoded, longest first. */
function secretsOf(url: string): string[] {
  const found: string[] = [];
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url)?.[1];
  if (userinfo !== undefined) found.push(userinfo.includes(":") ? userinfo.slice(userinfo.indexOf(":") + 1) : userinfo);
  for (const match of url.matchAll(/[?&](?:token|password|pass)=([^&#]*)/gi)) found.push(match[1]!);
  const decoded = found.map((secret) => {
    try {
      return decodeURIComponent(secret);
    } catch {
      return secret;
    }
  });
  return [...new Set([...found, ...decoded])].filter((secret) => secret !== "").sort((a, b) => b.length - a.length);
}

/** The JSON a command prints for an entry: what it is, where, and the key it verified with. */
export function entryJson(entry: ResolvedEntry): Record<string, unknown> {
  return { address: entry.address, key_id: entry.key.keyId, revision: entry.revision, entry: entry.entry, identity: entry.identity };
}
