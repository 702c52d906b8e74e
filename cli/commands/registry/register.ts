import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError, isOnexError, isZoneId, verifyRegistryEntry } from "@onex/runtime";
import { assertZone, keepAlive } from "@onex/runtime/registry";
import type { NodeIdentityRecord, RegistryEntryRecord } from "@onex/runtime";
import type { Registry } from "@onex/runtime/registry";
import { OnexCommand } from "../../base-command.js";
import { printableField, printableJson } from "../../terminal-text.js";
import { MAX_SMALL_FILE_BYTES, readJsonFile } from "../../key-files.js";
import { parseJsonBytes } from "../../message-input.js";
import { entryJson, onlyZone, registryFlags, withRegistry } from "../../registry-flags.js";

export default class RegistryRegister extends OnexCommand {
  static override summary = "Register a signed registry entry.";
  static override description =
    "Reads {\"entry\": <signed RegistryEntry>, \"identity\": <NodeIdentity>} and registers it after verifying the signature, the node id and the zone. With --heartbeat it keeps the entry alive until interrupted (SIGINT, SIGTERM), then deregisters it (exit 0; exit 69 when the registry cannot be reached to deregister, and the entry lapses after its TTL): a failed heartbeat (server restart, leader change) is logged on stderr and retried with back-off, a lapsed or replaced entry is registered again, and it exits early only when the registry refuses the entry for a reason retrying cannot fix (exit 1 with that code).";
  static override examples = ["<%= config.bin %> registry register node.json --registry nats://127.0.0.1:4222"];

  static override args = {
    // ignoreStdin: oclif would otherwise read piped stdin into this argument as a file name.
    file: Args.string({ description: "JSON file with entry and identity; - or nothing reads stdin.", ignoreStdin: true }),
  };

  static override flags = {
    ...registryFlags,
    heartbeat: Flags.boolean({ description: "Keep heart-beating (every third of the TTL) until interrupted, through server restarts.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryRegister);
    // The one JSON reader of every record file: duplicate member names, invalid UTF-8 and rounded numbers refused.
    const fromStdin = args.file === undefined || args.file === "-";
    const input = (fromStdin ? parseJsonBytes(await readStdin(), "-") : readJsonFile(args.file!, "registration")) as { entry?: RegistryEntryRecord; identity?: NodeIdentityRecord } | null;
    if (input?.entry === undefined || input.identity === undefined) throw new OnexError(ErrorCode.Usage, 'the registration must be {"entry": ..., "identity": ...}');
    refuseUnzonedEntry(input.entry, input.identity);
    await withRegistry(flags, async (registry) => {
      const stored = await registry.register(input.entry!, input.identity!);
      this.log(printableJson(entryJson(stored)));
      if (!flags.heartbeat) return;
      const interrupted = new AbortController();
      const stop = () => interrupted.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await keepAlive(registry, { entry: input.entry!, identity: input.identity! }, {
        signal: interrupted.signal,
        logger: { warn: (message) => process.stderr.write(`${printableField(message)}\n`) },
      });
      await deregisterOnStop(registry, stored.address);
    }, onlyZone(input.entry.zone));
  }
}

/**
 * An entry whose zone is no zone id can be registered nowhere, and names no zone to open the
 * registry with: opened for every zone, a role kept to one zone was refused (exit 69), which said
 * nothing of the entry. It is checked here, before the registry opens, as the registry checks it:
 * its signature and identity first (a zone changed after signing is ONEX_E_IDENTITY_MISMATCH),
 * then the zone itself (ONEX_E_ADDRESS_INVALID).
 */
function refuseUnzonedEntry(entry: RegistryEntryRecord, identity: NodeIdentityRecord): void {
  const zone = (entry as { zone?: unknown } | null)?.zone;
  if (isZoneId(zone)) return;
  verifyRegistryEntry(entry, undefined, { identity });
  assertZone(zone as string);
}

/**
 * The deregistration a stopped heartbeat owes. When the registry cannot be reached (the usual
 * case when a whole deployment is going down), the store's bare "request failed" said nothing of
 * what was being attempted or what becomes of the entry: the error now says both, so whoever
 * reads the service's log knows the node stays listed until its TTL lapses.
 */
async function deregisterOnStop(registry: Registry, address: string): Promise<void> {
  try {
    await registry.deregister(address);
  } catch (error) {
    if (!isOnexError(error, ErrorCode.RegistryUnavailable)) throw error;
    throw new OnexError(
      ErrorCode.RegistryUnavailable,
      `stopped, but could not deregister ${address}: ${error.message}; the entry stays listed until its TTL (${formatTtl(registry.ttlMs)}) lapses`,
      { ...error.details, address },
      { cause: error },
    );
  }
}

/** A TTL as the `?ttl=` it was most likely given: whole seconds when it is some. */
function formatTtl(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Standard input's bytes, at most what a registration file may hold. */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_SMALL_FILE_BYTES) throw new OnexError(ErrorCode.FileUnreadable, `cannot read the registration on stdin: it holds more than ${MAX_SMALL_FILE_BYTES / (1024 * 1024)} MiB`, { file: "-" });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
