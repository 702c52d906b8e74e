import { Args, Flags } from "@oclif/core";
import { natsAuthorizationConfig } from "../../runtime/jetstream/authorization.js";
import { loadAllSdks } from "../all-sdks.js";
import { OnexCommand } from "../base-command.js";
import { readIdentities } from "../identities-file.js";
import { writeOutputFile } from "../output-file.js";

export default class NatsAuth extends OnexCommand {
  static override summary = "Write a NATS authorization config that confines each identity to its zone's subjects.";
  static override description =
    "IDENTITIES is a YAML or JSON list of {user, password, zone, role}. Members may publish and subscribe only on their zone's subjects, use the JetStream API only on their zone's own streams (create them with `onex streams apply --identities IDENTITIES`), write dead letters only under their zone, and read replies only under their own inbox prefix (_INBOX_<user>: connect with `inboxPrefix`). Admins are unrestricted. Include the output in nats-server's config.";
  static override examples = ["<%= config.bin %> nats-auth identities.yaml --out auth.conf"];
  static override args = { identities: Args.string({ description: "YAML or JSON file listing the identities.", required: true }) };
  static override flags = {
    out: Flags.string({ description: "Write the config here (mode 0600: it holds passwords) instead of stdout." }),
    force: Flags.boolean({ description: "Replace --out if it exists.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NatsAuth);
    const identities = await readIdentities(args.identities);
    const config = natsAuthorizationConfig(await loadAllSdks(), identities);
    // Passwords: owner-only from the first byte, written whole, never over an existing file without --force.
    if (flags.out) writeOutputFile(flags.out, config, { force: flags.force, mode: 0o600 });
    else this.log(config.trimEnd());
  }
}
