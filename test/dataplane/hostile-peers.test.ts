/**
 * Peers that answer, but never usefully: one that sends a piece a byte at a time (each byte
 * keeps an idle timeout from firing), one that answers 429 to every request, one that serves
 * two pieces and then only refuses. A fetch must neither hang on them nor spin forever: the
 * trickle is cut at its transfer deadline and the piece fetched from an honest seeder; a fetch
 * that only ever hears refusals, whatever it received before, stalls with
 * ONEX_E_ARTIFACT_INCOMPLETE. And a peer that leaves a seeder mid-upload does not keep its
 * upload slot. Each test is only bounded in time.
 */
import { request } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bitfield } from "../../runtime/dataplane/bitfield.js";
import { describeFile, rootHex, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { fetchArtifact, type PeerInfo } from "../../runtime/dataplane/fetcher.js";
import { PieceServer, type PieceServerOptions } from "../../runtime/dataplane/piece-server.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const PIECE = 16 * 1024;
let work: { dir: string; remove(): Promise<void> };
let file: string;
let descriptor: ArtifactDescriptorRecord;
let seeder: PieceServer;
let seeded: PieceStore;
const hostile: Server[] = [];

/** A raw HTTP peer that claims every piece and answers each request with `answer`, told the request's path. */
async function hostilePeer(answer: (socket: Socket, path: string) => void, of: ArtifactDescriptorRecord = descriptor): Promise<PeerInfo> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let pending = "";
    socket.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      while (pending.includes("\r\n\r\n")) {
        const path = pending.split(" ", 2)[1] ?? "";
        pending = pending.slice(pending.indexOf("\r\n\r\n") + 4);
        answer(socket, path);
      }
    });
  });
  server.on("close", () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hostile.push(server);
  const { port } = server.address() as { port: number };
  return { peerId: `hostile-${port}`, endpoint: `http://127.0.0.1:${port}`, have: Bitfield.full(of.pieces.length) };
}

