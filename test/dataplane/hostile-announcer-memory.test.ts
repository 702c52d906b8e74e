/**
 * A trusted key announces many peer ids at an endpoint that accepts connections and never
 * answers, for an artifact whose publisher chose the largest pieces (64 MiB). The fetcher polls
 * every peer id's `/bitfield` at once; each poll used to take a piece buffer for an answer of a
 * few hundred bytes, so a hundred ids had the fetch allocate 6.4 GiB. A poll's buffer is now the
 * size of the answer it can take: the fetch's buffers stay those of its piece requests.
 */
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFile, MAX_PIECE_SIZE, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { fetchArtifact } from "../../runtime/dataplane/fetcher.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

let work: { dir: string; remove(): Promise<void> };
let descriptor: ArtifactDescriptorRecord;

beforeAll(async () => {
  work = await tempDir();
  const file = join(work.dir, "small.bin");
  await writeRandomFile(file, 100_000);
  descriptor = await describeFile(file, { name: "models/small", version: "1", zone: ZONE, pieceSize: MAX_PIECE_SIZE }, generateKeyPair());
});
afterAll(() => work?.remove());

describe("a key announcing many peer ids that never answer", () => {
  it("costs the fetch a buffer the size of a /bitfield answer per poll, not a 64 MiB piece buffer", async () => {
    const silent = createServer((socket) => socket.on("error", () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const fakes = Array.from({ length: 100 }, (_, i) => ({ peerId: `fake-${i}`, signer: "key-rogue", endpoint }));
    const store = await PieceStore.open(descriptor, join(work.dir, "out.bin"));
    // Each poll waits out the request timeout (2 s) holding its buffer: sampled far more often than that.
    let most = 0;
    const sample = setInterval(() => (most = Math.max(most, process.memoryUsage().arrayBuffers)), 20);
    try {
      await expect(fetchArtifact({ store, peers: { peersOf: () => fakes }, requestTimeoutMs: 2_000, stallTimeoutMs: 3_000 })).rejects.toMatchObject({ code: "ONEX_E_ARTIFACT_INCOMPLETE" });
    } finally {
      clearInterval(sample);
      await store.close();
      silent.close();
    }
    // The one piece's two requests (a piece and its hedge) may take 128 MiB; the polls took 6.4 GiB.
    expect(most).toBeLessThan(512 * 1024 * 1024);
  }, 20_000);
});
