/** The `--registry` flag every `onex registry` command shares, and opening the registry it names. */
import { Flags } from "@oclif/core";
import { addressSecrets, hideSecrets, isOnexError, withoutSecrets } from "@onex/runtime";
import { openRegistry } from "@onex/runtime/registry";
import { warnPasswordOnCommandLine } from "./nats-flags.js";
import type { Registry, ResolvedEntry } from "@onex/runtime/registry";
import { printableField } from "./terminal-text.js";

export const registryFlags = {
  registry: Flags.string({ description: "Registry URL: nats://host:4222, etcd://host:2379 or consul://host:8500 (with ?ttl=10s, ?bucket= or ?prefix=).", env: "ONEX_REGISTRY", required: true }),
};

/** Opens the registry, runs `fn`, and closes it even when `fn` fails. A password or token in the URL is never said in an error. */
export async function withRegistry<T>(url: string, fn: (registry: Registry) => Promise<T>): Promise<T> {
  const secrets = addressSecrets(url);
  warnPasswordOnCommandLine();
  const hide = (text: string) => hideSecrets(text, secrets);
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
    // openRegistry's own errors say no secret of the URL; what `fn` met on the way may quote it.
    throw isOnexError(error) ? withoutSecrets(error, secrets) : error;
  }
}

/** The JSON a command prints for an entry: what it is, where, and the key it verified with. */
export function entryJson(entry: ResolvedEntry): Record<string, unknown> {
  return { address: entry.address, key_id: entry.key.keyId, revision: entry.revision, entry: entry.entry, identity: entry.identity };
}