/** A peer that answers every piece request with a piece of the right size and wrong bytes, and counts the requests. */
async function corruptPeer(): Promise<{ peer: PeerInfo; asked(): number }> {
  let asked = 0;
  const peer = await hostilePeer((socket, path) => {
    if (!/\/pieces\/\d+$/.test(path)) return void socket.write("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    asked++;
    socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${PIECE}\r\n\r\n`);
    socket.write(Buffer.alloc(PIECE, 0x5a));
  });
  return { peer, asked: () => asked };
}

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "data.bin");
  await writeRandomFile(file, 16 * PIECE);
  descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: PIECE }, generateKeyPair());
  seeded = await PieceStore.seed(descriptor, file);
  seeder = await PieceServer.start();
  seeder.add(seeded);
});

afterAll(async () => {
  for (const server of hostile) server.close();
  await seeder?.stop();
  await seeded?.close();
  await work?.remove();
});

describe("a fetch among hostile peers", () => {
  it("a peer that sends a piece a byte at a time is cut at the transfer deadline, and the fetch completes from the seeder", async () => {
    const trickler = await hostilePeer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${PIECE}\r\n\r\n`);
      const drip = setInterval(() => (socket.destroyed ? clearInterval(drip) : socket.write("x")), 100);
    });
    const out = join(work.dir, "trickled.bin");
    const store = await PieceStore.open(descriptor, out);
    const result = await fetchArtifact({
      store,
      peers: { peersOf: () => [trickler, { peerId: "seeder", endpoint: seeder.url, have: Bitfield.full(descriptor.pieces.length) }] },
      requestTimeoutMs: 500,
      stallTimeoutMs: 10_000,
    });
    await store.close();
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    expect(result.bytesByPeer[trickler.peerId] ?? 0).toBe(0);
  }, 60_000);

  it("a peer that answers its polls and trickles every piece it is sent for stalls the fetch within the stall time and one piece's transfer deadline", async () => {
    // It claims every piece but the last, still downloading, and refuses each, but for one every 2 s, which gets a body at a byte
    // a second until its transfer deadline (5 s idle + 1 s for 16 KiB) cuts it: some body is
    // always arriving, and its polls answered.
    const claim = new Bitfield(descriptor.pieces.length);
    for (let piece = 0; piece < descriptor.pieces.length - 1; piece++) claim.set(piece);
    const dripping = new Set<NodeJS.Timeout>();
    let lastTrickle = 0;
    const trickler = await hostilePeer((socket, path) => {
      if (path.endsWith("/bitfield")) {
        const body = JSON.stringify({ bitfield: claim.toBase64url(), have: claim.count, complete: false });
        return void socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      }
      if (Date.now() - lastTrickle < 2_000) return void socket.write("HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}");
      lastTrickle = Date.now();
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${PIECE}\r\n\r\n`);
      const drip = setInterval(() => (socket.destroyed ? clearInterval(drip) : socket.write("x")), 1_000);
      dripping.add(drip);
    });
    const store = await PieceStore.open(descriptor, join(work.dir, "dripped.bin"));
    // It stalls after the stall time and one deadline (7 s); kept alive, it would run into the test's timeout.
    try {
      await expect(fetchArtifact({ store, peers: { peersOf: () => [{ ...trickler, have: claim }] }, requestTimeoutMs: 5_000, stallTimeoutMs: 1_000 })).rejects.toMatchObject({ code: "ONEX_E_ARTIFACT_INCOMPLETE" });
    } finally {
      for (const drip of dripping) clearInterval(drip);
      await store.close();
    }
  }, 40_000);

  it("a key announcing hundreds of peer ids at an endpoint that never answers holds one peer's share of the requests: the fetch completes from the seeder", async () => {
    // Accepts connections and never answers: each request to it waits out the request timeout (2 s here).
    const silent = createServer((socket) => socket.on("error", () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    hostile.push(silent);
    const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const all = Bitfield.full(descriptor.pieces.length);
    const fakes = Array.from({ length: 300 }, (_, i) => ({ peerId: `fake-${i}`, signer: "key-rogue", endpoint, have: all }));
    const store = await PieceStore.open(descriptor, join(work.dir, "crowded.bin"));
    try {
      // Listed first: where peers rank alike, the first is asked. Held up by the fakes, it would run into the test's timeout.
      const result = await fetchArtifact({ store, peers: { peersOf: () => [...fakes, { peerId: "seeder", signer: "key-seeder", endpoint: seeder.url, have: all }] }, requestTimeoutMs: 2_000 });
      expect(result.bytesByPeer.seeder).toBe(descriptor.size);
    } finally {
      await store.close();
    }
  }, 25_000);

  it("a peer that accepts connections and never answers (a frozen process) holds its pieces until they are asked of another peer, not for the request timeout", async () => {
    const frozen = createServer((socket) => socket.on("error", () => undefined));
    await new Promise<void>((resolve) => frozen.listen(0, "127.0.0.1", resolve));
    hostile.push(frozen);
    const all = Bitfield.full(descriptor.pieces.length);
    const store = await PieceStore.open(descriptor, join(work.dir, "frozen.bin"));
    try {
      // Listed first, so its four requests go out first. Waited for until the request
      // timeout (10 minutes here), its pieces would run the fetch into the test's timeout.
      const result = await fetchArtifact({
        store,
        peers: { peersOf: () => [{ peerId: "frozen", endpoint: `http://127.0.0.1:${(frozen.address() as { port: number }).port}`, have: all }, { peerId: "seeder", endpoint: seeder.url, have: all }] },
        requestTimeoutMs: 600_000,
      });
      expect(result.bytesByPeer.seeder).toBe(descriptor.size);
      expect(result.fetchedPieces).toBe(descriptor.pieces.length);
    } finally {
      await store.close();
    }
  }, 30_000);

  it("a hedged piece's request to the peer that left it waiting is cut once the piece came from another: it is not left to send for nothing", async () => {
    // Claims pieces 0-7 and holds every request it is sent; notes when each connection closes.
    const closed: number[] = [];
    const holding = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.on("close", () => closed.push(Date.now()));
      // Reads (and drops) what it is sent, so it sees the client's end.
      socket.resume();
    });
    await new Promise<void>((resolve) => holding.listen(0, "127.0.0.1", resolve));
    hostile.push(holding);
    const half = (from: number) => {
      const have = new Bitfield(descriptor.pieces.length);
      for (let piece = from; piece < from + descriptor.pieces.length / 2; piece++) have.set(piece);
      return have;
    };
    // Pieces 8-15 come from a seeder sending one a second, so the fetch goes on for seconds after the hedges to the fast one.
    const slow = await PieceServer.start({ uploadBytesPerSecond: 16 * 1024 });
    slow.add(seeded);
    const store = await PieceStore.open(descriptor, join(work.dir, "hedged.bin"));
    const written: number[] = [];
    const stop = store.onPiece(() => written.push(Date.now()));
    try {
      await fetchArtifact({
        store,
        peers: {
          peersOf: () => [
            { peerId: "holding", endpoint: `http://127.0.0.1:${(holding.address() as { port: number }).port}`, have: half(0) },
            { peerId: "fast", endpoint: seeder.url, have: half(0) },
            { peerId: "slow", endpoint: slow.url, have: half(8) },
          ],
        },
        requestTimeoutMs: 600_000,
      });
      // A held request is cut as its piece comes from the fast seeder, not when the fetch ends.
      expect(closed.length).toBeGreaterThan(0);
      expect(Math.min(...closed)).toBeLessThan(written.at(-1)!);
    } finally {
      stop();
      await store.close();
      await slow.stop();
    }
  }, 30_000);

  it("a piece is asked of one peer once at a time: when a hedged piece's first peer drops it, the second is not asked again", async () => {
    const file2 = join(work.dir, "two-pieces.bin");
    await writeRandomFile(file2, 2 * PIECE);
    const two = await describeFile(file2, { name: "data/two", version: "1", zone: ZONE, pieceSize: PIECE }, generateKeyPair());
    // A drops each request after 2.3 s, once its pieces were hedged to B; B never answers.
    const asked: string[] = [];
    const a = await hostilePeer((socket) => void setTimeout(() => socket.destroy(), 2_300), two);
    const b = await hostilePeer((_socket, path) => void asked.push(path), two);
    const store = await PieceStore.open(two, join(work.dir, "two-out.bin"));
    try {
      // Nothing can complete it: it is stopped after A's drops and the hedges after them.
      await expect(fetchArtifact({ store, peers: { peersOf: () => [a, b] }, requestTimeoutMs: 600_000, signal: AbortSignal.timeout(5_000) })).rejects.toMatchObject({ code: "ONEX_E_ARTIFACT_INCOMPLETE" });
      const pieces = asked.filter((path) => path.includes("/pieces/"));
      expect(pieces.length).toBeGreaterThan(0);
      expect(new Set(pieces).size).toBe(pieces.length);
    } finally {
      await store.close();
    }
  }, 30_000);

  it("a fetch that hears only 429s stalls with ONEX_E_ARTIFACT_INCOMPLETE instead of asking forever", async () => {
    // Enough pieces, and answers slow enough (50 ms), that some piece not deferred after its 429 is
    // always there to ask for, and a request is nearly always in flight.
    const many = join(work.dir, "many.bin");
    await writeRandomFile(many, 200 * PIECE);
    const manyPieces = await describeFile(many, { name: "data/many", version: "1", zone: ZONE, pieceSize: PIECE }, generateKeyPair());
    const refuser = await hostilePeer((socket) => void setTimeout(() => socket.write('HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\nretry-after: 1\r\n\r\n{}'), 50), manyPieces);
    const store = await PieceStore.open(manyPieces, join(work.dir, "refused.bin"));
    await expect(fetchArtifact({ store, peers: { peersOf: () => [refuser] }, requestTimeoutMs: 500, stallTimeoutMs: 2_000 })).rejects.toMatchObject({ code: "ONEX_E_ARTIFACT_INCOMPLETE" });
    await store.close();
  }, 30_000);

  it("a peer that serves two pieces and then only refuses still lets the fetch stall with ONEX_E_ARTIFACT_INCOMPLETE", async () => {
    const bytes = await readFile(file);
    let served = 0;
    const fickle = await hostilePeer((socket, path) => {
      const piece = /\/pieces\/(\d+)$/.exec(path);
      if (piece !== null && served < 2) {
        served++;
        const at = Number(piece[1]) * PIECE;
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${PIECE}\r\n\r\n`);
        socket.write(bytes.subarray(at, at + PIECE));
      } else {
        socket.write("HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\nretry-after: 1\r\n\r\n{}");
      }
    });
    const store = await PieceStore.open(descriptor, join(work.dir, "fickle.bin"));
    await expect(fetchArtifact({ store, peers: { peersOf: () => [fickle] }, requestTimeoutMs: 500, stallTimeoutMs: 2_000 })).rejects.toMatchObject({ code: "ONEX_E_ARTIFACT_INCOMPLETE" });
    await store.close();
    expect(served).toBe(2);
  }, 30_000);

  it("a peer caught sending a corrupt piece is asked for nothing more: at most the requests it already had", async () => {
    const { peer: liar, asked } = await corruptPeer();
    const out = join(work.dir, "lied-to.bin");
    const store = await PieceStore.open(descriptor, out);
    const result = await fetchArtifact({
      store,
      peers: { peersOf: () => [liar, { peerId: "seeder", endpoint: seeder.url, have: Bitfield.full(descriptor.pieces.length) }] },
      maxInFlightPerPeer: 4,
    });
    await store.close();
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    expect(result.corruptPeers.map((c) => c.peerId)).toEqual([liar.peerId]);
    expect(asked()).toBeGreaterThan(0);
    expect(asked()).toBeLessThanOrEqual(4);
  }, 30_000);

  it("a key whose peer sent a corrupt piece gets nothing more asked of any peer it announces: fresh peer ids do not buy it another corrupt piece each", async () => {
    const { peer: liar, asked } = await corruptPeer();
    // One key announcing a new peer id for the same liar each time the fetcher looks (every 250 ms), and 100 from the start.
    const ids = Array.from({ length: 100 }, (_, i) => `rogue-${i}`);
    const out = join(work.dir, "lied-to-by-one-key.bin");
    const store = await PieceStore.open(descriptor, out);
    const result = await fetchArtifact({
      store,
      peers: {
        peersOf: () => {
          ids.push(`rogue-${ids.length}`);
          return [...ids.map((peerId) => ({ ...liar, peerId, signer: "key-rogue" })), { peerId: "seeder", signer: "key-seeder", endpoint: seeder.url, have: Bitfield.full(descriptor.pieces.length) }];
        },
      },
      maxInFlightPerPeer: 4,
    });
    await store.close();
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    // The requests in flight when the first corrupt piece came back, and none after it.
    expect(asked()).toBeGreaterThan(0);
    expect(asked()).toBeLessThanOrEqual(4);
    expect(result.corruptPeers.length).toBeLessThanOrEqual(4);
    expect(result.bytesByPeer.seeder).toBe(descriptor.size);
  }, 30_000);

  it("peers named __proto__ and constructor are counted in bytesByPeer like any other: every byte fetched is there, as a number", async () => {
    const all = Bitfield.full(descriptor.pieces.length);
    const store = await PieceStore.open(descriptor, join(work.dir, "prototype-names.bin"));
    const result = await fetchArtifact({ store, peers: { peersOf: () => ["__proto__", "constructor", "toString"].map((peerId) => ({ peerId, endpoint: seeder.url, have: all })) } });
    await store.close();
    const counted = Object.entries(result.bytesByPeer);
    for (const [, bytes] of counted) expect(typeof bytes).toBe("number");
    expect(counted.reduce((sum, [, bytes]) => sum + bytes, 0)).toBe(descriptor.size);
    expect(JSON.parse(JSON.stringify(result.bytesByPeer))).toEqual(Object.fromEntries(counted));
  }, 30_000);

  it("a peer that redirects is not followed: the place it points at gets no request, and the fetch completes from the seeder", async () => {
    let followed = 0;
    const elsewhere = await hostilePeer((socket) => {
      followed++;
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    });
    const redirecting = await hostilePeer((socket, path) => socket.write(`HTTP/1.1 302 Found\r\nlocation: ${elsewhere.endpoint}${path}\r\ncontent-length: 0\r\n\r\n`));
    const store = await PieceStore.open(descriptor, join(work.dir, "redirected.bin"));
    const result = await fetchArtifact({ store, peers: { peersOf: () => [redirecting, { peerId: "seeder", endpoint: seeder.url, have: Bitfield.full(descriptor.pieces.length) }] } });
    await store.close();
    expect(followed).toBe(0);
    expect(result.bytesByPeer.seeder).toBe(descriptor.size);
  }, 30_000);

  it("limits no server can work with are ONEX_E_USAGE; Infinity is no cap (a bucket refilled at Infinity × 0 ms stopped the server)", async () => {
    for (const options of [{ maxUploads: 0 }, { maxUploads: Number.NaN }, { maxUploads: 1.5 }, { uploadBytesPerSecond: 0 }, { uploadBytesPerSecond: Number.NaN }, { uploadBytesPerSecond: -1 }, { uploadBytesPerSecond: 16 * 1024 - 1 }, { port: "abc" }, { port: 70_000 }, { port: 1.5 }, { host: 5 }]) {
      await expect(PieceServer.start(options as PieceServerOptions)).rejects.toMatchObject({ code: "ONEX_E_USAGE", message: expect.stringContaining(Object.keys(options)[0]!) });
    }
    const uncapped = await PieceServer.start({ maxUploads: 2, uploadBytesPerSecond: Infinity });
    uncapped.add(seeded);
    const url = (i: number) => `${uncapped.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/pieces/${i}`;
    try {
      for (let round = 0; round < 3; round++) {
        // Other pieces each round: a seeder sends a piece once before it sends it again (429).
        const answers = await Promise.all([2 * round, 2 * round + 1].map((i) => get(url(i))));
        expect(answers.map((a) => a.status)).toEqual([200, 200]);
      }
    } finally {
      await uncapped.stop();
    }
  }, 30_000);

  it("a peer that leaves while its piece waits for the upload limit gives its upload slot back", async () => {
    // One upload at a time, one piece a second: the first piece empties the bucket.
    const limited = await PieceServer.start({ maxUploads: 1, uploadBytesPerSecond: PIECE });
    limited.add(seeded);
    const url = (i: number) => `${limited.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/pieces/${i}`;
    try {
      expect((await get(url(0))).status).toBe(200);
      // The second request takes the slot and waits for the bucket; its peer leaves meanwhile.
      const leaving = request(url(1));
      leaving.on("error", () => undefined);
      leaving.end();
      await new Promise((resolve) => setTimeout(resolve, 500));
      // While it holds the one slot, another peer is told to come back later, not queued.
      const busy = await get(url(2));
      expect([busy.status, Number(busy.retryAfter) > 0]).toEqual([503, true]);
      leaving.destroy();
      // Once the bucket has refilled, the slot is free for the next peer (it was held for ever).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect((await get(url(2))).status).toBe(200);
    } finally {
      await limited.stop();
    }
  }, 30_000);
});

/** A GET read to its end; resolves with the status and the retry-after header. */
function get(url: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ...(typeof res.headers["retry-after"] === "string" ? { retryAfter: res.headers["retry-after"] } : {}) }));
    })
      .on("error", reject)
      .end();
  });
}
