/**
 * A fetched piece is hashed once: the piece store verifies it before writing, and neither the
 * fetcher before it nor the finish after it hashes the bytes again. node:crypto's createHash
 * is counted (the rest of node:crypto is the real one).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const hashes = vi.hoisted(() => ({ sha256: 0 }));
vi.mock("node:crypto", async (importOriginal) => {
  const crypto = await importOriginal<typeof import("node:crypto")>();
  const createHash: typeof crypto.createHash = (algorithm, options) => {
    if (algorithm === "sha256") hashes.sha256++;
    return crypto.createHash(algorithm, options);
  };
  return { ...crypto, createHash, default: { ...crypto, createHash } };
});

const { describeFile } = await import("../../runtime/dataplane/descriptor.js");
const { PieceStore } = await import("../../runtime/dataplane/piece-store.js");
const { ErrorCode, isOnexError } = await import("../../runtime/errors.js");
const { generateKeyPair } = await import("../../runtime/trust/keys.js");
const { tempDir, writeRandomFile, ZONE } = await import("./fixtures.js");

const KB = 1024;
let work: { dir: string; remove(): Promise<void> };
let file: string;

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "data.bin");
  await writeRandomFile(file, 7 * 16 * KB + 5);
});
afterAll(() => work?.remove());

describe("hashing a download", () => {
  it("hashes each written piece once, from the first piece to the file renamed into place", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: 16 * KB }, generateKeyPair());
    const seeded = await PieceStore.seed(descriptor, file);
    const pieces = await Promise.all(descriptor.pieces.map((_, i) => seeded.readPiece(i)));
    const store = await PieceStore.open(descriptor, join(work.dir, "copy.bin"));
    hashes.sha256 = 0;
    for (const [i, bytes] of pieces.entries()) await store.writePiece(i, bytes);
    await store.finished();
    expect(store.complete).toBe(true);
    expect(hashes.sha256).toBe(descriptor.pieces.length);
    await Promise.all([store.close(), seeded.close()]);
  });

  it("a publisher hashes its file once: describing it; seeding what it just described hashes nothing more", async () => {
    hashes.sha256 = 0;
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: 16 * KB }, generateKeyPair());
    const described = hashes.sha256;
    // One hash per piece, and a few more for the root hash and the key id.
    expect(described).toBeGreaterThanOrEqual(descriptor.pieces.length);
    expect(described).toBeLessThan(descriptor.pieces.length + 4);
    const store = await PieceStore.described(descriptor, file);
    expect(hashes.sha256).toBe(described);
    expect((await store.readPiece(2)).length).toBe(16 * KB);
    await store.close();
  });

  it("a corrupt piece is refused with the digest it has, so the fetcher can report the peer without hashing it again", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: 16 * KB }, generateKeyPair());
    const seeded = await PieceStore.seed(descriptor, file);
    const bad = Buffer.from(await seeded.readPiece(3));
    bad[0] = bad[0]! ^ 1;
    const store = await PieceStore.open(descriptor, join(work.dir, "corrupt.bin"));
    const refusal = await store.writePiece(3, bad).catch((error: unknown) => error);
    expect(isOnexError(refusal) && refusal.code === ErrorCode.PieceCorrupt).toBe(true);
    const details = (refusal as { details: { expected: string; actual: string } }).details;
    expect(details.expected).toBe(descriptor.pieces[3]);
    expect(details.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(details.actual).not.toBe(details.expected);
    await Promise.all([store.close(), seeded.close()]);
  });
});
