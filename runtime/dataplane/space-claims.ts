/**
 * Disk space the downloads of this process have claimed and not yet written. A partial file is
 * sparse and reserves nothing, so two downloads opened at once into one file system each found
 * the free space the other was about to fill: each passed the check, and together they filled
 * the disk (for every other writer on it too), failing only then, with partial files left
 * behind. A download now claims the bytes it still has to write; the free-space check counts
 * what the other downloads of this process still have to write on that file system as taken,
 * and a download gives its claim back as it writes (the written bytes are then in the file
 * system's own count) and when it ends. Other processes' downloads are not seen: space they
 * take meanwhile is a write failure when it runs out, as any other writer's is.
 */
import { statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, OnexError } from "../errors.js";

/** What one download still has to write on one file system. */
export class SpaceClaim {
  #unwritten: number;

  constructor(
    readonly device: number,
    bytes: number,
  ) {
    this.#unwritten = bytes;
  }

  /** Bytes claimed and not yet written. */
  get unwritten(): number {
    return this.#unwritten;
  }

  /** `bytes` were written: the file system counts them from now on. */
  wrote(bytes: number): void {
    this.#unwritten = Math.max(0, this.#unwritten - bytes);
  }

  /** The download ended (complete, stopped or failed): nothing more will be written for it. */
  release(): void {
    this.#unwritten = 0;
    const onDevice = claims.get(this.device);
    onDevice?.delete(this);
    if (onDevice?.size === 0) claims.delete(this.device);
  }
}

const claims = new Map<number, Set<SpaceClaim>>();

/** What the downloads of this process still have to write on `device`. */
function claimedOn(device: number): number {
  let total = 0;
  for (const claim of claims.get(device) ?? []) total += claim.unwritten;
  return total;
}

/**
 * Claims `needed` bytes for the download into `partial` (on file system `device`), or
 * ONEX_E_WRITE_FAILED (`errno` ENOSPC) when the file system has fewer free for this user, less
 * what the other downloads of this process have claimed there. Without this check an artifact
 * larger than the disk (a descriptor's size is its publisher's to choose: a terabyte is a
 * descriptor of 16,384 digests) was downloaded until the disk was full, and failed only then. A
 * file system that cannot say how much is free is not refused (and nothing is claimed on it).
 */
export async function claimSpace(partial: string, device: number, needed: number): Promise<SpaceClaim | undefined> {
  const fs = await statfs(dirname(partial)).catch(() => undefined);
  // ramfs and some FUSE file systems answer with no blocks at all (0 of 0 free): they cannot say either.
  if (fs === undefined || fs.blocks === 0) return undefined;
  // From here to the claim's registration nothing awaits: two downloads opened at once cannot
  // both count the same free bytes. (Pieces another download wrote while statfs ran may have left
  // its claim and not yet be in `free`: a piece or two, less than what other processes can take.)
  const free = fs.bavail * fs.bsize;
  const claimed = claimedOn(device);
  if (needed > free - claimed) {
    const others = claimed === 0 ? "" : `, ${claimed} of them claimed by other downloads of this process`;
    throw new OnexError(ErrorCode.WriteFailed, `cannot download into ${partial}: the artifact needs ${needed} more bytes and its file system has ${free} free${others}; free some space, or fetch into another file system`, { file: partial, errno: "ENOSPC", needed, free, claimed });
  }
  const claim = new SpaceClaim(device, needed);
  const onDevice = claims.get(device) ?? new Set<SpaceClaim>();
  onDevice.add(claim);
  claims.set(device, onDevice);
  return claim;
}
