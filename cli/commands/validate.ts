import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError, isOnexError } from "../../runtime/errors.js";
import { OnexCommand } from "../base-command.js";
import { openInput, readMessages } from "../message-input.js";
import { loadSdk, resolveVersion } from "../sdk.js";

export default class Validate extends OnexCommand {
  static override summary = "Check JSON or NDJSON messages against a protocol version.";
  static override description =
    "Validates every message with the generated validators. Prints one line per failure (line, message type, schema path, code) and a summary; exits 1 when any message fails.";
  static override examples = ["<%= config.bin %> validate v0.1 messages.ndjson", "cat log.ndjson | <%= config.bin %> validate 0.2 -"];

  static override args = {
    version: Args.string({ description: "Protocol version, as v0.2 or 0.2.", required: true }),
    // ignoreStdin: oclif would otherwise read piped stdin into this argument as a file name.
    file: Args.string({ description: "JSON or NDJSON file; - or nothing reads stdin.", ignoreStdin: true }),
  };

  static override flags = {
    json: Flags.boolean({ description: "Print each failure and the summary as JSON lines.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Validate);
    const version = resolveVersion(args.version);
    const sdk = await loadSdk(version);
    const file = args.file ?? "-";
    let checked = 0;
    let failed = 0;
    for await (const item of readMessages(openInput(file), file)) {
      checked++;
      const value = "value" in item ? item.value : undefined;
      let error: OnexError | undefined = "error" in item ? item.error : undefined;
      if (!error) {
        try {
          sdk.parseMessage(value as object);
        } catch (caught) {
          if (!isOnexError(caught)) throw caught;
          error = caught;
        }
      }
      if (!error) continue;
      failed++;
      const type = typeof (value as { type?: unknown } | undefined)?.type === "string" ? (value as { type: string }).type : "-";
      if (flags.json) {
        this.log(JSON.stringify({ line: item.line, type, code: error.code, schemaPath: error.details.schemaPath ?? null, instancePath: error.details.instancePath ?? null, message: error.message }));
      } else {
        const path = error.details.schemaPath ? ` ${String(error.details.schemaPath)}` : "";
        this.log(`${file}:${item.line}: ${type}${path} ${error.code}: ${error.message}`);
      }
    }
    const summary = `${checked} message(s) checked against v${version}: ${checked - failed} valid, ${failed} invalid`;
    if (flags.json) this.log(JSON.stringify({ checked, valid: checked - failed, invalid: failed, version }));
    if (failed > 0) throw new OnexError(ErrorCode.ValidationFailed, summary, { version });
    if (!flags.json) this.logToStderr(summary);
  }
}
