import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { natsAuthorizationConfig, type AuthIdentity } from "../../runtime/jetstream/authorization.js";
import { loadAllSdks } from "../all-sdks.js";
import { OnexCommand } from "../base-command.js";
import { readInput } from "../message-input.js";
import { writeOutputFile } from "../output-file.js";

export default class NatsAuth extends OnexCommand {
  static override summary = "Write a NATS authorization config that confines each identity to its zone's subjects.";
  static override description =
    "IDENTITIES is a YAML or JSON list of {user, password, zone, role}. Members may publish and subscribe only on their zone's subjects, create JetStream consumers only filtered to their zone, and read replies only under their own inbox prefix (_INBOX_<user>: connect with `inboxPrefix`). Admins are unrestricted. Include the output in nats-server's config.";
  static override examples = ["<%= config.bin %> nats-auth identities.yaml --out auth.conf"];
  static override args = { identities: Args.string({ description: "YAML or JSON file listing the identities.", required: true }) };
  static override flags = {
    out: Flags.string({ description: "Write the config here (mode 0600: it holds passwords) instead of stdout." }),
    force: Flags.boolean({ description: "Replace --out if it exists.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NatsAuth);
    // The one input reader: YAML or JSON, with its codes for unreadable, malformed or duplicate-keyed input.
    let identities: unknown;
    for await (const item of readInput({ file: args.identities, format: "yaml" })) {
      if ("error" in item) throw new OnexError(item.error.code, `${args.identities}: ${item.error.message}`, item.error.details, { cause: item.error });
      identities = item.value;
      break;
    }
    if (!Array.isArray(identities) || identities.some((i) => !isIdentity(i))) {
      throw new OnexError(ErrorCode.Usage, `${args.identities} must be a list of {user, password, zone, role?}; members need a zone`, { file: args.identities });
    }
    const config = natsAuthorizationConfig(await loadAllSdks(), identities as AuthIdentity[]);
    // Passwords: owner-only from the first byte, written whole, never over an existing file without --force.
    if (flags.out) writeOutputFile(flags.out, config, { force: flags.force, mode: 0o600 });
    else this.log(config.trimEnd());
  }
}

function isIdentity(value: unknown): boolean {
  const i = value as Partial<AuthIdentity> | null;
  return (
    i !== null &&
    typeof i === "object" &&
    typeof i.user === "string" &&
    typeof i.password === "string" &&
    (i.role === "admin" || ((i.role === undefined || i.role === "member") && typeof i.zone === "string" && i.zone !== ""))
  );
}
