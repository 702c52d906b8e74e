import { once } from "node:events";
import { availableParallelism } from "node:os";
import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { ExitCode } from "../exit-codes.js";
import { readInputLineBatches, readNdjsonBytes, type ByteBatch, type InputItem, type InputShape } from "../message-input.js";
import { closeOutput, type MigratedPiece, type MigrateFn } from "../migrate-batch.js";
import { namesInput, pathIsStandardOutput, sameFile } from "../same-file.js";
import { MAX_WAIT_MS, parseDuration } from "../duration.js";
import { BatchBuffers, MigratePool, type MigrateJobResult } from "../migrate-pool.js";
import { OutputFile } from "../output-file.js";
import { printable, printableField } from "../terminal-text.js";
import { openProjectSdk } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";

/** Output is written in chunks of about this many characters: one write per line is the slowest part of a large log. */
const CHUNK = 1 << 16;

/** The most messages of a batch read on this thread (the elements of an array) sent to a worker as one job. */
const ITEMS_PER_JOB = 10_000;

/** More threads than this only add memory: each holds its batches' shared buffers, and the command's one thread reads and writes for all. */
const MAX_WORKERS = 64;

export default class Migrate extends OnexCommand {
  static override summary = "Move messages from one protocol version to another.";
  static override description = [
    "Reads one JSON document, a JSON array, NDJSON (streamed in constant memory) or YAML, validates every message against <from>,",
    "runs it through the generated adapters (v0.2 -> v0.0.9 passes through v0.1), validates it against <to> and writes it in the same shape to stdout or --out.",
    "Data the target version cannot hold travels in `_residue`, so migrating back restores the message exactly; integers beyond 2^53 are carried digit for digit.",
    "--out and --dead-letter are written to a temporary file and moved into place when the run succeeds, so a failed run leaves no file; an existing file is replaced only with --force.",
    "The adapters are the ones generated from --schemas, exactly as `onex generate` last wrote them (ONEX_E_SDK_STALE when they are not current).",
    "Messages are validated and migrated on --workers threads (one per core by default), never on the command's own thread, output in input order:",
    "a signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) ends the run and removes its temporary files even while an escape function never returns.",
    "A bad message (not JSON, invalid for <from>, unknown type, no counterpart in <to>) is reported with its line and code;",
    "--on-error decides what happens next. The summary on stderr counts messages read, written, skipped and dead-lettered.",
    "",
    "Exit codes: 0 every message written (or dead-lettered); 1 a bad message stopped the run (fail) or was skipped (skip);",
    "2 usage (unknown version, no transform path, bad flags, an output exists without --force); 3 the input cannot be read; 70 a worker failed or exited (a bug); 73 an output cannot be written.",
  ].join("\n");
  static override examples = [
    "<%= config.bin %> migrate v0.2 v0.1 docs/examples/v0.2.ndjson --dead-letter dropped.ndjson",
    "cat log.ndjson | <%= config.bin %> migrate 0.2 0.0.9 - --out old.ndjson --on-error dead-letter --dead-letter bad.ndjson",
  ];

  static override args = {
    from: Args.string({ description: "Version the input is in, as v0.2 or 0.2.", required: true }),
    to: Args.string({ description: "Version to write, as v0.1 or 0.1.", required: true }),
    // ignoreStdin: oclif would otherwise read a piped log into this argument, defeating streaming.
    file: Args.string({ description: "JSON, NDJSON or YAML file; - or nothing reads stdin.", ignoreStdin: true }),
  };

