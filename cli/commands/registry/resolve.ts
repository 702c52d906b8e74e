import { Args } from "@oclif/core";
import { OnexCommand } from "../../base-command.js";
import { printableJson } from "../../terminal-text.js";
import { entryJson, onlyZone, registryFlags, withRegistry, zoneOfAddress } from "../../registry-flags.js";

export default class RegistryResolve extends OnexCommand {
  static override summary = "Resolve a canonical address to its verified registry entry.";
  static override description = "Prints the entry as JSON after re-verifying it; exits 1 with ONEX_E_NOT_FOUND or ONEX_E_ENTRY_TAMPERED.";
  static override examples = ["<%= config.bin %> registry resolve onex://zone.trusted.org/node/node-3f2a --registry etcd://127.0.0.1:2379"];
  static override args = { address: Args.string({ description: "Canonical address onex://<zone>/<entity_type>/<id>.", required: true, ignoreStdin: true }) };
  static override flags = { ...registryFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryResolve);
    await withRegistry(flags, async (registry) => this.log(printableJson(entryJson(await registry.resolve(args.address)), 2)), onlyZone(zoneOfAddress(args.address)));
  }
}
