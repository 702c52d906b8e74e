/** What every onex command shares: `--debug`, and errors printed as one clear line with a documented exit code. */
import { Command, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "../runtime/errors.js";
import { ExitCode, exitCodeFor } from "./exit-codes.js";

export abstract class OnexCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: "Print stack traces and error details.", default: false, helpGroup: "GLOBAL" }),
  };

  protected override async catch(error: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    const debug = this.argv.includes("--debug");
    if (error instanceof OnexError) {
      this.logToStderr(`error ${error.code}: ${error.message}`);
      if (debug) this.logToStderr(JSON.stringify(error.details, null, 2) + "\n" + (error.stack ?? ""));
      process.exitCode = exitCodeFor(error.code);
      return;
    }
    // oclif's own argument and flag errors are usage errors.
    if (error.oclif?.exit !== undefined || /Unexpected argument|Missing \d+ required arg|Nonexistent flag|Expected --/.test(error.message)) {
      if (error.oclif?.exit === 0) return;
      this.logToStderr(`error ${ErrorCode.Usage}: ${error.message.split("\n")[0]}`);
      process.exitCode = ExitCode.Usage;
      return;
    }
    this.logToStderr(`error ${ErrorCode.Internal}: ${error.message} (run with --debug for the stack trace; please report it)`);
    if (debug) this.logToStderr(error.stack ?? "");
    process.exitCode = ExitCode.Internal;
  }
}