  static override flags = {
    ...sdkFlags,
    out: Flags.string({ char: "o", description: "Write here instead of stdout." }),
    "on-error": Flags.string({ description: "What a bad message does: stop the run (fail, the default without --dead-letter), skip it, or go to the dead-letter file.", options: ["fail", "skip", "dead-letter"] }),
    "dead-letter": Flags.string({ description: "NDJSON file for bad messages (implies --on-error dead-letter): line, code, message and the input." }),
    format: Flags.string({ description: "Input format; auto picks YAML for .yaml/.yml files, else JSON or NDJSON by content.", options: ["auto", "json", "yaml"], default: "auto" }),
    force: Flags.boolean({ description: "Replace --out and --dead-letter files that exist.", default: false }),
    "message-timeout": Flags.string({ description: "How long one message's migration may run (an escape function that never returns): past it the worker is ended and the message reported as ONEX_E_TRANSFORM_UNSOUND, then handled as --on-error says.", default: "10s" }),
    workers: Flags.integer({ description: "Worker threads that migrate (0 is taken as 1: transforms never run on the command's own thread, which must stay free to answer a signal; at most 64); default: one per core, at most 64.", min: 0, max: MAX_WORKERS }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Migrate);
    const project = await openProjectSdk(flags);
    const from = project.resolveVersion(args.from);
    const to = project.resolveVersion(args.to);
    const transforms = await project.transforms();
    transforms.migrationPath(from, to); // ONEX_E_NO_PATH before any input is read
    const onError = flags["on-error"] ?? (flags["dead-letter"] !== undefined ? "dead-letter" : "fail");
    if (onError === "dead-letter" && flags["dead-letter"] === undefined) {
      throw new OnexError(ErrorCode.Usage, "--on-error dead-letter needs --dead-letter FILE");
    }
    if (onError !== "dead-letter" && flags["dead-letter"] !== undefined) {
      throw new OnexError(ErrorCode.Usage, `--on-error ${onError} and --dead-letter ask for two things: a bad message would ${onError === "fail" ? "stop the run" : "be skipped"}, and the dead-letter file stay empty; choose one`);
    }
    const file = args.file ?? "-";
    // Integers beyond 2^53 travel as BigInt and are written back digit for digit: migrate loses nothing.
    // At least one: transforms never run on the command's own thread (see migrateAll).
    const workers = Math.max(flags.workers ?? Math.min(availableParallelism(), MAX_WORKERS), 1);
    const messageTimeoutMs = parseDuration(flags["message-timeout"], "message-timeout", { min: 1, max: MAX_WAIT_MS });
    const buffers = new BatchBuffers(workers);
    const items = readInputLineBatches({ file, format: flags.format as "auto", bigIntegers: "bigint", onTerminal: (hint) => this.logToStderr(hint), batchBuffer: (size) => buffers.input(size), unusedBatchBuffer: (buffer) => buffers.returnInput(buffer) });

    if (flags.out !== undefined && flags["dead-letter"] !== undefined && sameFile(flags.out, flags["dead-letter"])) {
      throw new OnexError(ErrorCode.Usage, `--out and --dead-letter name the same file (${flags.out}); one would replace the other`);
    }
    // Even with --force: the input replaced by its migrated messages loses every one not written (skipped, dead-lettered, or all of them when the run stops).
    for (const [flag, path] of [["--out", flags.out], ["--dead-letter", flags["dead-letter"]]] as const) {
      // Refused before the input is read, not once it all was.
      if (path === "") throw new OnexError(ErrorCode.Usage, `${flag} is empty: name the file to write`);
      if (path !== undefined && namesInput(path, file)) throw new OnexError(ErrorCode.Usage, `${flag} names the input file (${file === "-" ? "stdin" : file}); the messages not written there would be lost: write to another file`);
      // `--dead-letter dead.ndjson --force > dead.ndjson`: the file moved into place replaced the one the migrated messages went to, and they were lost.
      if (path !== undefined && pathIsStandardOutput(path)) throw new OnexError(ErrorCode.Usage, `${flag} names the file standard output is redirected to (${path}); what is written to either would be lost: write to another file`);
    }
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
      await this.migrateAll(items, { from, to, file, onError, workers, out, deadLetter, outFile, deadLetterFile, migrate: transforms.migrate, transformsUrl: project.transformsUrl, buffers, messageTimeoutMs });
    } catch (error) {
      outFile?.discard();
      deadLetterFile?.discard();
      throw error;
    }
  }

  private async migrateAll(
    batches: AsyncGenerator<InputItem[] | ByteBatch>,
    io: { from: string; to: string; file: string; onError: string; workers: number; out: ChunkedWriter; deadLetter: ChunkedWriter | undefined; outFile: OutputFile | undefined; deadLetterFile: OutputFile | undefined; migrate: MigrateFn; transformsUrl: string; buffers: BatchBuffers; messageTimeoutMs: number },
  ): Promise<void> {
    const { from, to, file, onError, out, deadLetter } = io;
    const count = { read: 0, written: 0, skipped: 0, deadLettered: 0 };
    let shape: InputShape | undefined;
    let stoppedBy: string | undefined;
    // Workers start only when NDJSON lines are handed over in more than one batch, so a small input never pays for them.
    let pool: MigratePool | undefined;
    /** Applies --on-error to a batch's pieces, in order; false when the run stops. `written` is called once all their text is out. */
    const apply = async (pieces: MigratedPiece[], written: () => void = () => undefined): Promise<boolean> => {
      // Writes finish in order, so the last text's write tells when the memory the output is in can serve a later batch.
      let last = -1;
      for (const [i, piece] of pieces.entries()) if ("text" in piece) last = i;
      if (last === -1) written();
      for (const [i, piece] of pieces.entries()) {
        if ("text" in piece) {
          count.read += piece.written;
          count.written += piece.written;
          await out.write(piece.text, i === last ? written : undefined);
          continue;
        }
        count.read++;
        const at = piece.index === undefined ? "" : ` [${piece.index}]`;
        this.logToStderr(`${printable(file)}:${piece.line}:${at} ${printableField(piece.type)} ${piece.code}: ${printableField(piece.message)}`);
        if (onError === "fail") {
          stoppedBy = piece.code;
          return false;
        }
        if (onError === "skip") count.skipped++;
        else {
          count.deadLettered++;
          await deadLetter!.write(piece.letter + "\n");
        }
      }
      return true;
    };
    const applyResult = (result: MigrateJobResult): Promise<boolean> => apply(result.pieces, result.written);
    try {
      // Each batch is handled synchronously and written once: per-message awaits would cost more than migrating.
      reading: for await (const batch of untilFailed(batches, () => pool, file)) {
        // Every transform runs on a worker, never on this thread: an escape function that loops
        // forever would hold this thread and with it the signal handlers, so SIGTERM and SIGINT
        // were ignored and the temporary outputs left behind. Here the handlers always run, and
        // process.exit ends the workers, a looping one too.
        pool ??= new MigratePool(io.workers, { file, from, to, transforms: io.transformsUrl }, io.buffers, io.messageTimeoutMs);
        if (!pool.ready) await Promise.race([pool.whenReady, pool.failed]);
        // The first message (read here: it decided the input is NDJSON) fixes the output's shape; a
        // first line holding an array keeps the output an array, which needs every message in turn.
        if (!Array.isArray(batch) && shape === "ndjson") {
          if (batch.bytes.length > 0) pool.submit(batch);
          while (pool.full) if (!(await applyResult(await pool.take()))) break reading;
          if (batch.waiting) {
            // The pipe has nothing more for now: what it sent is written out, not held for what comes next.
            while (pool.pending) if (!(await applyResult(await pool.take()))) break reading;
            await out.flush();
          }
          continue;
        }
        while (pool.pending) if (!(await applyResult(await pool.take()))) break reading;
        // Handed-over lines before the shape is known (a first line `[]`) are read here, all at once.
        const items = Array.isArray(batch) ? batch : [...readNdjsonHere(batch, file)];
        if (!Array.isArray(batch)) io.buffers.returnInput(batch.bytes);
        if (items.length === 0) continue;
        shape ??= items[0]!.shape;
        // Output text is written in the order batches were submitted: this batch's pieces come back before any later one's.
        // A line holding an array is one batch of all its elements: they go to a worker a slice at a
        // time, so no thread holds a copy of every element and of every piece made of them at once
        // (a 4 MB array of 2,000,000 numbers took 2.8 GB and 26 s, all sent as one job).
        for (let at = 0; at < items.length; at += ITEMS_PER_JOB) {
          pool.submitItems(items.slice(at, at + ITEMS_PER_JOB), shape, count.written);
          if (!(await applyResult(await pool.take()))) break reading;
        }
      }
      while (stoppedBy === undefined && pool?.pending) if (!(await applyResult(await pool.take()))) break;
    } finally {
      await pool?.close();
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
      try {
        io.deadLetterFile?.commit();
      } catch (error) {
        // Half a pair is no result: the migrated messages go too, so the run can be made again whole.
        if (io.outFile !== undefined) OutputFile.remove(io.outFile.path);
        throw error;
      }
    }

    // Messages migrated into an --out the stopped run discarded were not written anywhere.
    const written = stoppedBy && io.outFile !== undefined ? `0 written (${count.written} migrated, discarded with --out)` : `${count.written} written`;
    const summary = `migrate v${from} -> v${to}: ${count.read} read, ${written}, ${count.skipped} skipped, ${count.deadLettered} dead-lettered`;
    this.logToStderr(stoppedBy ? `${summary}; stopped at the first bad message (--on-error fail)` : summary);
    if (stoppedBy || count.skipped > 0) process.exitCode = ExitCode.Findings;
  }
}

