import { once } from "node:events";
import { Args, Flags } from "@oclif/core";
import { stringify as yamlStringify } from "yaml";
import { migrate, migrationPath } from "../../generated/transforms/index.js";
import { ErrorCode, OnexError, isOnexError } from "../../runtime/errors.js";
import { stringifyJson } from "../../runtime/json-text.js";
import { OnexCommand } from "../base-command.js";
import { ExitCode } from "../exit-codes.js";
import { readInputBatches, type InputItem, type InputShape } from "../message-input.js";
import { OutputFile } from "../output-file.js";
import { printable } from "../terminal-text.js";
import { resolveVersion } from "../sdk.js";

/** Output is written in chunks of about this many characters: one write per line is the slowest part of a large log. */
const CHUNK = 1 << 16;

export default class Migrate extends OnexCommand {
  static override summary = "Move messages from one protocol version to another.";
  static override description = [
    "Reads one JSON document, a JSON array, NDJSON (streamed in constant memory) or YAML, validates every message against <from>,",
    "runs it through the generated adapters (v0.2 -> v0.0.9 passes through v0.1) and writes it in the same shape to stdout or --out.",
    "Data the target version cannot hold travels in `_residue`, so migrating back restores the message exactly; integers beyond 2^53 are carried digit for digit.",
    "--out and --dead-letter are written to a temporary file and moved into place when the run succeeds, so a failed run leaves no file; an existing file is replaced only with --force.",
    "A bad message (not JSON, invalid for <from>, unknown type, no counterpart in <to>) is reported with its line and code;",
    "--on-error decides what happens next. The summary on stderr counts messages read, written, skipped and dead-lettered.",
    "",
    "Exit codes: 0 every message written (or dead-lettered); 1 a bad message stopped the run (fail) or was skipped (skip);",
    "2 usage (unknown version, no transform path, bad flags, an output exists without --force); 3 the input cannot be read; 73 an output cannot be written.",
  ].join("\n");
  static override examples = [
    "<%= config.bin %> migrate v0.2 v0.1 docs/examples/v0.2.ndjson",
    "cat log.ndjson | <%= config.bin %> migrate 0.2 0.0.9 - --out old.ndjson --on-error dead-letter --dead-letter bad.ndjson",
  ];

  static override args = {
    from: Args.string({ description: "Version the input is in, as v0.2 or 0.2.", required: true }),
    to: Args.string({ description: "Version to write, as v0.1 or 0.1.", required: true }),
    // ignoreStdin: oclif would otherwise read a piped log into this argument, defeating streaming.
    file: Args.string({ description: "JSON, NDJSON or YAML file; - or nothing reads stdin.", ignoreStdin: true }),
  };

