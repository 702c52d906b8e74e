/**
 * A publisher granted a name signs a descriptor of an artifact larger than the fetcher's disk
 * (a size is the publisher's to choose; a terabyte at 64 MiB pieces is 16,384 digests). The
 * partial file is sparse, so opening it cost nothing, and the fetch downloaded until the disk
 * was full, for every other writer on it too. The store now refuses such a download before its
 * first piece: ONEX_E_WRITE_FAILED with `errno` ENOSPC, and no file left behind.
 */
import { randomBytes } from "node:crypto";
import { readdir, statfs } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PIECE_SIZE, pieceCountOf, rootHashOf, verifyDescriptor, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { tempDir, ZONE } from "./fixtures.js";

let work: { dir: string; remove(): Promise<void> };
beforeAll(async () => {
  work = await tempDir();
});
afterAll(() => work?.remove());

/** A signed, consistent descriptor of `size` bytes in 64 MiB pieces whose bytes nobody has. */
function descriptorOfSize(size: number, publisher = generateKeyPair()): ArtifactDescriptorRecord {
  const pieces = Array.from({ length: pieceCountOf(size, MAX_PIECE_SIZE) }, () => randomBytes(32).toString("hex"));
  const unsigned: ArtifactDescriptorRecord = { name: "models/huge", version: "1", media_type: "application/octet-stream", size, piece_size: MAX_PIECE_SIZE, pieces, root_hash: rootHashOf(pieces), publisher: publisher.keyId, zone: ZONE, published_at: new Date().toISOString() };
  const descriptor = signRecord(unsigned, publisher);
  // What a fetcher that trusts the publisher for models/* accepts.
  return verifyDescriptor(descriptor, { zone: ZONE, publishers: [{ key: publisher.publicKey, names: ["models/*"] }] });
}

describe("an artifact larger than the disk", () => {
  it("is refused before its first piece with ONEX_E_WRITE_FAILED (ENOSPC), and leaves nothing behind", async () => {
    const fs = await statfs(work.dir);
    const free = fs.bavail * fs.bsize;
    const descriptor = descriptorOfSize(free + 16 * MAX_PIECE_SIZE);
    const out = join(work.dir, "huge.bin");
    let opened: PieceStore | undefined;
    try {
      opened = await PieceStore.open(descriptor, out);
    } catch (error) {
      expect(error).toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { errno: "ENOSPC", file: `${out}.partial` } });
    } finally {
      await opened?.close();
    }
    expect(opened, "the store opened a download the disk cannot hold").toBeUndefined();
    expect(await readdir(work.dir)).toEqual([]);
  });

  it("one the disk can hold still opens, sparse (a test that the check does not refuse everything)", async () => {
    const descriptor = descriptorOfSize(4 * MAX_PIECE_SIZE);
    const store = await PieceStore.open(descriptor, join(work.dir, "fits.bin"));
    expect(store.have.count).toBe(0);
    await store.close();
  });
});
