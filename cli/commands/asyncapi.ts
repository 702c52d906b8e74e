import { isIPv6 } from "node:net";
import { resolve } from "node:path";
import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import type { AsyncApiFormat } from "../../generator/asyncapi/asyncapi-document.js";
import { OnexCommand } from "../base-command.js";
import { writeOutputFile } from "../output-file.js";
import { schemasDirOf } from "../sdk.js";
import { schemasFlag } from "../sdk-flags.js";
import { isWithin, realPathOf } from "../../generator/path-within.js";

export default class AsyncApi extends OnexCommand {
  protected override readonly readsSchemas = true;

  static override summary = "Write the AsyncAPI 3.0 document of one protocol version.";
  static override description = [
    "Describes one protocol version in AsyncAPI 3.0: a channel per subject template (parameters and their token encoding),",
    "a message per message type (the envelope as payload, schemas bundled in components, headers Nats-Msg-Id, Onex-Type and",
    "Onex-Version, an example), a send and a receive operation per channel, NATS bindings and the signature requirement as",
    "a message trait. Output is deterministic. See docs/asyncapi.md.",
    "",
    "Exit codes: 0 written; 2 usage (unknown version or format, --server not host:port, --out exists without --force, --out inside the schemas folder); 3 a manifest or schema is",
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
    server: Flags.string({ description: "host:port of the NATS server the document names (a nats://host:port URL is taken as its host:port).", default: "localhost:4222" }),
    force: Flags.boolean({ description: "Replace --out if it exists.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AsyncApi);
    const server = serverOf(flags.server);
    const schemasDir = schemasDirOf(flags.schemas);
    // Even with --force: a manifest or schema file replaced by the document is the version's definition lost.
    if (flags.out !== undefined && isWithin(realPathOf(resolve(flags.out)), realPathOf(schemasDir))) {
      throw new OnexError(ErrorCode.Usage, `--out ${flags.out} is inside the schemas folder ${schemasDir}, whose files it could replace: write the document beside it`, { file: flags.out, schemas: schemasDir });
    }
    const format = (flags.format ?? (flags.out?.toLowerCase().endsWith(".json") ? "json" : "yaml")) as AsyncApiFormat;
    const { versionAsyncApi } = await import("../../generator/asyncapi/version-asyncapi.js");
    const text = await versionAsyncApi(schemasDir, args.version, format, { server });
    if (!flags.out) {
      process.stdout.write(text);
      return;
    }
    writeOutputFile(flags.out, text, { force: flags.force });
    this.logToStderr(`wrote ${flags.out} (AsyncAPI 3.0.0, ${format})`);
  }
}

/** A host name or IPv4 address: dot-separated labels of letters, digits, inner hyphens and underscores (Compose and Kubernetes names: nats_1), an optional final dot. */
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * The `host:port` the document names in `servers.nats.host`, where tools connect: refused
 * (ONEX_E_USAGE) unless it is one, since "", "host:" or ":99999" would make a document that
 * names no server. A `nats://host:port` URL, the form the NATS commands' --server takes, is
 * taken as its host:port (AsyncAPI 3 keeps the scheme apart, as `protocol: nats`).
 */
function serverOf(text: string): string {
  const hostPort = text.replace(/^nats:\/\//i, "");
  const match = /^(?:\[([^\]]*)\]|([^:[\]]+)):([1-9]\d{0,4})$/.exec(hostPort);
  const port = Number(match?.[3]);
  if (match === null || !(match[1] === undefined ? HOST_NAME.test(match[2]!) : isIPv6(match[1])) || port > 65_535) {
    throw new OnexError(ErrorCode.Usage, `--server "${text}" is not host:port (for example nats.example.org:4222, 10.0.0.5:4222, [::1]:4222 or nats://nats.example.org:4222), with a port from 1 to 65535`, { server: text });
  }
  return hostPort;
}