/**
 * The input's batches, except that a failed worker pool ends the wait for the next one: the run
 * stops as soon as a worker is gone, even while the input is quiet (a pipe between writes),
 * rather than at its next batch. The read under way is abandoned; on stdin, which the reader
 * leaves open, it is ended here so it does not keep the process running.
 */
async function* untilFailed<T>(batches: AsyncGenerator<T>, pool: () => MigratePool | undefined, file: string): AsyncGenerator<T> {
  let abandoned = false;
  try {
    for (;;) {
      const failed = pool()?.failed;
      const next = batches.next();
      const result = failed === undefined ? await next : await Promise.race([next, failed.catch((error: unknown) => ({ failure: error }))]);
      if ("failure" in result) {
        abandoned = true;
        next.catch(() => undefined);
        if (file === "-") process.stdin.destroy();
        throw result.failure;
      }
      if (result.done === true) return;
      yield result.value;
    }
  } finally {
    // Ended early by the caller (a bad message stopped the run): the reader closes its input. Not while a read is under way.
    if (!abandoned) await batches.return(undefined);
  }
}

/** NDJSON lines read on this thread (`--workers 0`). */
function readNdjsonHere(batch: ByteBatch, file: string): Iterable<InputItem> {
  return readNdjsonBytes(batch.bytes, batch.firstLine, file, "bigint");
}

/** Buffers small writes into large ones; on stdout it waits for `drain`, so memory stays flat on a slow consumer. */
class ChunkedWriter {
  private buffer = "";

  constructor(private readonly target: OutputFile | NodeJS.WriteStream) {}

  /** Text is gathered into chunks; bytes (a worker's whole batch, already large) are written as they are, after what is gathered, and `written` is called once they are out (text: once gathered). */
  async write(text: string | Uint8Array, written?: () => void): Promise<void> {
    if (typeof text !== "string") {
      await this.flush();
      await this.put(text, written);
      return;
    }
    this.buffer += text;
    written?.();
    if (this.buffer.length >= CHUNK) await this.flush();
  }

  async end(): Promise<void> {
    await this.flush();
  }

  /** Writes what is gathered now. */
  async flush(): Promise<void> {
    if (this.buffer === "") return;
    const text = this.buffer;
    this.buffer = "";
    await this.put(text);
  }

  private async put(data: string | Uint8Array, written?: () => void): Promise<void> {
    if (data.length === 0) {
      written?.();
      return;
    }
    if (this.target instanceof OutputFile) {
      this.target.write(data);
      written?.();
    } else if (!this.target.write(data, written && (() => written()))) await once(this.target, "drain");
  }
}
