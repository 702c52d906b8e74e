import { Args, Flags } from "@oclif/core";
import type { AsyncApiFormat } from "../../generator/asyncapi/asyncapi-document.js";
import { OnexCommand } from "../base-command.js";
import { writeOutputFile } from "../output-file.js";
import { schemasDirOf } from "../sdk.js";
import { schemasFlag } from "../sdk-flags.js";

export default class AsyncApi extends OnexCommand {
  static override summary = "Write the AsyncAPI 3.0 document of one protocol version.";
  static override description = [
    "Describes one protocol version in AsyncAPI 3.0: a channel per subject template (parameters and their token encoding),",
    "a message per message type (the envelope as payload, schemas bundled in components, headers Nats-Msg-Id, Onex-Type and",
    "Onex-Version, an example), a send and a receive operation per channel, NATS bindings and the signature requirement as",
    "a message trait. Output is deterministic. See docs/asyncapi.md.",
    "",
    "Exit codes: 0 written; 2 usage (unknown version or format, --out exists without --force); 3 a manifest or schema is",
    "broken, or a schema uses a keyword AsyncAPI cannot express (ONEX_E_ASYNCAPI_UNSUPPORTED); 73 --out cannot be written.",
  ].join("\n");
  static override examples = [
    "<%= config.bin %> asyncapi v0.2",
    "<%= config.bin %> asyncapi 0.1 --format json --out asyncapi-v0.1.json",
  ];

  static override args = {
    version: Args.string({ description: "Protocol version, as v0.2 or 0.2.", required: true }),
  };

  static override flags = {
    format: Flags.string({ description: "yaml or json; by default taken from the --out extension, else yaml.", options: ["yaml", "json"] }),
    out: Flags.string({ description: "File to write; standard output when omitted." }),
    schemas: schemasFlag,
    server: Flags.string({ description: "host:port of the NATS server the document names.", default: "localhost:4222" }),
    force: Flags.boolean({ description: "Replace --out if it exists.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AsyncApi);
    const format = (flags.format ?? (flags.out?.endsWith(".json") ? "json" : "yaml")) as AsyncApiFormat;
    const { versionAsyncApi } = await import("../../generator/asyncapi/version-asyncapi.js");
    const text = await versionAsyncApi(schemasDirOf(flags.schemas), args.version, format, { server: flags.server });
    if (!flags.out) {
      process.stdout.write(text);
      return;
    }
    writeOutputFile(flags.out, text, { force: flags.force });
    this.logToStderr(`wrote ${flags.out} (AsyncAPI 3.0.0, ${format})`);
  }
}
