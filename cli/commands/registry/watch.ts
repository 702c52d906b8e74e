import { Flags } from "@oclif/core";
import { assertZoneId } from "@onex/runtime";
import { EntityType } from "@onex/runtime/registry";
import type { RegistryChange } from "@onex/runtime/registry";
import { OnexCommand } from "../../base-command.js";
import { printableJson } from "../../terminal-text.js";
import { entryJson, onlyZone, registryFlags, withRegistry } from "../../registry-flags.js";

export default class RegistryWatch extends OnexCommand {
  static override summary = "Print registry changes as JSON lines until interrupted.";
  static override description = "Prints the current entries first (kind registered, initial true) unless --updates-only, then registrations, deregistrations, expiries and tampered entries as they happen. When the registry's server goes away it says so on stderr (a warning line), waits for it and resumes after the last change it printed; SIGINT or SIGTERM ends it with exit 0.";
  static override examples = ["<%= config.bin %> registry watch --zone zone.trusted.org --registry etcd://127.0.0.1:2379"];
  static override flags = {
    ...registryFlags,
    zone: Flags.string({ description: "Only this zone." }),
    type: Flags.string({ description: "Only this entity type.", options: Object.values(EntityType) }),
    "updates-only": Flags.boolean({ description: "Skip the entries present at the start.", default: false }),
    count: Flags.integer({ description: "Stop after this many changes.", min: 1, max: Number.MAX_SAFE_INTEGER }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RegistryWatch);
    if (flags.zone !== undefined) assertZoneId(flags.zone, "--zone");
    await withRegistry(flags, async (registry) => {
      const changes = registry.watch({ ...(flags.zone ? { zone: flags.zone } : {}), ...(flags.type ? { entityType: flags.type as EntityType } : {}) }, { updatesOnly: flags["updates-only"] });
      const stop = () => void changes.return?.();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      let seen = 0;
      for await (const change of changes) {
        this.log(printableJson(changeJson(change)));
        if (flags.count !== undefined && ++seen >= flags.count) break;
      }
    }, onlyZone(flags.zone));
  }
}

function changeJson(change: RegistryChange): Record<string, unknown> {
  switch (change.kind) {
    case "registered":
      return { kind: change.kind, initial: change.initial, ...entryJson(change.entry) };
    case "tampered":
      return { kind: change.kind, address: change.address, code: change.error.code, message: change.error.message };
    default:
      return { kind: change.kind, address: change.address, ...(change.last ? { node_id: change.last.entry.node_id } : {}) };
  }
}
