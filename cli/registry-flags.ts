/** The `--registry` and `--retired-key` flags every `onex registry` command shares, and opening the registry they name. */
import { Flags } from "@oclif/core";
import { addressSecrets, ErrorCode, hideSecrets, isKeyId, isOnexError, isZoneId, OnexError, withoutSecrets } from "@onex/runtime";
import { openRegistry, parseAddress } from "@onex/runtime/registry";
import { warnPasswordOnCommandLine } from "./nats-flags.js";
import type { Registry, ResolvedEntry } from "@onex/runtime/registry";
import { printableField } from "./terminal-text.js";

export const registryFlags = {
  registry: Flags.string({ description: "Registry URL: nats://host:4222, etcd://host:2379 or consul://host:8500 (with ?ttl=10s, ?bucket= or ?prefix=).", env: "ONEX_REGISTRY", required: true }),
  "retired-key": Flags.string({
    description: "Key id of a node key that no longer speaks for its node (stolen or rotated away), as `registry list` prints it in key_id (repeatable, or comma-separated in ONEX_RETIRED_KEYS): its registrations are refused and read as tampered.",
    env: "ONEX_RETIRED_KEYS",
    multiple: true,
  }),
};

/** What the registry flags parse to. */
export interface RegistryFlagValues {
  registry: string;
  /** oclif gives the environment variable's value as one string, the flags as a list. */
  "retired-key"?: string[] | string | undefined;
}

/** The retired key ids, each checked: a mistyped id would retire nothing and say nothing. */
function retiredKeys(values: readonly string[] | string = []): string[] {
  return [values].flat().flatMap((value) => value.split(",")).map((raw) => {
    const id = raw.trim();
    if (!isKeyId(id)) throw new OnexError(ErrorCode.Usage, `--retired-key ${printableField(raw)} is no key id (key- and 32 hex digits, as registry list prints key_id)`);
    return id;
  });
}

/**
 * The zone a command reads or writes alone (an address's, an entry's, `--zone`), as `zones` to open
 * the registry with: on etcd, a role granted that zone's prefixes alone then opens it
 * (docs/registry.md, etcd permissions). Undefined for no zone id: the registry then says what is
 * wrong with it, as before.
 */
export function onlyZone(zone: unknown): string[] | undefined {
  return isZoneId(zone) ? [zone] : undefined;
}

/**
 * The zone of `address`, for `onlyZone`. An address that is not canonical is ONEX_E_ADDRESS_INVALID
 * here, before the registry opens: opened without a zone, a role kept to one zone was refused, and
 * told to grant the whole prefixes, every zone's, for a mistyped address.
 */
export function zoneOfAddress(address: string): string {
  return parseAddress(address).zone;
}

/** Opens the registry (serving `zones` alone when given), runs `fn`, and closes it even when `fn` fails. A password or token in the URL is never said in an error. */
export async function withRegistry<T>(flags: RegistryFlagValues, fn: (registry: Registry) => Promise<T>, zones?: string[]): Promise<T> {
  const url = flags.registry;
  const retired = retiredKeys(flags["retired-key"]);
  const secrets = addressSecrets(url);
  warnPasswordOnCommandLine();
  const hide = (text: string) => hideSecrets(text, secrets);
  try {
    const registry = await openRegistry(url, {
      retiredKeys: retired,
      ...(zones === undefined ? {} : { zones }),
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
