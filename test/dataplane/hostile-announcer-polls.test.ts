/**
 * A trusted key announces hundreds of peer ids, each at an address of its own that accepts
 * connections and never answers, with no bitfield: the fetcher learns what such a peer holds by
 * polling its `/bitfield`. Polled each on its own, every id held a connection (a file
 * descriptor) until its request timed out, and 3,000 of them made a fetch limited to 1,024 open
 * files fail with EMFILE writing its record. The key's peers that have delivered nothing are now
 * polled as one peer: at most its share of requests (4) at a time.
 */
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFile, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { fetchArtifact } from "../../runtime/dataplane/fetcher.js";
import { PieceServer } from "../../runtime/dataplane/piece-server.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const PIECE = 16 * 1024;
let work: { dir: string; remove(): Promise<void> };
let descriptor: ArtifactDescriptorRecord;
let seeded: PieceStore;
let seeder: PieceServer;

beforeAll(async () => {
  work = await tempDir();
  const file = join(work.dir, "data.bin");
  await writeRandomFile(file, 16 * PIECE);
  descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: PIECE }, generateKeyPair());
  seeded = await PieceStore.seed(descriptor, file);
  // Capped so the fetch lasts a few seconds (256 KiB at 64 KiB/s): long enough for every poll to go out.
  seeder = await PieceServer.start({ uploadBytesPerSecond: 64 * 1024 });
  seeder.add(seeded);
});
afterAll(async () => {
  await seeder?.stop();
  await seeded?.close();
  await work?.remove();
});

describe("a key announcing hundreds of peer ids at addresses that never answer", () => {
  it("has its peers polled 4 at a time, not one connection each: the fetch completes from the seeder", async () => {
    const open = new Set<Socket>();
    let most = 0;
    // Listening on every address: 127.1.x.y (all loopback) are as many hosts to the fetcher.
    const silent = createServer((socket) => {
      open.add(socket);
      most = Math.max(most, open.size);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "0.0.0.0", resolve));
    const port = (silent.address() as { port: number }).port;
    const fakes = Array.from({ length: 300 }, (_, i) => ({ peerId: `fake-${i}`, signer: "key-rogue", endpoint: `http://127.1.${i >> 8}.${(i & 255) + 1}:${port}` }));
    const store = await PieceStore.open(descriptor, join(work.dir, "out.bin"));
    try {
      const result = await fetchArtifact({ store, peers: { peersOf: () => [...fakes, { peerId: "seeder", signer: "key-seeder", endpoint: seeder.url }] } });
      expect(result.bytesByPeer.seeder).toBe(descriptor.size);
    } finally {
      await store.close();
      for (const socket of open) socket.destroy();
      silent.close();
    }
    expect(most).toBeGreaterThan(0); // the fakes were polled at all
    expect(most).toBeLessThanOrEqual(4);
  }, 30_000);
});
