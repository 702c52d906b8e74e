import { Flags } from "@oclif/core";
import { assertZoneId } from "@onex/runtime";
import { EntityType } from "@onex/runtime/registry";
import { HealthStatus } from "@onex/runtime/registry";
import { OnexCommand } from "../../base-command.js";
import { printableJson } from "../../terminal-text.js";
import { entryJson, onlyZone, registryFlags, withRegistry } from "../../registry-flags.js";

export default class RegistryList extends OnexCommand {
  static override summary = "List live, verified registry entries.";
  static override description = "One JSON line per entry, sorted by address. Entries that fail re-verification are reported on stderr and not listed.";
  static override examples = ["<%= config.bin %> registry list --zone zone.trusted.org --health passing --registry nats://127.0.0.1:4222"];
  static override flags = {
    ...registryFlags,
    zone: Flags.string({ description: "Only this zone." }),
    type: Flags.string({ description: "Only this entity type.", options: Object.values(EntityType) }),
    health: Flags.string({ description: "Only this health status.", options: Object.values(HealthStatus) }),
    capability: Flags.string({ description: "Only entries declaring this capability." }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RegistryList);
    if (flags.zone !== undefined) assertZoneId(flags.zone, "--zone");
    const entries = await withRegistry(flags, (registry) =>
      registry.list({
        ...(flags.zone ? { zone: flags.zone } : {}),
        ...(flags.type ? { entityType: flags.type as EntityType } : {}),
        ...(flags.health ? { health: flags.health as HealthStatus } : {}),
        ...(flags.capability ? { capability: flags.capability } : {}),
      }),
      onlyZone(flags.zone),
    );
    for (const entry of entries) this.log(printableJson(entryJson(entry)));
    this.logToStderr(`${entries.length} entr${entries.length === 1 ? "y" : "ies"}`);
  }
}
