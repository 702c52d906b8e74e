/**
 * Writing output files so a failure leaves nothing behind: content goes to a temporary file
 * beside the target (created exclusively, never through a symlink, with its final mode from
 * the first byte) and is moved into place only when complete. Without --force the move is a
 * hard link, which fails if the target appeared meanwhile, so nothing is ever overwritten.
 */
import { closeSync, constants, fchmodSync, fsyncSync, linkSync, lstatSync, openSync, readlinkSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { ErrorCode, OnexError } from "@onex/runtime";
import { exitCodeFor } from "./exit-codes.js";
import { writeFailure } from "./file-errors.js";

/** How an output file is written. */
export interface OutputFileOptions {
  /** Replace an existing file (the --force flag). */
  force: boolean;
  /** The file's permissions: 0o600 for secrets, 0o644 (the default) otherwise. */
  mode?: number;
}

// Temporary files still open when the process exits (an error, or process.exit on a closed pipe) are removed; each beside the output it was to become.
const pending = new Map<string, string>();
// Other writers' removals of their temporaries (generate's and docs' staged files), run with the ones above.
const removals = new Set<() => void>();
let cleanupInstalled = false;

/**
 * Runs `remove` (which must not throw) when the process exits, and ends the run with 128 + the
 * signal's number on SIGINT, SIGTERM, SIGHUP or SIGQUIT after running it: the one set of signal
 * handlers of every command that writes files. A handler runs between two turns of the event
 * loop, never inside synchronous code, so a writer whose moves into place are one synchronous
 * stretch is never stopped half-way by these signals (SIGKILL it cannot stop).
 */
export function removeOnExit(remove: () => void): void {
  installCleanup();
  removals.add(remove);
}

/** An output file being written; `commit()` moves it into place, `discard()` removes every trace. */
export class OutputFile {
  private fd: number | undefined;
  private readonly temp: string;

  private constructor(
    readonly path: string,
    private readonly options: OutputFileOptions,
  ) {
    this.temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  }

  /** Checks the target and opens the temporary file; throws ONEX_E_FILE_EXISTS or ONEX_E_WRITE_FAILED. */
  static create(path: string, options: OutputFileOptions): OutputFile {
    const file = new OutputFile(path, options);
    file.checkTarget();
    const mode = options.mode ?? 0o644;
    // Before the file exists: a signal between its making and its cleanup's would leave it behind.
    installCleanup();
    try {
      file.fd = openSync(file.temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
      // The umask may have removed bits; a secret must be exactly owner-only, a public file what was asked.
      fchmodSync(file.fd, mode);
    } catch (cause) {
      throw writeFailure(cause, path);
    }
    pending.set(file.temp, path);
    return file;
  }

  /** Appends text; throws ONEX_E_WRITE_FAILED (the disk is full, say) after removing the temporary file. */
  write(text: string | Uint8Array): void {
    if (this.fd === undefined) throw new Error(`${this.path} is already closed`);
    try {
      const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(this.fd, bytes, offset, bytes.length - offset);
    } catch (cause) {
      this.discard();
      throw writeFailure(cause, this.path);
    }
  }

  /** Flushes and moves the file into place. */
  commit(): void {
    if (this.fd === undefined) throw new Error(`${this.path} is already closed`);
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = undefined;
      if (this.options.force) {
        // rename replaces a symlink at the target itself, never the file it points to.
        renameSync(this.temp, this.path);
      } else {
        commitWithoutReplacing(this.temp, this.path);
      }
      pending.delete(this.temp);
    } catch (cause) {
      this.discard();
      throw writeFailure(cause, this.path);
    }
  }

  /** Removes the temporary file; the target is untouched. */
  discard(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed by a failed write; nothing more to release
      }
      this.fd = undefined;
    }
    removeQuietly(this.temp);
    pending.delete(this.temp);
  }

  /** Removes a file this output committed, for undoing half of a pair. */
  static remove(path: string): void {
    removeQuietly(path);
  }

  /**
   * Moves several files into place as one: after a failure each target is as it was. Renames are
   * one file each, so every target but the last is first kept aside under a second name, and put
   * back if a later move fails: `keygen --force` whose .pub could not be moved left the new .key,
   * the old .pub, and the old private key gone. The last move needs none: when it fails its target
   * is untouched, and nothing can fail after it. Put the file that matters most last.
   */
  static commitAll(files: readonly OutputFile[]): void {
    const kept: KeptAside[] = [];
    let committed = 0;
    try {
      for (const file of files.slice(0, -1)) kept.push(file.keepAside());
      for (const file of files) {
        file.commit();
        committed++;
      }
    } catch (error) {
      for (const file of files) file.discard();
      const unrestored = files.map((file, index) => putBack(file.path, kept[index], index < committed)).filter((text) => text !== undefined);
      if (unrestored.length === 0 || !(error instanceof OnexError)) throw error;
      // Nothing is removed that is the only copy of an old file: the user is told where it is.
      throw new OnexError(error.code, `${error.message}; and ${unrestored.join("; ")}`, { ...error.details, unrestored }, { cause: error });
    }
    for (const aside of kept) if (aside !== undefined) removeQuietly(aside.path);
  }

  /**
   * Gives the target a second name beside it, to be put back from; undefined when there is
   * nothing to keep (no --force: the target did not exist). A hard link, so the target never
   * disappears meanwhile; where the file system has none, the target is renamed aside.
   */
  private keepAside(): KeptAside {
    if (!this.options.force) return undefined;
    const aside = join(dirname(this.path), `.${basename(this.path)}.${process.pid}-${randomBytes(4).toString("hex")}.old`);
    try {
      linkSync(this.path, aside);
      return { path: aside, moved: false };
    } catch (cause) {
      const errno = (cause as NodeJS.ErrnoException).code;
      if (errno === "ENOENT") return undefined;
      if (errno !== "EPERM" && errno !== "ENOTSUP" && errno !== "EOPNOTSUPP") throw writeFailure(cause, this.path);
    }
    try {
      renameSync(this.path, aside);
      return { path: aside, moved: true };
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw writeFailure(cause, this.path);
    }
  }

  private checkTarget(): void {
    let stat;
    try {
      stat = lstatSync(this.path);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") return;
      throw writeFailure(cause, this.path);
    }
    if (stat.isDirectory()) throw writeFailure(Object.assign(new Error("is a folder"), { code: "EISDIR" }), this.path);
    // A device, pipe or socket is never replaced, with --force or without: the move into place
    // would turn /dev/null into a plain file. Output meant for one goes to stdout, redirected.
    // A link is replaced itself, never followed; but one to a device (/dev/stdout) is as good as the device.
    // A link into /proc (/dev/stdout, /dev/stderr) names one of this process's open files, not a
    // place: with stdout redirected to a file it leads to a regular file, and --force run as root
    // replaced /dev/stdout itself with a plain file, for every later process.
    if (stat.isSymbolicLink() && readlinkSync(this.path).startsWith("/proc/")) {
      throw writeFailure(new Error("it is a link to one of this process's open files (as /dev/stdout is); write to stdout and redirect it instead"), this.path);
    }
    const target = stat.isSymbolicLink() ? linkTarget(this.path) : stat;
    if (target !== undefined && !target.isFile()) throw writeFailure(new Error("it is not a regular file (a device, a pipe or a socket); write to stdout and redirect it there instead"), this.path);
    if (!this.options.force) throw writeFailure(Object.assign(new Error("exists"), { code: "EEXIST" }), this.path);
  }
}

