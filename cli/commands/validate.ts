import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError, declaredVersionOf, isOnexError } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { readInput } from "../message-input.js";
import { printable, printableField, printableJson } from "../terminal-text.js";
import { openProjectSdk } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";

export default class Validate extends OnexCommand {
  static override summary = "Check JSON, NDJSON or YAML messages against a protocol version.";
  static override description =
    "Validates every message with the validators generated from --schemas (exactly as `onex generate` last wrote them; ONEX_E_SDK_STALE when they are not current). Prints one line per failure (line, message type, schema path, code) and a summary; exits 1 when any message fails.";
  static override examples = [
    "<%= config.bin %> validate v0.1 messages.ndjson",
    "cat log.ndjson | <%= config.bin %> validate 0.2 -",
    "<%= config.bin %> validate v0.3 log.ndjson --schemas my-protocol/schemas",
  ];

  static override args = {
    version: Args.string({ description: "Protocol version, as v0.2 or 0.2.", required: true }),
    // ignoreStdin: oclif would otherwise read piped stdin into this argument as a file name.
    file: Args.string({ description: "JSON, NDJSON or YAML file; - or nothing reads stdin.", ignoreStdin: true }),
  };

  static override flags = {
    ...sdkFlags,
    json: Flags.boolean({ description: "Print each failure and the summary as JSON lines.", default: false }),
    format: Flags.string({ description: "Input format; auto picks YAML for .yaml/.yml files, else JSON or NDJSON by content.", options: ["auto", "json", "yaml"], default: "auto" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Validate);
    const project = await openProjectSdk(flags);
    const version = project.resolveVersion(args.version);
    const sdk = await project.load(version);
    const file = args.file ?? "-";
    let checked = 0;
    let failed = 0;
    let otherVersions: Promise<unknown> | undefined;
    // Integers beyond 2^53 are carried exactly, so the schema (not the reader) decides whether they are valid.
    for await (const item of readInput({ file, format: flags.format as "auto", bigIntegers: "bigint", onTerminal: (hint) => this.logToStderr(hint) })) {
      checked++;
      const value = "value" in item ? item.value : undefined;
      let error: OnexError | undefined = "error" in item ? item.error : undefined;
      if (!error) {
        try {
          // parseMessage reads a string as a message's JSON text: a line that is a JSON string
          // would be judged as the message it spells. It is a value with no type, as any scalar.
          if (typeof value === "string") throw new OnexError(ErrorCode.UnknownType, `message has no string "type" field (v${version})`, { version });
          sdk.parseMessage(value as object);
        } catch (caught) {
          if (!isOnexError(caught)) throw caught;
          error = caught;
          // A line of another version (a mixed log): say which, not only what fails. The other
          // versions' SDKs (their envelope layouts) are loaded the first time a line fails.
          otherVersions ??= Promise.all(project.versions.map((v) => project.load(v)));
          await otherVersions;
          const declared = declaredVersionOf(value);
          if (declared !== undefined && declared !== version && project.versions.includes(declared)) {
            error = new OnexError(caught.code, `${caught.message}; the message declares v${declared}: validate it against v${declared}`, { ...caught.details, declared });
          }
        }
      }
      if (!error) continue;
      failed++;
      const type = typeof (value as { type?: unknown } | undefined)?.type === "string" ? (value as { type: string }).type : "-";
      if (flags.json) {
        this.log(printableJson({ line: item.line, ...(item.index === undefined ? {} : { index: item.index }), type, code: error.code, schemaPath: error.details.schemaPath ?? null, instancePath: error.details.instancePath ?? null, message: error.message }));
      } else {
        const path = error.details.schemaPath ? ` ${String(error.details.schemaPath)}` : "";
        const at = item.index === undefined ? "" : ` [${item.index}]`;
        this.log(`${printable(file)}:${item.line}:${at} ${printableField(type)}${printableField(path)} ${error.code}: ${printableField(error.message)}`);
      }
    }
    const summary = `${checked} message(s) checked against v${version}: ${checked - failed} valid, ${failed} invalid`;
    if (flags.json) this.log(JSON.stringify({ checked, valid: checked - failed, invalid: failed, version }));
    if (failed > 0) throw new OnexError(ErrorCode.ValidationFailed, summary, { version });
    if (!flags.json) this.logToStderr(summary);
  }
}