  static override flags = {
    out: Flags.string({ char: "o", description: "Write here instead of stdout." }),
    "on-error": Flags.string({ description: "What a bad message does: stop the run, skip it, or go to the dead-letter file.", options: ["fail", "skip", "dead-letter"], default: "fail" }),
    "dead-letter": Flags.string({ description: "NDJSON file for bad messages (implies --on-error dead-letter): line, code, message and the input." }),
    format: Flags.string({ description: "Input format; auto picks YAML for .yaml/.yml files, else JSON or NDJSON by content.", options: ["auto", "json", "yaml"], default: "auto" }),
    force: Flags.boolean({ description: "Replace --out and --dead-letter files that exist.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Migrate);
    const from = resolveVersion(args.from);
    const to = resolveVersion(args.to);
    migrationPath(from, to); // ONEX_E_NO_PATH before any input is read
    const onError = flags["dead-letter"] !== undefined ? "dead-letter" : flags["on-error"];
    if (onError === "dead-letter" && flags["dead-letter"] === undefined) {
      throw new OnexError(ErrorCode.Usage, "--on-error dead-letter needs --dead-letter FILE");
    }
    const file = args.file ?? "-";
    // Integers beyond 2^53 travel as BigInt and are written back digit for digit: migrate loses nothing.
    const items = readInputBatches({ file, format: flags.format as "auto", bigIntegers: "bigint", onTerminal: (hint) => this.logToStderr(hint) });

    // Outputs are created (and checked) only now that the arguments are known good, and committed only on success.
    const outFile = flags.out === undefined ? undefined : OutputFile.create(flags.out, { force: flags.force });
    let deadLetterFile: OutputFile | undefined;
    try {
      deadLetterFile = flags["dead-letter"] === undefined ? undefined : OutputFile.create(flags["dead-letter"], { force: flags.force });
    } catch (error) {
      outFile?.discard();
      throw error;
    }
    const out = new ChunkedWriter(outFile ?? process.stdout);
    const deadLetter = deadLetterFile === undefined ? undefined : new ChunkedWriter(deadLetterFile);
    try {
      await this.migrateAll(items, { from, to, file, onError, out, deadLetter, outFile, deadLetterFile });
    } catch (error) {
      outFile?.discard();
      deadLetterFile?.discard();
      throw error;
    }
  }

  private async migrateAll(
    items: AsyncGenerator<InputItem[]>,
    io: { from: string; to: string; file: string; onError: string; out: ChunkedWriter; deadLetter: ChunkedWriter | undefined; outFile: OutputFile | undefined; deadLetterFile: OutputFile | undefined },
  ): Promise<void> {
    const { from, to, file, onError, out, deadLetter } = io;
    const count = { read: 0, written: 0, skipped: 0, deadLettered: 0 };
    let shape: InputShape | undefined;
    let stoppedBy: OnexError | undefined;
    // Each batch is handled synchronously and written once: per-message awaits would cost more than migrating.
    batches: for await (const batch of items) {
      let output = "";
      for (const item of batch) {
        count.read++;
        shape ??= item.shape;
        const result = migrateItem(item, from, to);
        if (!(result instanceof OnexError)) {
          output += encodeOutput(result, shape, count.written);
          count.written++;
          continue;
        }
        const type = typeOf(item);
        const at = item.index === undefined ? "" : ` [${item.index}]`;
        this.logToStderr(`${printable(file)}:${item.line}:${at} ${printable(type)} ${result.code}: ${printable(result.message)}`);
        if (onError === "fail") {
          stoppedBy = result;
          await out.write(output);
          break batches;
        }
        if (onError === "skip") {
          count.skipped++;
          continue;
        }
        count.deadLettered++;
        await deadLetter!.write(stringifyJson({ line: item.line, ...(item.index === undefined ? {} : { index: item.index }), code: result.code, message: result.message, ...deadLetterInput(item) }) + "\n");
      }
      await out.write(output);
    }
    await out.write(closeOutput(shape, count.written));
    await out.end();
    await deadLetter?.end();
    // A run stopped by a bad message is a failure: its outputs are not left behind half done.
    if (stoppedBy) {
      io.outFile?.discard();
      io.deadLetterFile?.discard();
    } else {
      io.outFile?.commit();
      io.deadLetterFile?.commit();
    }

    const summary = `migrate v${from} -> v${to}: ${count.read} read, ${count.written} written, ${count.skipped} skipped, ${count.deadLettered} dead-lettered`;
    this.logToStderr(stoppedBy ? `${summary}; stopped at the first bad message (--on-error fail)` : summary);
    if (stoppedBy || count.skipped > 0) process.exitCode = ExitCode.Findings;
  }
}

/** What a dead letter keeps of the input: the message, the line's text, or its bytes when they are not UTF-8. */
function deadLetterInput(item: InputItem): Record<string, unknown> {
  if ("value" in item) return { input: item.value };
  if (item.rawBytes !== undefined) return { raw_base64: item.rawBytes.toString("base64") };
  return { raw: item.raw ?? null };
}

function migrateItem(item: InputItem, from: string, to: string): unknown {
  if ("error" in item) return item.error;
  try {
    return migrate(item.value, from, to);
  } catch (error) {
    if (isOnexError(error)) return error;
    throw error;
  }
}

function typeOf(item: InputItem): string {
  const value = "value" in item ? item.value : undefined;
  const type = value !== null && typeof value === "object" ? (value as { type?: unknown }).type : undefined;
  return typeof type === "string" ? type : "-";
}

/** One migrated message in the input's shape: NDJSON stays NDJSON, a JSON array stays an array, YAML stays YAML. */
function encodeOutput(value: unknown, shape: InputShape | undefined, index: number): string {
  switch (shape) {
    case "array":
      return `${index === 0 ? "[\n" : ",\n"}${indentJson(value)}`;
    case "document":
      return `${stringifyJson(value, 2)}\n`;
    case "yaml":
      return `${index === 0 ? "" : "---\n"}${yamlStringify(value)}`;
    default:
      return `${stringifyJson(value)}\n`;
  }
}

function closeOutput(shape: InputShape | undefined, written: number): string {
  if (shape !== "array") return "";
  return written === 0 ? "[]\n" : "\n]\n";
}

function indentJson(value: unknown): string {
  return stringifyJson(value, 2)
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}

/** Buffers small writes into large ones; on stdout it waits for `drain`, so memory stays flat on a slow consumer. */
class ChunkedWriter {
  private buffer = "";

  constructor(private readonly target: OutputFile | NodeJS.WriteStream) {}

  async write(text: string): Promise<void> {
    this.buffer += text;
    if (this.buffer.length >= CHUNK) await this.flush();
  }

  async end(): Promise<void> {
    await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer === "") return;
    const text = this.buffer;
    this.buffer = "";
    if (this.target instanceof OutputFile) this.target.write(text);
    else if (!this.target.write(text)) await once(this.target, "drain");
  }
}
