/**
 * Fetches started at once into one file system. Each checked the free space against its own
 * artifact's size, and a partial file is sparse: each found the space the others were about to
 * fill, all passed, and together they filled the disk, the last ones failing midway with their
 * partial files left behind. Now the check counts what the other downloads of the process still
 * have to write there, and a download that ends gives its claim back. A real seeder and fetcher
 * on a real nats-server; the fetcher's folder is a 6 MiB tmpfs (the test runs as root, as CI does).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { pieceCountOf, pieceDigest, rootHashOf, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { ErrorCode } from "../../runtime/errors.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { eventually } from "../registry/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { sha256File, startPeer, tempDir, writeRandomFile, ZONE, type TestPeer } from "./fixtures.js";

const MiB = 1 << 20;
const publisher = generateKeyPair();
let nats: NatsServer;
let work: { dir: string; remove(): Promise<void> };
let disk: string;
let seeder: TestPeer;
const files: Record<"a" | "b", string> = { a: "", b: "" };
const published: Record<"a" | "b", ArtifactDescriptorRecord> = {} as never;

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  work = await tempDir();
  disk = await mkdtemp(join(tmpdir(), "onex-small-disk-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", disk]);
  seeder = await startPeer(nats.url, "seeder", publisher, [publisher]);
  for (const name of ["a", "b"] as const) {
    files[name] = join(work.dir, `${name}.bin`);
    await writeRandomFile(files[name], 4 * MiB);
    published[name] = await seeder.peer.publish(files[name], { name: `models/${name}`, version: "1" });
  }
}, 60_000);

afterAll(async () => {
  await seeder?.close();
  await nats?.stop();
  if (disk !== undefined) {
    execFileSync("umount", [disk]);
    await rm(disk, { recursive: true, force: true });
  }
  await work?.remove();
}, 30_000);

/** A descriptor (4 MiB unless said) the publisher signed whose bytes nobody serves: a fetch of it waits. */
function unservedDescriptor(size = 4 * MiB): ArtifactDescriptorRecord {
  const pieces = Array.from({ length: pieceCountOf(size, MiB) }, () => randomBytes(32).toString("hex"));
  const unsigned: ArtifactDescriptorRecord = { name: "models/unserved", version: "1", media_type: "application/octet-stream", size, piece_size: MiB, pieces, root_hash: rootHashOf(pieces), publisher: publisher.keyId, zone: ZONE, published_at: new Date().toISOString() };
  return signRecord(unsigned, publisher);
}

