/**
 * One download into a path at a time. Two fetches into the same OUT would share its partial
 * file and record, and the first to finish would rename the partial away under the other,
 * which then failed on a missing file. `OUT.lock`, made whole and exclusively (a hard link of
 * a file of its own, never through a symbolic link), holds the process id of the fetch
 * writing OUT; a second fetch is refused while that process lives, and a lock left by a
 * process that died (a kill, a crash) is taken over.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { link, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, OnexError } from "../errors.js";
import { hardLinksUnsupported } from "./hard-link.js";

export interface DownloadLock {
  /** Removes the lock; once, however often it is called. */
  release(): Promise<void>;
}

/** How often a lock that keeps changing under this fetch is looked at again before giving up. */
const ATTEMPTS = 5;

// Not cli/file-lock.ts: that one is synchronous and waits for a live holder (a revocation list's read and write-back); a download is held across network waits, and a second fetch into one OUT is refused, not queued.
/** Takes the lock at `lockPath` for `target`, or throws ONEX_E_WRITE_FAILED naming the process that holds it. */
export async function takeDownloadLock(lockPath: string, target: string): Promise<DownloadLock> {
  const failed = (error: unknown) => new OnexError(ErrorCode.WriteFailed, `cannot lock ${target} for the download (${lockPath}): ${(error as Error).message}`, { file: lockPath, errno: (error as NodeJS.ErrnoException).code });
  const busy = (holder: number) => new OnexError(ErrorCode.WriteFailed, `another fetch (process ${holder}) is writing ${target}; wait for it, or remove ${lockPath} if no fetch runs`, { file: target, holder });
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (await linkLock(lockPath).catch((error: unknown) => Promise.reject(failed(error)))) {
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          // Only this process's lock: one another fetch took over meanwhile (see below) stays.
          if ((await holderOf(lockPath)) === process.pid) await rm(lockPath, { force: true });
        },
      };
    }
    const holder = await holderOf(lockPath);
    if (holder !== undefined && isAlive(holder)) throw busy(holder);
    // Left by a process that is gone, or not a lock at all: moved aside, which only one of two
    // fetches taking it over at once can do. Removed in place, the slower one's removal could
    // take the lock the faster one had just made.
    const aside = uniqueBeside(lockPath);
    try {
      await rename(lockPath, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw failed(error);
    }
    const moved = await holderOf(aside);
    if (moved !== undefined && moved !== holder && isAlive(moved)) {
      // Another fetch took it over between the look and the move: its lock is given back. (Should a
      // third fetch have made one in the gap, two would run; three fetches into one OUT taking
      // over one dead lock in the same instant is where this stops.)
      await link(aside, lockPath).catch(() => undefined);
      await rm(aside, { force: true });
      throw busy(moved);
    }
    await rm(aside, { force: true });
  }
  throw failed(new Error("other fetches kept taking and leaving it"));
}

/**
 * Makes the lock, holding this process's id, unless one exists: written whole under a name of
 * its own, then hard-linked into place, which fails if the lock exists. Made empty and written
 * after, another fetch could read it in between, find no process id, and take it over.
 */
async function linkLock(lockPath: string): Promise<boolean> {
  const temporary = uniqueBeside(lockPath);
  const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  // One try for the write and the link: a write the disk refuses (full) removes the temporary too.
  try {
    try {
      await handle.writeFile(`${process.pid}\n`);
    } finally {
      await handle.close();
    }
    await link(temporary, lockPath);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (hardLinksUnsupported(code)) return createLock(lockPath);
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Where the file system has no hard links: made exclusively, then written (the window above stays open there). */
async function createLock(lockPath: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } catch (error) {
    // A full disk: an empty lock left behind names no process to take it over from, and would refuse every later fetch.
    await rm(lockPath, { force: true });
    throw error;
  } finally {
    await handle.close();
  }
  return true;
}

/** A name of its own in the lock's folder, short whatever OUT's name is (a name near the 255-byte limit leaves no room to extend it). */
function uniqueBeside(path: string): string {
  return join(dirname(path), `.onex-lock-${randomBytes(8).toString("hex")}`);
}

/** The process id a lock holds: its first bytes, read without following a link or waiting on a FIFO. */
async function holderOf(lockPath: string): Promise<number | undefined> {
  const handle = await open(lockPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const bytes = Buffer.alloc(16);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    const text = bytes.toString("utf8", 0, bytesRead);
    return /^\d{1,10}\n$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
