/**
 * One writer of a file that is read, changed and written back (a revocation list): without it,
 * two runs at once each read the list without the other's addition, and the second to write
 * lost the first's, while both said it was done. `<file>.lock`, made exclusively (never through
 * a link), holds the process id of the run updating the file; another run waits for it, and
 * takes over a lock whose process is gone (killed, crashed).
 */
import { closeSync, constants, linkSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { ErrorCode, OnexError } from "@onex/runtime";
import { writeFailure } from "./file-errors.js";

/** How long a run waits for another to finish with the file. */
const LOCK_WAIT_MS = 10_000;
const RETRY_MS = 20;

// Not runtime/dataplane/download-lock.ts: that one is async, held across a download's network waits, and refuses a live holder; this one waits for it, and its update is one synchronous stretch no signal handler can cut.
/** Runs `update` (synchronous: read, change, write back) holding `<file>.lock`; ONEX_E_WRITE_FAILED when another run holds it past the wait. */
export function withFileLock<T>(file: string, update: () => T): T {
  const lockPath = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw writeFailure(cause, lockPath);
      const holder = holderOf(lockPath);
      if (holder !== undefined && !isAlive(holder)) {
        takeOverDead(lockPath, holder);
        continue;
      }
      if (Date.now() > deadline) {
        throw new OnexError(
          ErrorCode.WriteFailed,
          `cannot update ${file}: ${holder === undefined ? "another run" : `another run (process ${holder})`} has held ${lockPath} for ${LOCK_WAIT_MS / 1000} s; wait for it, or remove ${lockPath} if none runs`,
          { file, lock: lockPath, ...(holder === undefined ? {} : { holder }) },
        );
      }
      sleep(RETRY_MS);
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } catch (cause) {
      // A full disk (or a file size limit) refuses even these few bytes: an empty lock left
      // behind names no process to take it over from, and would stop every later run.
      closeSync(fd);
      removeQuietly(lockPath);
      throw writeFailure(cause, lockPath);
    }
    closeSync(fd);
    try {
      return update();
    } finally {
      if (holderOf(lockPath) === process.pid) removeQuietly(lockPath);
    }
  }
}

/** The process id a lock holds, read without following a link or waiting on a FIFO; undefined while it is being written. */
function holderOf(lockPath: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(lockPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const bytes = Buffer.alloc(16);
    const read = readSync(fd, bytes, 0, bytes.length, 0);
    const text = bytes.toString("utf8", 0, read);
    return /^\d{1,10}\n$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Moves a dead process's lock aside (only one of two runs taking it over at once can) and
 * removes it; a lock another run made meanwhile, moved aside by mistake, is put back.
 */
function takeOverDead(lockPath: string, dead: number): void {
  const aside = join(dirname(lockPath), `.${basename(lockPath)}.${randomBytes(8).toString("hex")}`);
  try {
    renameSync(lockPath, aside);
  } catch {
    return; // gone already: the next attempt makes it
  }
  const moved = holderOf(aside);
  if (moved !== dead) {
    try {
      // A hard link: it fails, rather than replaces, if yet another run made one meanwhile.
      linkSync(aside, lockPath);
    } catch {
      // a third run made one meanwhile: theirs stands
    }
  }
  removeQuietly(aside);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it lives, as another user's process.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