describe("fetches started at once into one file system", () => {
  let fetcher: TestPeer;
  // A fetcher of its own for each test, and an empty disk: a peer serves what it fetched through
  // the open file, whose pages tmpfs frees only once the peer closes it.
  beforeEach(async () => {
    fetcher = await startPeer(nats.url, "fetcher", generateKeyPair(), [publisher]);
  });
  afterEach(async () => {
    await fetcher?.close();
    for (const name of await readdir(disk)) await rm(join(disk, name), { force: true });
  });

  it("two 4 MiB artifacts into 6 MiB: one is fetched, the other refused with ENOSPC before its first piece, and leaves no file", async () => {
    const outs = { a: join(disk, "a.bin"), b: join(disk, "b.bin") };
    const [a, b] = await Promise.allSettled([fetcher.peer.fetch(published.a, outs.a), fetcher.peer.fetch(published.b, outs.b)]);
    const fetched = [a, b].filter((r) => r.status === "fulfilled");
    const refused = [a, b].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    expect(fetched).toHaveLength(1);
    expect(refused).toHaveLength(1);
    // Refused by the check (what the other fetch claimed is named), not by a write that found the disk full.
    expect(refused[0]).toMatchObject({ code: ErrorCode.WriteFailed, details: { errno: "ENOSPC", needed: 4 * MiB } });
    expect((refused[0] as { details: { claimed: number } }).details.claimed).toBeGreaterThan(0);
    const winner = a.status === "fulfilled" ? "a" : "b";
    expect(await readdir(disk)).toEqual([`${winner}.bin`]);
    expect(await sha256File(outs[winner])).toBe(await sha256File(files[winner]));
  }, 60_000);

  it("a fetch that ends gives its claim back: stopped before any piece came, the next fetch into the same space goes ahead", async () => {
    const stop = new AbortController();
    const waiting = fetcher.peer.fetch(unservedDescriptor(), join(disk, "unserved.bin"), { signal: stop.signal });
    await eventually(() => stat(join(disk, "unserved.bin.partial")).then(() => true, () => false), 10_000, "the stopped fetch's partial file");
    stop.abort();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.ArtifactIncomplete });
    // Its partial file stays to resume (sparse: no piece came); what it claimed is free again.
    const out = join(disk, "a.bin");
    await fetcher.peer.fetch(published.a, out);
    expect(await sha256File(out)).toBe(await sha256File(files.a));
  }, 60_000);

  it("counts only what the others still need: beside a 4 MiB fetch in progress, a 1.5 MiB one fits in 6 MiB and is fetched, a second 4 MiB one is refused", async () => {
    const small = join(work.dir, "small.bin");
    await writeRandomFile(small, 1.5 * MiB);
    const smallDescriptor = await seeder.peer.publish(small, { name: "models/small", version: "1" });
    const stop = new AbortController();
    const held = fetcher.peer.fetch(unservedDescriptor(), join(disk, "held.bin"), { signal: stop.signal });
    await eventually(() => stat(join(disk, "held.bin.partial")).then(() => true, () => false), 10_000, "the held fetch's partial file");
    await expect(fetcher.peer.fetch(published.b, join(disk, "b.bin"))).rejects.toMatchObject({ code: ErrorCode.WriteFailed, details: { errno: "ENOSPC", claimed: 4 * MiB } });
    await expect(stat(join(disk, "b.bin.partial"))).rejects.toMatchObject({ code: "ENOENT" });
    await fetcher.peer.fetch(smallDescriptor, join(disk, "small.bin"));
    expect(await sha256File(join(disk, "small.bin"))).toBe(await sha256File(small));
    stop.abort();
    await expect(held).rejects.toMatchObject({ code: ErrorCode.ArtifactIncomplete });
  }, 60_000);

  it("a download gives back what it has written: a 1.5 MiB fetch fits beside a 4 MiB one that has 2 MiB of its 4 on the disk", async () => {
    // A seeder of its own, at 1 MiB/s: the 4 MiB fetch is in progress for seconds.
    const slow = await startPeer(nats.url, "slow-seeder", publisher, [publisher], { server: { uploadBytesPerSecond: MiB } });
    try {
      const big = join(work.dir, "big.bin");
      const small = join(work.dir, "small-2.bin");
      await writeRandomFile(big, 4 * MiB);
      await writeRandomFile(small, 1.5 * MiB);
      const bigDescriptor = await slow.peer.publish(big, { name: "models/big", version: "1" });
      const smallDescriptor = await seeder.peer.publish(small, { name: "models/small-2", version: "1" });
      let written = 0;
      const inProgress = fetcher.peer.fetch(bigDescriptor, join(disk, "big.bin"), { onPiece: (_index, have) => (written = have.count) });
      await eventually(async () => written >= 2, 20_000, "two pieces of the big fetch on the disk");
      expect(written).toBeLessThan(4);
      // Free: 6 MiB less the 2-3 MiB written; the big fetch still needs 1-2 MiB of it, not 4.
      await fetcher.peer.fetch(smallDescriptor, join(disk, "small-2.bin"));
      expect(await sha256File(join(disk, "small-2.bin"))).toBe(await sha256File(small));
      await inProgress;
      expect(await sha256File(join(disk, "big.bin"))).toBe(await sha256File(big));
    } finally {
      await slow.close();
    }
  }, 60_000);
});

describe("a resumed download", () => {
  afterEach(async () => {
    for (const name of await readdir(disk)) await rm(join(disk, name), { force: true });
  });

  it("whose partial file is larger than the artifact claims nothing, not less than nothing: a download of more than is free is still refused beside it", async () => {
    // The partial file of an interrupted 1 MiB download, fetched again into the same path as an
    // artifact of 20,000 bytes: it is resumed and cut to that size. Its claim was the artifact's
    // size less the bytes the file held, -1 MiB, which the next download counted as free space.
    const bytes = randomBytes(20_000);
    const pieces = [bytes.subarray(0, 16_384), bytes.subarray(16_384)].map((piece) => pieceDigest(piece));
    const unsigned: ArtifactDescriptorRecord = { name: "models/resumed", version: "1", media_type: "application/octet-stream", size: bytes.length, piece_size: 16_384, pieces, root_hash: rootHashOf(pieces), publisher: publisher.keyId, zone: ZONE, published_at: new Date().toISOString() };
    await writeFile(join(disk, "resumed.bin.partial"), Buffer.concat([bytes, randomBytes(MiB)]));
    const resumed = await PieceStore.open(signRecord(unsigned, publisher), join(disk, "resumed.bin"));
    try {
      expect([resumed.complete, (await stat(join(disk, "resumed.bin.partial"))).size]).toEqual([false, bytes.length]);
      const { bavail, bsize } = await statfs(disk);
      // 64 KiB more than is free (the next download's lock file takes a page of it too).
      const needed = bavail * bsize + 64 * 1024;
      // A store opened all the same is closed, so the disk can be unmounted after the failure.
      const next = await PieceStore.open(unservedDescriptor(needed), join(disk, "next.bin")).then(async (store) => (await store.close(), store), (error: unknown) => error);
      expect(next).toMatchObject({ code: ErrorCode.WriteFailed, details: { errno: "ENOSPC", needed, claimed: 0 } });
      await expect(stat(join(disk, "next.bin.partial"))).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      await resumed.close();
    }
  });
});
