/**
 * The piece store writes each piece in 64 KiB writes (page-cache folios sized for memory a VM
 * already backs; see piece-store.ts): pieces of 1 MiB, and a last piece that is not a multiple
 * of 64 KiB, written in any order, make exactly the original file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFile } from "../../runtime/dataplane/descriptor.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const MB = 1 << 20;
let work: { dir: string; remove(): Promise<void> };
let file: string;

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "data.bin");
  await writeRandomFile(file, 5 * MB + 3 * 65536 + 17);
});
afterAll(() => work?.remove());

describe("piece store writes", () => {
  it("pieces larger than one write, written out of order, make the original file", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const seeded = await PieceStore.seed(descriptor, file);
    const out = join(work.dir, "copy.bin");
    const store = await PieceStore.open(descriptor, out);
    const order = descriptor.pieces.map((_, i) => i).reverse();
    for (const i of order) expect(await store.writePiece(i, Buffer.from(await seeded.readPiece(i)))).toBe(true);
    await store.finished();
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    await Promise.all([store.close(), seeded.close()]);
  });
});
