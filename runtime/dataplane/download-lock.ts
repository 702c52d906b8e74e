/**
 * One download into a path at a time. Two fetches into the same OUT would share its partial
 * file and record, and the first to finish would rename the partial away under the other,
 * which then failed on a missing file. `OUT.lock`, made exclusively (never through a link),
 * holds the process id of the fetch writing OUT; a second fetch is refused while that process
 * lives, and a lock left by a process that died (a kill, a crash) is taken over.
 */
import { constants } from "node:fs";
import { open, rm } from "node:fs/promises";
import { ErrorCode, OnexError } from "../errors.js";

export interface DownloadLock {
  /** Removes the lock; once, however often it is called. */
  release(): Promise<void>;
}

/** Takes the lock at `lockPath` for `target`, or throws ONEX_E_WRITE_FAILED naming the process that holds it. */
export async function takeDownloadLock(lockPath: string, target: string): Promise<DownloadLock> {
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          await rm(lockPath, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) {
        throw new OnexError(ErrorCode.WriteFailed, `cannot lock ${target} for the download (${lockPath}): ${(error as Error).message}`, { file: lockPath, errno: (error as NodeJS.ErrnoException).code });
      }
    }
    const holder = await holderOf(lockPath);
    if (holder !== undefined && isAlive(holder)) {
      throw new OnexError(ErrorCode.WriteFailed, `another fetch (process ${holder}) is writing ${target}; wait for it, or remove ${lockPath} if no fetch runs`, { file: target, holder });
    }
    // Left by a process that is gone, or not a lock at all: take it over.
    await rm(lockPath, { force: true });
  }
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
