import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { DEFAULT_ZONE_ADMIN_CONNECTIONS, DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS, DEFAULT_ZONE_CONNECTIONS, DEFAULT_ZONE_CONSUMERS, DEFAULT_ZONE_SUBSCRIPTIONS, natsAccountsConfig, type ZoneAccountLimits } from "@onex/runtime/jetstream";
import { loadProjectSdks } from "../sdk.js";
import { OnexCommand } from "../base-command.js";
import { readIdentities } from "../identities-file.js";
import { writeOutputFile } from "../output-file.js";
import { parseByteSize } from "../byte-size.js";
import { namesInput } from "../same-file.js";
import { sdkFlags } from "../sdk-flags.js";
import { accountsOf, authConfigChanges, droppedLines, previousConfig } from "../auth-config-changes.js";
import { printable } from "../terminal-text.js";

export default class NatsAuth extends OnexCommand {
  static override summary = "Write a NATS accounts config: an account per zone for its streams and admins, one for its members, each member confined to its zone.";
  static override description =
    "IDENTITIES is a YAML or JSON list of {user, password, zone, role}. Each zone is one NATS account with its own JetStream, so nothing of one zone — subjects, streams, replies — is visible from another. Its members are in an account of their own that reaches the zone's only through imports, so what JetStream sends to a reply subject a member names comes back to the members' account, never into a stream. Within its zone, a member may publish and subscribe only on the zone's subjects, use the JetStream API only on the zone's event streams, write dead letters only under the zone, and read replies only under its own inbox prefix (_INBOX_<user>: connect with `inboxPrefix`; onex's commands take --inbox-prefix). A zone's admins are unrestricted in its account but for its limits on connections and subscriptions (--zone-admin-connections, --zone-admin-subscriptions); `onex streams apply --identities IDENTITIES` connects as them to create each zone's streams. Include the output in nats-server's config. Over a config it wrote before (--out with --force), it lists what the new one changes: accounts, users, passwords, permissions, limits, exports and imports (the limits are this run's flags: one left out is lifted), and each hand-edited line it drops, by name, never its value.";
  static override examples = ["<%= config.bin %> nats-auth identities.yaml --out auth.conf"];
  static override args = { identities: Args.string({ description: "YAML or JSON file listing the identities.", required: true }) };
  static override flags = {
    ...sdkFlags,
    out: Flags.string({ description: "Write the config here (mode 0600: it holds passwords) instead of stdout." }),
    force: Flags.boolean({ description: "Replace --out if it exists.", default: false }),
    "zone-storage": Flags.string({ description: "JetStream file storage each zone's account may use, like 512MB or 10GB: a zone that fills its own cannot take another's." }),
    "zone-consumers": Flags.integer({
      description: `JetStream consumers each of a zone's streams may hold (one per subscription; nats-server counts an account's limit per stream): their state costs the server memory and disk no storage limit counts. Default ${DEFAULT_ZONE_CONSUMERS}.`,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    }),
    "zone-connections": Flags.integer({
      description: `Connections a zone's members may hold at once, all together: the server's own max_connections counts every zone's, so one member opening them without end would leave other zones none. Default ${DEFAULT_ZONE_CONNECTIONS}.`,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    }),
    "zone-subscriptions": Flags.integer({
      description: `Core subscriptions each connection of a zone's members may hold: each costs the server memory no JetStream limit counts. Default ${DEFAULT_ZONE_SUBSCRIPTIONS}.`,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    }),
    "zone-admin-connections": Flags.integer({
      description: `Connections a zone's admins may hold at once, all together (apart from its members'): its registry clients and operators' tools count here. Default ${DEFAULT_ZONE_ADMIN_CONNECTIONS}.`,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    }),
    "zone-admin-subscriptions": Flags.integer({
      description: `Core subscriptions each connection of a zone's admins may hold. Default ${DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS}.`,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NatsAuth);
    // Even with --force: the identities file replaced by the config is the list of users, zones and roles lost.
    if (flags.out !== undefined && namesInput(flags.out, args.identities)) {
      throw new OnexError(ErrorCode.Usage, `--out names the identities file (${args.identities === "-" ? "stdin" : args.identities}); the list of identities would be lost: write the config to another file`);
    }
    const identities = await readIdentities(args.identities);
    const limits: ZoneAccountLimits = {
      ...(flags["zone-storage"] !== undefined ? { maxFileBytes: parseByteSize(flags["zone-storage"], "zone-storage") } : {}),
      ...(flags["zone-consumers"] !== undefined ? { maxConsumers: flags["zone-consumers"] } : {}),
      ...(flags["zone-connections"] !== undefined ? { maxConnections: flags["zone-connections"] } : {}),
      ...(flags["zone-subscriptions"] !== undefined ? { maxSubscriptions: flags["zone-subscriptions"] } : {}),
      ...(flags["zone-admin-connections"] !== undefined ? { maxAdminConnections: flags["zone-admin-connections"] } : {}),
      ...(flags["zone-admin-subscriptions"] !== undefined ? { maxAdminSubscriptions: flags["zone-admin-subscriptions"] } : {}),
    };
    const config = natsAccountsConfig(await loadProjectSdks(flags), identities, limits);
    if (!flags.out) {
      this.log(config.trimEnd());
      return;
    }
    // What the config replaced held, to say what the new one changes (a limit flag left out of this run is a limit lifted).
    const previous = flags.force ? previousConfig(flags.out) : undefined;
    // Passwords: owner-only from the first byte, written whole, never over an existing file without --force.
    writeOutputFile(flags.out, config, { force: flags.force, mode: 0o600 });
    if (previous === undefined) return;
    // --force over a server's own config (or any other file) replaced it without a word.
    if (previous === null) {
      this.logToStderr(`warning: ${printable(flags.out)} could not be read (unreadable, or larger than any config onex writes); --force replaced it with the generated config`);
      return;
    }
    const before = accountsOf(previous);
    if (before === undefined) {
      this.logToStderr(`warning: ${printable(flags.out)} (${Buffer.byteLength(previous)} bytes) was not written by \`onex nats-auth\`; --force replaced it with the generated config`);
      return;
    }
    const changes = [...authConfigChanges(before, accountsOf(config)!), ...droppedLines(previous, config).map((line) => `dropped ${line}, in no form onex writes (a hand edit?)`)];
    this.log(changes.length === 0 ? `${printable(flags.out)}: no change` : `${printable(flags.out)}: ${changes.length} change(s); reload nats-server (nats-server --signal reload) to apply them`);
    for (const change of changes) this.log(`  ${change}`);
  }
}
