import { readFile, writeFile } from "node:fs/promises";
import { Args, Flags } from "@oclif/core";
import { parse as parseYaml } from "yaml";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { natsAuthorizationConfig, type AuthIdentity } from "../../runtime/jetstream/authorization.js";
import { loadAllSdks } from "../all-sdks.js";
import { OnexCommand } from "../base-command.js";

export default class NatsAuth extends OnexCommand {
  static override summary = "Write a NATS authorization config that confines each identity to its zone's subjects.";
  static override description =
    "IDENTITIES is a YAML or JSON list of {user, password, zone, role}. Members may publish and subscribe only on their zone's subjects, create JetStream consumers only filtered to their zone, and read replies only under their own inbox prefix (_INBOX_<user>: connect with `inboxPrefix`). Admins are unrestricted. Include the output in nats-server's config.";
  static override examples = ["<%= config.bin %> nats-auth identities.yaml --out auth.conf"];
  static override args = { identities: Args.string({ description: "YAML or JSON file listing the identities.", required: true }) };
  static override flags = { out: Flags.string({ description: "Write the config here instead of stdout." }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NatsAuth);
    const text = await readFile(args.identities, "utf8").catch((cause: unknown) => {
      throw new OnexError(ErrorCode.FileNotFound, `cannot read ${args.identities}`, { file: args.identities }, { cause });
    });
    const identities = parseYaml(text) as unknown;
    if (!Array.isArray(identities) || identities.some((i) => !isIdentity(i))) {
      throw new OnexError(ErrorCode.Usage, `${args.identities} must be a list of {user, password, zone, role?}; members need a zone`, { file: args.identities });
    }
    const config = natsAuthorizationConfig(await loadAllSdks(), identities as AuthIdentity[]);
    if (flags.out) await writeFile(flags.out, config, { mode: 0o600 });
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
