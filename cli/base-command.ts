/** What every onex command shares: `--debug`, and errors printed as one clear line with a documented exit code. */
import { Command, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { ExitCode, exitCodeFor, schemaExitCodeFor } from "./exit-codes.js";
import { readFailure, writeFailure } from "./file-errors.js";
import { printable } from "./terminal-text.js";

// oclif's own argument and flag errors, which are usage errors.
const OCLIF_USAGE = /Unexpected argument|Missing \d+ required arg|Missing required flag|Nonexistent flag|Expected --|Expected a|exclusive|cannot also be provided|Parsing --|flag .* expects/i;

export abstract class OnexCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: "Print stack traces and error details.", default: false, helpGroup: "GLOBAL" }),
  };

  /** Whether the command's inputs are the schemas, whose broken text exits 3 (exit-codes.ts `schemaExitCodeFor`). */
  protected readonly readsSchemas: boolean = false;

  /**
   * Prints `text` on stdout and waits until it is written, so nothing said after it (a "printed"
   * on stderr) stands beside output that never arrived: a full disk is ONEX_E_WRITE_FAILED. A
   * closed pipe is left to bin/onex.js, which ends quietly.
   */
  protected async print(text: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      // EPIPE resolves here because stdout's "error" listeners decide what it means (output-file.ts: exit 73 while an output file is pending; else bin/onex.js: exit 0).
      process.stdout.write(`${text}\n`, (error) => (error && (error as NodeJS.ErrnoException).code !== "EPIPE" ? reject(writeFailure(error, "stdout")) : resolve()));
    });
  }

  /**
   * oclif reads `--force=false` as `--force` and an argument "false": the flag was set, and
   * "false" taken as an input file (`migrate v0.1 v0.2 --out old.ndjson --force=false < log`
   * replaced old.ndjson, from a file named false). A boolean flag is given or left out.
   */
  protected override async init(): Promise<void> {
    await super.init();
    const flags: Record<string, { type?: string; char?: string } | undefined> = { ...this.ctor.baseFlags, ...this.ctor.flags };
    for (let i = 0; i < this.argv.length; i++) {
      const token = this.argv[i]!;
      if (token === "--") break;
      const short = /^-([a-zA-Z])$/.exec(token);
      if (short !== null && Object.values(flags).some((flag) => flag?.char === short[1] && flag?.type === "option")) i++;
      const named = /^--([^=]+)(=?)/.exec(token);
      if (named === null) continue;
      const flag = flags[named[1]!];
      if (flag?.type === "boolean" && named[2] === "=") throw new OnexError(ErrorCode.Usage, `--${named[1]} takes no value (${printable(token)} was given): give --${named[1]} to set it, or leave it out`);
      // The next word is this flag's value, whatever it looks like.
      if (flag?.type === "option" && named[2] === "") i++;
    }
  }

  protected override async catch(error: Error & { exitCode?: number; oclif?: { exit?: number }; code?: string; syscall?: string; path?: string }): Promise<void> {
    const debug = this.argv.includes("--debug");
    const failure = error instanceof OnexError ? error : fileSystemFailure(error);
    if (failure !== undefined) {
      this.logToStderr(`error ${failure.code}: ${printable(failure.message)}`);
      // Lines an error carries beside its message (onex check's sample and replay command): each its own line, escaped as the message is.
      const lines = failure.details.lines;
      if (Array.isArray(lines)) for (const line of lines) this.logToStderr(`  ${printable(String(line))}`);
      if (debug) this.logToStderr(JSON.stringify(failure.details, null, 2) + "\n" + (failure.stack ?? ""));
      process.exitCode = this.readsSchemas ? schemaExitCodeFor(failure.code) : exitCodeFor(failure.code);
      return;
    }
    if (error.oclif?.exit !== undefined || OCLIF_USAGE.test(error.message)) {
      if (error.oclif?.exit === 0) return;
      this.logToStderr(`error ${ErrorCode.Usage}: ${usageMessage(error.message)} (see \`${this.config.bin} ${this.id?.replace(/:/g, " ") ?? ""} --help\`)`);
      process.exitCode = ExitCode.Usage;
      return;
    }
    this.logToStderr(`error ${ErrorCode.Internal}: ${printable(error.message)} (run with --debug for the stack trace; please report it)`);
    if (debug) this.logToStderr(error.stack ?? "");
    process.exitCode = ExitCode.Internal;
  }
}

/** oclif's usage message on one line, naming what is missing or wrong (its first line alone often does not). */
function usageMessage(message: string): string {
  const lines = message
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^See more help with/.test(line));
  return printable(
    lines
      .join("; ")
      .replace(/^The following errors? occurred:;?\s*/, "")
      .replace(/Missing required flag (?!--)(\S+)/g, "Missing required flag --$1")
      .replace(/:;/g, ":")
      .replace(/\s{2,}/g, " "),
  );
}

/** A file-system error that escaped a command (a path a library opened) as its ONEX_E_ code, never ONEX_E_INTERNAL. */
function fileSystemFailure(error: { code?: string; syscall?: string; path?: string }): OnexError | undefined {
  if (typeof error.code !== "string" || typeof error.syscall !== "string") return undefined;
  const path = error.path ?? "(unknown path)";
  if (/^(open|read|stat|lstat|scandir|opendir|readlink|access)$/.test(error.syscall) && !/EEXIST|ENOSPC|EROFS/.test(error.code)) return readFailure(error, path, "file");
  return writeFailure(error, path);
}
