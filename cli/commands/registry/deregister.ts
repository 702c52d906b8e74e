import { Args } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { OnexCommand } from "../../base-command.js";
import { onlyZone, registryFlags, withRegistry, zoneOfAddress } from "../../registry-flags.js";

export default class RegistryDeregister extends OnexCommand {
  static override summary = "Remove the entry at a canonical address.";
  static override examples = ["<%= config.bin %> registry deregister onex://zone.trusted.org/node/node-3f2a --registry nats://127.0.0.1:4222"];
  static override args = { address: Args.string({ description: "Canonical address.", required: true, ignoreStdin: true }) };
  static override flags = { ...registryFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryDeregister);
    const removed = await withRegistry(flags, (registry) => registry.deregister(args.address), onlyZone(zoneOfAddress(args.address)));
    if (!removed) throw new OnexError(ErrorCode.NotFound, `no entry at ${args.address}`, { address: args.address });
    this.logToStderr(`deregistered ${args.address}`);
  }
}
