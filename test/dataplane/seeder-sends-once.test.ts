/**
 * A seeder sends each piece once before it sends any twice, and a piece again only a second
 * after it last did (429 meanwhile); the fetcher takes a deferred piece later or from
 * elsewhere: what keeps the origin's bytes near one copy. A server sends only pieces its store
 * holds (404 for the rest), and a resumed download asks only for the pieces it lacks.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFile, rootHex, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { fetchArtifact } from "../../runtime/dataplane/fetcher.js";
import { PieceServer } from "../../runtime/dataplane/piece-server.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const KB = 1024;
let work: { dir: string; remove(): Promise<void> };
let descriptor: ArtifactDescriptorRecord;
let seeded: PieceStore;
let server: PieceServer;

beforeAll(async () => {
  work = await tempDir();
  const file = join(work.dir, "data.bin");
  await writeRandomFile(file, 4 * 16 * KB);
  descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: 16 * KB }, generateKeyPair());
  seeded = await PieceStore.seed(descriptor, file);
  server = await PieceServer.start();
  server.add(seeded);
});
afterAll(async () => {
  await server?.stop();
  await seeded?.close();
  await work?.remove();
});

const piece = async (index: number) => (await fetch(`${server.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/pieces/${index}`)).status;

describe("a seeder", () => {
  it("defers a second request for a piece while another has not been sent, and one just sent for a second", async () => {
    expect(await piece(0)).toBe(200);
    expect(await piece(0)).toBe(429);
    expect(await piece(1)).toBe(200);
    expect(await piece(2)).toBe(200);
    expect(await piece(1)).toBe(429);
    expect(server.stats.deferred).toBe(2);
    expect(await piece(3)).toBe(200);
    // Every piece has left once: the one just sent waits for its peer to say it has it...
    expect(await piece(3)).toBe(429);
    // ...and a second later a fetcher that lost a piece, or a late peer, gets any of them.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await piece(0)).toBe(200);
    expect(await piece(3)).toBe(200);
    expect(server.stats.piecesServed).toBe(6);
  });

  it("of a download under way answers 404 for a piece it does not hold yet, to GET and HEAD alike", async () => {
    const partial = await PieceStore.open(descriptor, join(work.dir, "partly.bin"));
    const serving = await PieceServer.start();
    serving.add(partial);
    try {
      expect(await partial.writePiece(1, Buffer.from(await seeded.readPiece(1)))).toBe(true);
      const at = (index: number) => `${serving.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/pieces/${index}`;
      const statuses = [];
      for (const method of ["GET", "HEAD"]) for (const index of [0, 1]) statuses.push([method, index, (await fetch(at(index), { method })).status]);
      expect(statuses).toEqual([["GET", 0, 404], ["GET", 1, 200], ["HEAD", 0, 404], ["HEAD", 1, 200]]);
    } finally {
      await serving.stop();
      await partial.close();
    }
  });

  it("is asked only for the pieces a resumed download lacks", async () => {
    const fresh = await PieceServer.start();
    fresh.add(seeded);
    const out = join(work.dir, "resumed.bin");
    try {
      // Three of the four pieces were fetched and verified before the download stopped.
      const partial = await PieceStore.open(descriptor, out);
      for (const i of [0, 1, 2]) expect(await partial.writePiece(i, Buffer.from(await seeded.readPiece(i)))).toBe(true);
      await partial.close();
      const store = await PieceStore.open(descriptor, out);
      const result = await fetchArtifact({ store, peers: { peersOf: () => [{ peerId: "seeder", endpoint: fresh.url, have: seeded.have }] } });
      await store.close();
      expect([result.resumedPieces, result.fetchedPieces, fresh.stats.piecesServed]).toEqual([3, 1, 1]);
    } finally {
      await fresh.stop();
    }
  });

  it("a fetcher deferred on a piece takes the others first and that one once the seeder has sent them all", async () => {
    const fresh = await PieceServer.start();
    fresh.add(seeded);
    try {
      // Piece 0 has left this seeder once already (to a peer this fetcher does not know).
      expect((await fetch(`${fresh.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/pieces/0`)).status).toBe(200);
      const store = await PieceStore.open(descriptor, join(work.dir, "copy.bin"));
      const result = await fetchArtifact({ store, peers: { peersOf: async () => [{ peerId: "seeder", endpoint: fresh.url, have: seeded.have }] }, selfPeerId: "me" });
      await store.close();
      expect(result.fetchedPieces).toBe(descriptor.pieces.length);
      expect(fresh.stats.deferred).toBeGreaterThanOrEqual(1);
      expect(fresh.stats.piecesServed).toBe(descriptor.pieces.length + 1);
    } finally {
      await fresh.stop();
    }
  });

  it("a peer id at a new endpoint is a new process: a stale complete from history is forgotten, and what it does hold is not taken from the seeder", async () => {
    const fresh = await PieceServer.start();
    fresh.add(seeded);
    const partial = await PieceStore.open(descriptor, join(work.dir, "partial.bin"));
    for (const i of [0, 1]) await partial.writePiece(i, await seeded.readPiece(i));
    const peerServer = await PieceServer.start();
    peerServer.add(partial);
    const gone = await PieceServer.start();
    const goneUrl = gone.url;
    await gone.stop();
    try {
      let calls = 0;
      // The stream's history first: "p" complete, at the endpoint of a process that is gone.
      // Then "p" again from its new process (two pieces so far), and the seeder.
      const peersOf = async () =>
        calls++ === 0
          ? [{ peerId: "p", endpoint: goneUrl, have: seeded.have }]
          : [
              { peerId: "p", endpoint: peerServer.url, have: partial.have },
              { peerId: "seeder", endpoint: fresh.url, have: seeded.have },
            ];
      const store = await PieceStore.open(descriptor, join(work.dir, "restarted.bin"));
      const result = await fetchArtifact({ store, peers: { peersOf }, selfPeerId: "me" });
      await store.close();
      expect(result.fetchedPieces).toBe(descriptor.pieces.length);
      expect(result.bytesByPeer.p).toBe(2 * 16 * KB);
      expect(fresh.stats.piecesServed).toBe(descriptor.pieces.length - 2);
    } finally {
      await Promise.all([fresh.stop(), peerServer.stop()]);
      await partial.close();
    }
  });

  it("a HEAD sends nothing and counts as no send", async () => {
    const fresh = await PieceServer.start();
    fresh.add(seeded);
    try {
      const url = `${fresh.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/pieces/0`;
      const head = await fetch(url, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(16 * KB));
      expect((await fetch(url)).status).toBe(200);
      expect(fresh.stats.deferred).toBe(0);
    } finally {
      await fresh.stop();
    }
  });

  it("a piece whose only copy went to a peer that left is sent again after a few seconds, though other pieces never left", async () => {
    const fresh = await PieceServer.start();
    fresh.add(seeded);
    try {
      // Piece 0 left this seeder once, to a peer that is gone; this fetcher holds every other piece already.
      expect((await fetch(`${fresh.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/pieces/0`)).status).toBe(200);
      const out = join(work.dir, "lost.bin");
      const first = await PieceStore.open(descriptor, out);
      for (let i = 1; i < descriptor.pieces.length; i++) await first.writePiece(i, await seeded.readPiece(i));
      await first.close();
      const store = await PieceStore.open(descriptor, out);
      const result = await fetchArtifact({ store, peers: { peersOf: async () => [{ peerId: "seeder", endpoint: fresh.url, have: seeded.have }] }, selfPeerId: "me" });
      await store.close();
      expect(result.fetchedPieces).toBe(1);
      expect(fresh.stats.deferred).toBeGreaterThanOrEqual(1);
    } finally {
      await fresh.stop();
    }
  }, 20_000);
});