/** A replaced target's second name: linked (`moved: false`, the target still in place) or renamed aside; undefined when there was none. */
type KeptAside = { path: string; moved: boolean } | undefined;

/**
 * Undoes one file of a failed `commitAll`: a committed file is replaced by what was there (or
 * removed, when nothing was); a target renamed aside is renamed back. Says what it could not undo.
 */
function putBack(path: string, aside: KeptAside, committed: boolean): string | undefined {
  try {
    if (aside === undefined) {
      if (committed) unlinkSync(path);
    } else if (committed || aside.moved) {
      renameSync(aside.path, path);
    } else {
      // Still in place under its own name: the second one goes.
      removeQuietly(aside.path);
    }
    return undefined;
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
    if (aside === undefined) return `the new ${path} could not be removed (${reason})`;
    return `the old ${path} could not be put back (${reason}): it is kept as ${aside.path}; move it back with \`mv ${aside.path} ${path}\``;
  }
}

/** What a link at `path` leads to; undefined when it leads nowhere (dangling, or a loop: ELOOP), as a link that is replaced, not followed. */
function linkTarget(path: string): ReturnType<typeof statSync> {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Writes a whole file safely (see OutputFile). */
export function writeOutputFile(path: string, content: string, options: OutputFileOptions): void {
  const file = OutputFile.create(path, options);
  file.write(content);
  file.commit();
}

/** Moves `temp` to `path` only if nothing is there: a hard link fails on an existing target, where rename would replace it. */
function commitWithoutReplacing(temp: string, path: string): void {
  try {
    linkSync(temp, path);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    // File systems without hard links (FAT, some network mounts): check, then rename; a narrow race, never a silent one.
    if (errno !== "EPERM" && errno !== "ENOTSUP" && errno !== "EOPNOTSUPP" && errno !== "EXDEV") throw cause;
    let exists = true;
    try {
      lstatSync(path);
    } catch {
      exists = false;
    }
    if (exists) throw Object.assign(new Error("exists"), { code: "EEXIST" });
    renameSync(temp, path);
    return;
  }
  unlinkSync(temp);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const cleanup = () => {
    for (const temp of pending.keys()) removeQuietly(temp);
    for (const remove of removals) remove();
  };
  process.once("exit", cleanup);
  // A closed pipe (`| head -1`) ends a run quietly (bin/onex.js), but a run still writing an output
  // file (migrate --dead-letter) has not finished, and exit 0 without the file would tell a script
  // that no message was bad. Ahead of that listener, it fails the run instead. So does a closed
  // standard error (its reader gone): migrate --out with a bad message to report ended with exit 0
  // and neither its output nor its dead letters written.
  // A listener, not OnexCommand.print's write callback, because stdout is also written without it (this.log, migrate's chunks); print leaves EPIPE to this.
  for (const [stream, name] of [[process.stdout, "standard output"], [process.stderr, "standard error"]] as const) {
    stream.prependListener("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" || pending.size === 0) return;
      try {
        process.stderr.write(`error ${ErrorCode.WriteFailed}: ${name} was closed before the run ended (EPIPE), so ${[...pending.values()].join(" and ")} was not written\n`);
      } catch {
        // stderr is gone too: the exit status alone tells
      }
      process.exit(exitCodeFor(ErrorCode.WriteFailed));
    });
  }
  // Ctrl-C, a kill or a closed terminal during a long migrate or generate: no half-written temporary file stays behind.
  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129], ["SIGQUIT", 131]] as const) {
    process.once(signal, () => {
      cleanup();
      process.exit(status);
    });
  }
}
