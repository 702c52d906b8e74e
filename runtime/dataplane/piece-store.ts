/**
 * Pieces on disk. Downloads write into `<path>.partial` at each piece's offset and record
 * verified pieces in `<path>.pieces`; only when every piece is verified (each hashed once, as
 * it was written) is the partial file put in place at `<path>` (hard-linked, so a file made
 * there meanwhile is never replaced, then the partial name removed). A crash therefore never
 * leaves a file at `<path>` that looks complete, and a restarted download resumes from the
 * pieces already verified.
 */
import { createHash } from "node:crypto";
import { constants, writeSync } from "node:fs";
import { link, lstat, mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { Readable } from "node:stream";
import { ErrorCode, OnexError } from "../errors.js";
import { hardLinksUnsupported } from "./hard-link.js";
import { Bitfield } from "./bitfield.js";
import { takeDownloadLock, type DownloadLock } from "./download-lock.js";
import { claimSpace, type SpaceClaim } from "./space-claims.js";
import { pieceDigest, pieceLengthOf, rootHashOf, type ArtifactDescriptorRecord } from "./descriptor.js";

/** What a piece server needs from a store: the descriptor, which pieces are verified, and their bytes. */
export interface PieceSource {
  readonly descriptor: ArtifactDescriptorRecord;
  readonly have: Bitfield;
  /**
   * The bytes of a verified piece; ONEX_E_NOT_FOUND when the piece is not held. With `into`
   * (at least `piece_size` bytes), they are read into it and a view of it is returned.
   */
  readPiece(index: number, into?: Buffer): Promise<Buffer>;
  /**
   * The complete artifact, read from the file that was verified (not looked up by name again: a
   * local user who can write its folder may have put a link to another file there since);
   * undefined while incomplete.
   */
  wholeFile(): Readable | undefined;
}

/** Told about each piece once it is verified and written. */
export type PieceListener = (index: number, have: Bitfield) => void;

/** One artifact's pieces on disk. Open it with `PieceStore.open` (to fetch) or `PieceStore.seed` (a complete file). */
export class PieceStore implements PieceSource {
  readonly #listeners = new Set<PieceListener>();
  #handle: FileHandle | undefined;
  #complete: boolean;
  // The piece record is written by one writer at a time, and pieces verified while it writes
  // share the next write: the record costs a few writes per second, not one per piece.
  #persist: Promise<void> = Promise.resolve();
  #recordDirty = false;
  // A record that could not be written fails the next piece written, and the finish.
  #recordError: unknown;
  #finishing: Promise<void> | undefined;
  // Writeback runs while the download does (see SYNC_EVERY). One that fails fails the finish:
  // after a failed fdatasync, Linux reports the lost pages once, so the final sync may succeed.
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  #syncError: unknown;
  /** Held while this store downloads (download-lock.ts); released once complete or closed. */
  readonly #lock: DownloadLock | undefined;
  /** The disk space this download claimed and has not written yet (space-claims.ts); released once complete or closed. */
  readonly #space: SpaceClaim | undefined;

  private constructor(
    readonly descriptor: ArtifactDescriptorRecord,
    readonly path: string,
    readonly have: Bitfield,
    handle: FileHandle | undefined,
    complete: boolean,
    lock?: DownloadLock,
    space?: SpaceClaim,
  ) {
    this.#handle = handle;
    this.#complete = complete;
    this.#lock = lock;
    this.#space = space;
  }

  /** Where the download is written until it completes. */
  static partialPathOf(path: string): string {
    return `${path}.partial`;
  }

  /** Where the verified pieces of a download are recorded. */
  static recordPathOf(path: string): string {
    return `${path}.pieces`;
  }

  /** Held by the process downloading into `path` (download-lock.ts). */
  static lockPathOf(path: string): string {
    return `${path}.lock`;
  }

  /**
   * Opens the download of `descriptor` into `path`. A complete file already at `path` is
   * verified and used as is; otherwise pieces recorded by an interrupted download are
   * verified again (they may have been half written when it stopped) and kept.
   */
  static async open(descriptor: ArtifactDescriptorRecord, path: string): Promise<PieceStore> {
    const count = descriptor.pieces.length;
    // Opened once, and verified and served through that one handle: looked up by name again, it
    // could be another file by then (see wholeFile).
    const existing = await openExisting(path);
    if (existing !== undefined) {
      try {
        const info = await existing.stat();
        if (!info.isFile()) throw new OnexError(ErrorCode.WriteFailed, `cannot write ${path}: it exists and is not a regular file`, { file: path });
        refuseOthersFile(info, path);
        // A file already there is never overwritten: one of another size is not this artifact, and no fetch could make it so.
        if (info.size !== descriptor.size) {
          throw new OnexError(ErrorCode.PieceCorrupt, `${path} exists and is not this artifact (${info.size} bytes, the artifact ${descriptor.size}); move it away or fetch into another path`, { file: path });
        }
        await verifyHandle(descriptor, existing, path);
        await removeFinishedLeftovers(path, info);
      } catch (error) {
        await existing.close().catch(() => undefined);
        throw error;
      }
      return new PieceStore(descriptor, path, Bitfield.full(count), existing, true);
    }
    checkCompanionNames(path);
    await mkdir(dirname(path), { recursive: true }).catch((error: unknown) => {
      throw writeFailed(dirname(path), error, "cannot make the folder");
    });
    const partial = PieceStore.partialPathOf(path);
    const lock = await takeDownloadLock(PieceStore.lockPathOf(path), path);
    let handle: FileHandle | undefined;
    let space: SpaceClaim | undefined;
    let resuming = false;
    try {
      const record = await readRecord(PieceStore.recordPathOf(path), descriptor);
      // The partial file is opened, or made, never through a link: a link planted beside the target
      // (in a shared folder) would have the download written over whatever it points at.
      resuming = (await lstat(partial).catch(() => undefined)) !== undefined;
      handle = await open(partial, (resuming ? 0 : constants.O_CREAT | constants.O_EXCL) | constants.O_RDWR | constants.O_NOFOLLOW, 0o644).catch((error: unknown) => {
        throw writeFailed(partial, error, (error as NodeJS.ErrnoException).code === "ELOOP" ? "refusing to write through the link" : "cannot open");
      });
      const info = await handle.stat();
      if (!info.isFile()) throw new OnexError(ErrorCode.WriteFailed, `cannot write ${partial}: it is not a regular file`, { file: partial });
      refuseOthersFile(info, partial);
      // A partial file is this download's alone: one with other names is a file of elsewhere linked
      // in (where fs.protected_hardlinks is off, any user may link any file they can see), and would
      // be cut to the artifact's size and written over. (OUT itself, once in place, is a second
      // name only until the next open of OUT removes this one: see removeFinishedLeftovers.)
      if (info.nlink > 1) {
        throw new OnexError(ErrorCode.WriteFailed, `cannot download into ${partial}: it has ${info.nlink} names (a hard link to a file elsewhere), and writing it would change that file; remove it, or fetch into a folder of your own`, { file: partial, links: info.nlink });
      }
      // What a resumed partial file holds is written already; the rest is claimed, so that
      // downloads this process opens at once into one file system do not each count the same
      // free space (space-claims.ts). Never less than nothing: a partial file holding more than
      // the artifact (an interrupted download of a larger one into the same path, cut to this
      // size below) made a negative claim, which the other downloads counted as free space.
      space = await claimSpace(partial, info.dev, Math.max(0, descriptor.size - info.blocks * 512));
      // Sparse: reserves nothing, but lets pieces be written at any offset in any order. Refused
      // when the artifact is larger than a file may be here (the file system's or the process's limit).
      await handle.truncate(descriptor.size).catch((error: unknown) => {
        throw writeFailed(partial, error, `cannot make a ${descriptor.size}-byte file`);
      });
      const have = new Bitfield(count);
      for (let i = 0; i < count; i++) {
        if (!record?.has(i)) continue;
        const bytes = await readAt(handle, descriptor, i);
        if (pieceDigest(bytes) === descriptor.pieces[i]) have.set(i);
      }
      const store = new PieceStore(descriptor, path, have, handle, false, lock, space);
      if (have.complete) await store.#finish();
      return store;
    } catch (error) {
      // No store to close it: the caller gets the error, not an open file (closing twice is
      // harmless), nor a file made here for nothing, nor the lock; a download resumed keeps what it holds.
      if (handle !== undefined) {
        await handle.close().catch(() => undefined);
        if (!resuming) await rm(partial, { force: true }).catch(() => undefined);
      }
      space?.release();
      await lock.release().catch(() => undefined);
      throw error;
    }
  }

  /** A store over a complete file (a publisher seeding what it described); verifies every piece first, through the handle it then serves from. */
  static async seed(descriptor: ArtifactDescriptorRecord, path: string): Promise<PieceStore> {
    const handle = await openComplete(descriptor, path);
    try {
      await verifyHandle(descriptor, handle, path);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    return new PieceStore(descriptor, path, Bitfield.full(descriptor.pieces.length), handle, true);
  }

  /**
   * A store over the file `describeFile` just hashed into `descriptor` (a publisher seeding
   * what it describes): not hashed a second time. Pieces served from it are checked by every
   * fetcher, as all pieces are.
   */
  static async described(descriptor: ArtifactDescriptorRecord, path: string): Promise<PieceStore> {
    return new PieceStore(descriptor, path, Bitfield.full(descriptor.pieces.length), await openComplete(descriptor, path), true);
  }

  get complete(): boolean {
    return this.#complete;
  }

  get completePath(): string | undefined {
    return this.#complete ? this.path : undefined;
  }

  wholeFile(): Readable | undefined {
    if (!this.#complete || this.#handle === undefined) return undefined;
    return readWhole(this.#handle, this.descriptor.size);
  }

  /** Calls `listener` for every piece verified from now on; returns the function that stops it. */
  onPiece(listener: PieceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async readPiece(index: number, into?: Buffer): Promise<Buffer> {
    if (!this.have.has(index) || this.#handle === undefined) {
      throw new OnexError(ErrorCode.NotFound, `piece ${index} of ${this.descriptor.root_hash} is not held here`, { piece: index });
    }
    return readAt(this.#handle, this.descriptor, index, into);
  }

  /**
   * Verifies `bytes` against piece `index`'s hash and keeps it: ONEX_E_PIECE_CORRUPT (nothing
   * written; `details.actual` is the digest the bytes have) when the length or hash differs.
   * Returns false when the piece was already held. This is the one place a fetched piece is
   * hashed.
   */
  async writePiece(index: number, bytes: Uint8Array): Promise<boolean> {
    const expected = this.descriptor.pieces[index];
    if (expected === undefined) throw new OnexError(ErrorCode.PieceCorrupt, `piece ${index} does not exist in ${this.descriptor.root_hash}`, { piece: index });
    const actual = pieceDigest(bytes);
    if (bytes.length !== pieceLengthOf(this.descriptor, index) || actual !== expected) {
      throw new OnexError(ErrorCode.PieceCorrupt, `piece ${index} of ${this.descriptor.name}@${this.descriptor.version} does not match its SHA-256`, {
        piece: index,
        root_hash: this.descriptor.root_hash,
        expected,
        actual,
      });
    }
    if (this.#recordError !== undefined) throw this.#recordError;
    if (this.have.has(index)) return false;
    if (this.#handle === undefined) throw new OnexError(ErrorCode.Internal, "the piece store is closed");
    try {
      writeInChunks(this.#handle, bytes, index * this.descriptor.piece_size);
    } catch (error) {
      throw writeFailed(PieceStore.partialPathOf(this.path), error);
    }
    this.#space?.wrote(bytes.length);
    this.#syncInBackground(bytes.length);
    // Set the bit only after the bytes are written: a crash in between loses the piece, never trusts a hole.
    if (!this.have.set(index)) return false;
    this.#recordPieces();
    for (const listener of this.#listeners) listener(index, this.have);
    if (this.have.complete) await this.#finish();
    return true;
  }

  /**
   * Records the verified pieces for a resume. A crash may lose the last few (they are fetched
   * again), never record a piece whose bytes were not written: the bit is set after the write
   * and the record is a snapshot taken after that.
   */
  #recordPieces(): void {
    if (this.#recordDirty) return;
    this.#recordDirty = true;
    this.#persist = this.#persist
      .then(() => {
        this.#recordDirty = false;
        return writeAtomically(PieceStore.recordPathOf(this.path), this.have.toBytes());
      })
      .catch((error: unknown) => {
        this.#recordError ??= writeFailed(PieceStore.recordPathOf(this.path), error);
      });
  }

  #syncInBackground(written: number): void {
    this.#unsynced += written;
    if (this.#unsynced < SYNC_EVERY || this.#syncing !== undefined || this.#handle === undefined) return;
    this.#unsynced = 0;
    const handle = this.#handle;
    this.#syncing = handle
      .datasync()
      .catch((error: unknown) => {
        this.#syncError ??= writeFailed(PieceStore.partialPathOf(this.path), error);
      })
      .finally(() => (this.#syncing = undefined));
  }

  /** Resolves once the artifact is complete, verified and renamed into place. */
  async finished(): Promise<void> {
    // The last bit is set before the final write settles: start (or join) the finish here too.
    if (!this.#complete && this.have.complete) await this.#finish();
    if (!this.#complete) throw new OnexError(ErrorCode.ArtifactIncomplete, `${this.have.length - this.have.count} of ${this.have.length} pieces are missing`, { missing: this.have.length - this.have.count });
  }

  /** Closes the file; pieces already recorded stay for a later resume. */
  async close(): Promise<void> {
    await this.#persist.catch(() => undefined);
    const handle = this.#handle;
    this.#handle = undefined;
    this.#space?.release();
    await handle?.close();
    await this.#lock?.release();
  }

  #finish(): Promise<void> {
    this.#finishing ??= (async () => {
      const partial = PieceStore.partialPathOf(this.path);
      // Every piece was hashed once, in memory, before it was written (or re-read and hashed
      // on resume), and the descriptor's signed root hash covers those digests: hashing the
      // whole file again would double the CPU a fetch costs and prove only that the local
      // disk returns what was written to it.
      await this.#syncing;
      await this.#handle?.sync();
      if (this.#syncError !== undefined) throw this.#syncError;
      await this.#persist;
      if (this.#recordError !== undefined) throw this.#recordError;
      await publishFile(partial, this.path);
      await rm(PieceStore.recordPathOf(this.path), { force: true });
      this.#space?.release();
      await this.#lock?.release();
      // The handle stays the artifact's: the file it names is the one whose pieces were verified,
      // and OUT, opened again by name, could be another by now.
      this.#complete = true;
    })();
    return this.#finishing;
  }
}

/**
 * Puts the finished `partial` in place at `path`, never over a file someone made there while
 * the fetch ran (rename would replace it): a hard link fails if `path` exists. Where the file
 * system has no hard links, it is looked for first, and renamed.
 */
async function publishFile(partial: string, path: string): Promise<void> {
  const madeMeanwhile = () => new OnexError(ErrorCode.WriteFailed, `${path} was made while the fetch ran, and is not overwritten; the artifact is whole in ${partial}: remove ${path} and fetch again to put it in place`, { file: path });
  try {
    await link(partial, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw madeMeanwhile();
    if (!hardLinksUnsupported(code)) throw error;
    if (await lstat(path).then(() => true, () => false)) throw madeMeanwhile();
    await rename(partial, path);
    return;
  }
  // OUT is in place: a partial name left behind (a second link to the same file) is only clutter.
  await rm(partial).catch(() => undefined);
}

/**
 * A fetch stopped (killed, crashed) after putting OUT in place and before removing the names
 * beside it leaves `OUT.partial` as a second link to OUT, its record and its lock. Once OUT is
 * found whole, they are removed, under the lock (a fetch still finishing holds it, and does
 * this itself); before, they stayed beside OUT for good. A partial file that is not OUT is
 * another download's, and stays.
 */
async function removeFinishedLeftovers(path: string, out: { ino: number; dev: number }): Promise<void> {
  const partial = PieceStore.partialPathOf(path);
  const left = await lstat(partial).catch(() => undefined);
  if (left === undefined || left.ino !== out.ino || left.dev !== out.dev) return;
  const lock = await takeDownloadLock(PieceStore.lockPathOf(path), path).catch(() => undefined);
  if (lock === undefined) return;
  try {
    await rm(partial, { force: true });
    await rm(PieceStore.recordPathOf(path), { force: true });
  } finally {
    await lock.release();
  }
}

/** Re-hashes every piece of the file at `path`; ONEX_E_PIECE_CORRUPT or ONEX_E_ARTIFACT_INCOMPLETE when it is not the artifact. */
export async function verifyWholeFile(descriptor: ArtifactDescriptorRecord, path: string): Promise<void> {
  const handle = await openComplete(descriptor, path);
  try {
    await verifyHandle(descriptor, handle, path);
  } finally {
    await handle.close();
  }
}

/**
 * Opens the file at `path` for reading, or undefined when there is none (nor a folder it
 * could be in). Without waiting for a writer: a FIFO planted there is refused as no regular file.
 */
async function openExisting(path: string): Promise<FileHandle | undefined> {
  return open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw writeFailed(path, error, "cannot read");
  });
}

/** Opens the complete artifact at `path`: a regular file of the artifact's size, else ONEX_E_ARTIFACT_INCOMPLETE (ONEX_E_FILE_NOT_FOUND when missing). */
async function openComplete(descriptor: ArtifactDescriptorRecord, path: string): Promise<FileHandle> {
  const handle = await openExisting(path);
  if (handle === undefined) throw new OnexError(ErrorCode.FileNotFound, `${path} does not exist`, { file: path });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new OnexError(ErrorCode.ArtifactIncomplete, `${path} is not a regular file`, { file: path });
    if (info.size !== descriptor.size) throw new OnexError(ErrorCode.ArtifactIncomplete, `${path} has ${info.size} bytes, the artifact ${descriptor.size}`, { file: path });
    return handle;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** Re-hashes every piece read through `handle`; ONEX_E_PIECE_CORRUPT naming `path` when one does not match. */
async function verifyHandle(descriptor: ArtifactDescriptorRecord, handle: FileHandle, path: string): Promise<void> {
  const digests: string[] = [];
  const buffer = Buffer.allocUnsafe(descriptor.piece_size);
  for (let i = 0; i < descriptor.pieces.length; i++) {
    const length = pieceLengthOf(descriptor, i);
    await readFully(handle, buffer, length, i * descriptor.piece_size);
    const digest = createHash("sha256").update(buffer.subarray(0, length)).digest("hex");
    if (digest !== descriptor.pieces[i]) throw new OnexError(ErrorCode.PieceCorrupt, `piece ${i} of ${path} does not match its SHA-256`, { file: path, piece: i });
    digests.push(digest);
  }
  if (rootHashOf(digests) !== descriptor.root_hash) throw new OnexError(ErrorCode.PieceCorrupt, `${path} does not hash to ${descriptor.root_hash}`, { file: path });
}

/**
 * The first `size` bytes read through `handle`, 64 KiB at a time, at their positions (any number
 * of these share one handle; the store closes it). FileHandle.createReadStream would do, but
 * each stream leaves a listener on the handle for good: one per whole-file download.
 */
function readWhole(handle: FileHandle, size: number): Readable {
  let position = 0;
  return new Readable({
    highWaterMark: WRITE_CHUNK,
    read() {
      const length = Math.min(WRITE_CHUNK, size - position);
      if (length === 0) return void this.push(null);
      handle.read(Buffer.allocUnsafe(length), 0, length, position).then(
        ({ bytesRead, buffer }) => {
          if (bytesRead === 0) return void this.destroy(new OnexError(ErrorCode.ArtifactIncomplete, `the file ends at ${position}, before the artifact does`, { position }));
          position += bytesRead;
          this.push(buffer.subarray(0, bytesRead));
        },
        (error: unknown) => this.destroy(error as Error),
      );
    },
  });
}

async function readAt(handle: FileHandle, descriptor: ArtifactDescriptorRecord, index: number, into?: Buffer): Promise<Buffer> {
  const length = pieceLengthOf(descriptor, index);
  const buffer = into ?? Buffer.allocUnsafe(length);
  await readFully(handle, buffer, length, index * descriptor.piece_size);
  return buffer.subarray(0, length);
}

async function readFully(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new OnexError(ErrorCode.ArtifactIncomplete, `the file ends at ${position + filled}, before the piece does`, { position: position + filled });
    filled += bytesRead;
  }
}

/**
 * Bytes per write of a piece. The kernel sizes the page-cache folios of a write by its length:
 * a 1 MiB write takes 1 MiB folios, contiguous memory that on a VM is often memory the guest
 * never touched, each page of which then faults to the host on first write. Measured on the
 * 2-core VM (perf, bench:artifact): four fetchers spent 2.2-2.8 s of kernel time copying 1 GiB
 * into the page cache in 1 MiB writes, against 0.2-0.4 s for the plain clients writing the same
 * bytes 64 KiB at a time. 64 KiB is what a file write stream uses.
 */
const WRITE_CHUNK = 64 * 1024;

/**
 * A download's writeback starts while it runs: an fdatasync (on libuv's pool, one at a time)
 * each time this much more has been written, so the sync before the rename finds little left.
 * Left to the kernel (which starts writing back only past its dirty thresholds, gigabytes on a
 * large machine), the whole file waited for that sync at the end. With the seeder's uplink
 * capped at 100 MB/s (bench:artifact), a fetch of 256 MiB took 2.4-2.6 s that way and 2.1-2.3 s
 * with writeback under way, four fetchers 5.6-6.0 against 5.0-5.4 s; where the CPU is the
 * limit (loopback, no cap) the difference was not measurable.
 */
const SYNC_EVERY = 32 * 1024 * 1024;

/**
 * Writes a piece at `position`, WRITE_CHUNK at a time, synchronously: sixteen trips through the
 * thread pool per MiB cost more CPU than the copies themselves (~180 against ~80 ms per 256 MiB
 * measured), and a piece's writes take well under a millisecond of the event loop.
 */
function writeInChunks(handle: FileHandle, bytes: Uint8Array, position: number): void {
  for (let offset = 0; offset < bytes.length; ) {
    offset += writeSync(handle.fd, bytes, offset, Math.min(WRITE_CHUNK, bytes.length - offset), position + offset);
  }
}

async function readRecord(path: string, descriptor: ArtifactDescriptorRecord): Promise<Bitfield | undefined> {
  const expected = Math.ceil(descriptor.pieces.length / 8);
  let handle: FileHandle | undefined;
  try {
    // Not through a link, not waiting on a FIFO, and only a regular file of the record's size:
    // anything else (a link to a device that never ends, say) is no record.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile() || info.size !== expected) return undefined;
    const bytes = Buffer.alloc(expected);
    await readFully(handle, bytes, expected, 0);
    return Bitfield.fromBytes(bytes, descriptor.pieces.length);
  } catch {
    // No record, or one from another artifact: start over (the partial file is overwritten piece by piece).
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** Writes `bytes` to a fresh file beside `path` (made here, not through a link) and moves it into place. */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${path}.tmp`;
  const create = () => open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  // A leftover temporary (or a link planted there) is removed, not written through.
  const handle = await create().catch(async (error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    await rm(temporary, { force: true });
    return create();
  });
  try {
    await handle.writeFile(bytes);
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * A file another user owns (planted at `OUT.partial` or `OUT` in a shared folder, say) is not
 * taken: it would become the artifact, verified once and then still theirs to change. Files
 * of this user or of root are taken, as ssh takes its own files.
 */
function refuseOthersFile(info: { uid: number }, path: string): void {
  if (typeof process.getuid !== "function") return;
  const me = process.getuid();
  if (info.uid === me || info.uid === 0) return;
  throw new OnexError(ErrorCode.WriteFailed, `cannot download into ${path}: it belongs to another user (uid ${info.uid}), who could change it after it is verified; remove it, or fetch into a folder of your own`, {
    file: path,
    uid: info.uid,
  });
}

/** The longest name a download keeps beside its target: the record's temporary file (`writeAtomically`). */
const LONGEST_COMPANION = ".pieces.tmp";
/** The longest file name ext4, XFS, Btrfs, tmpfs and APFS take, in bytes. */
const NAME_MAX = 255;

/**
 * Refuses a target whose companion files could not be made, before anything is: otherwise the
 * name fits `OUT.partial` and fails only at the record's first write, with pieces already fetched.
 */
function checkCompanionNames(path: string): void {
  const longest = Buffer.byteLength(basename(path) + LONGEST_COMPANION);
  if (longest <= NAME_MAX) return;
  throw new OnexError(ErrorCode.WriteFailed, `cannot download into ${path}: its name is too long for the files a download keeps beside it (${basename(path)}${LONGEST_COMPANION} would be ${longest} bytes, more than ${NAME_MAX}); choose a shorter name`, {
    file: path,
    errno: "ENAMETOOLONG",
  });
}

/** A local write that failed (a full disk, a removed folder): the fetch stops, it is no peer's fault. */
function writeFailed(path: string, cause: unknown, what = "cannot write"): OnexError {
  const errno = (cause as NodeJS.ErrnoException)?.code;
  return new OnexError(ErrorCode.WriteFailed, `${what} ${path}: ${(cause as Error).message}`, { file: path, ...(errno === undefined ? {} : { errno }) }, { cause });
}
