/**
 * The fetcher's scheduler keeps its rarest-first order a change at a time and stops a pass once
 * no peer with room holds a piece it could be asked for (fetcher.ts `#picker`, `wanted`). Both are
 * shortcuts a wrong count turns into a stall: a piece left out of the order, or a peer thought
 * to hold nothing, is never asked for. These fetches give the counts every way to go wrong
 * (refusals of every kind, resets, backoffs, a peer moving between endpoints with a different
 * bitfield each time, peers that announce nothing, a refusal from a peer's earlier process, a
 * peer restarted at the same endpoint) and must still end with the whole file; so must a fetch
 * whose peer directory fails or stops answering.
 * Each test is only bounded in time.
 */
import { createServer, request, type Server, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bitfield } from "../../runtime/dataplane/bitfield.js";
import { describeFile, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { fetchArtifact, type PeerDirectory, type PeerInfo } from "../../runtime/dataplane/fetcher.js";
import { PieceServer } from "../../runtime/dataplane/piece-server.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const PIECE = 16 * 1024;
const PIECES = 400;
let work: { dir: string; remove(): Promise<void> };
let file: string;
let descriptor: ArtifactDescriptorRecord;
let seeded: PieceStore;
const honest: PieceServer[] = [];
const proxies: Server[] = [];

/** A peer in front of `target` that answers a piece request, with probability `p`, with one of `statuses` (0: the connection is cut). */
function unreliable(target: string, p: number, statuses: number[]): Promise<string> {
  return intercepting(target, (res, piece) => {
    if (piece === undefined || Math.random() >= p) return false;
    const status = statuses[Math.floor(Math.random() * statuses.length)]!;
    if (status === 0) res.socket?.destroy();
    else {
      res.statusCode = status;
      res.end("{}");
    }
    return true;
  });
}

/**
 * A peer in front of `target` whose `hook` may answer a request itself (returning true); `piece`
 * is the piece asked for, if any. Piece requests it passes on are answered `delayMs` late.
 */
async function intercepting(target: string, hook: (res: ServerResponse, piece: number | undefined) => boolean, delayMs = 0): Promise<string> {
  const server = createServer((req, res) => {
    const asked = /\/pieces\/(\d+)$/.exec(req.url!);
    if (hook(res, asked ? Number(asked[1]) : undefined)) return;
    if (asked && delayMs > 0) setTimeout(() => forward(res, target + req.url!), delayMs);
    else forward(res, target + req.url!);
  });
  return listen(server);
}

/** Answers `res` with what `url` answers. */
function forward(res: ServerResponse, url: string): void {
  const upstream = request(url, (answer) => {
    res.writeHead(answer.statusCode!, answer.headers);
    answer.pipe(res);
  });
  upstream.on("error", () => res.destroy());
  upstream.end();
}

/** A peer that serves nothing: 404 to every request, its bitfield included. */
async function empty(): Promise<string> {
  return listen(
    createServer((_req, res) => {
      res.statusCode = 404;
      res.end("{}");
    }),
  );
}

/** Starts `server` on a free loopback port (closed after the tests) and gives its base URL. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxies.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function randomBitfield(fraction: number): Bitfield {
  const bits = new Bitfield(PIECES);
  for (let i = 0; i < PIECES; i++) if (Math.random() < fraction) bits.set(i);
  return bits;
}

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "data.bin");
  await writeRandomFile(file, PIECES * PIECE);
  descriptor = await describeFile(file, { name: "data/scheduler", version: "1", zone: ZONE, pieceSize: PIECE }, generateKeyPair());
  seeded = await PieceStore.seed(descriptor, file);
  for (let i = 0; i < 3; i++) {
    const server = await PieceServer.start();
    server.add(seeded);
    honest.push(server);
  }
}, 60_000);

afterAll(async () => {
  for (const server of proxies) {
    server.closeAllConnections();
    server.close();
  }
  for (const server of honest) await server.stop();
  await seeded?.close();
  await work?.remove();
});

async function fetchAll(name: string, peers: PeerDirectory["peersOf"] | PeerDirectory[], stallTimeoutMs = 8_000): Promise<void> {
  const out = join(work.dir, name);
  const store = await PieceStore.open(descriptor, out);
  try {
    await fetchArtifact({ store, peers: Array.isArray(peers) ? peers : { peersOf: peers }, maxInFlightPerPeer: 2, maxInFlight: 4, requestTimeoutMs: 1_000, stallTimeoutMs });
  } finally {
    await store.close();
  }
  expect((await readFile(out)).equals(await readFile(file))).toBe(true);
}

describe("the fetcher's scheduler", () => {
  for (const round of [1, 2]) {
    it(`completes among refusing, resetting, backing-off peers and one moving between endpoints (round ${round})`, async () => {
      // The one complete peer refuses half its requests: 503 (backoff), 429 (deferral), 500 (a failure) or a cut connection.
      const seeder = await unreliable(honest[0]!.url, 0.5, [503, 429, 500, 0]);
      // Claims every piece and answers 404 to most: refusals, probed and lifted as it serves some.
      const liar = await unreliable(honest[1]!.url, 0.9, [404]);
      // One peer id at two endpoints in turn, a new random bitfield each time: forgotten and counted anew.
      const mover = [await unreliable(honest[2]!.url, 0.3, [404, 503]), await unreliable(honest[2]!.url, 0.3, [429, 0])];
      let refreshes = 0;
      await fetchAll(`chaos-${round}.bin`, () => {
        refreshes++;
        return [
          { peerId: "seeder", endpoint: seeder, have: Bitfield.full(PIECES) },
          { peerId: "liar", endpoint: liar, have: Bitfield.full(PIECES) },
          { peerId: "mover", endpoint: mover[Math.floor(refreshes / 6) % 2]!, have: randomBitfield(0.3) },
        ];
      });
    }, 60_000);
  }

  it("a refusal from a peer's earlier process, answered after it moved, is not charged to the new one", async () => {
    // The old process answers 404 600 ms after being asked: within the request timeout, and after
    // the next directory refresh (250 ms on) has the peer at a new endpoint, the only one serving
    // the file. Charged to the new process, those 404s kept the fetch from ever asking it for
    // those pieces, and the fetch stalled.
    const before = await listen(
      createServer((_req, res) => {
        setTimeout(() => {
          res.statusCode = 404;
          res.end("{}");
        }, 600);
      }),
    );
    let refreshes = 0;
    await fetchAll("moved.bin", () => [{ peerId: "mover", endpoint: refreshes++ === 0 ? before : honest[0]!.url, have: Bitfield.full(PIECES) }]);
  }, 60_000);

  it("asks a peer restarted at the same endpoint again for what it refused, however often it restarts", async () => {
    // The only peer, announced complete, restarts twice on its port: while it loads the file it
    // answers 404 to every request, its bitfield included (as a piece server does before the
    // artifact is added), and then serves everything again. Refusals lasted for the whole fetch
    // and the fetch stalled; lifted when the bitfield changed, a second restart (the same full
    // bitfield before and after) stalled it as well.
    const started = Date.now();
    const down = () => {
      const t = Date.now() - started;
      return t < 1_000 || (t >= 1_500 && t < 2_500);
    };
    // Pieces are answered 15 ms late, so the fetch spans both restarts.
    const seeder = await intercepting(
      honest[0]!.url,
      (res) => {
        if (!down()) return false;
        res.statusCode = 404;
        res.end("{}");
        return true;
      },
      15,
    );
    await fetchAll("restarted.bin", () => [{ peerId: "seeder", endpoint: seeder, have: Bitfield.full(PIECES) }]);
  }, 60_000);

  it("asks a restarted peer again as soon as it is back, however long it was away", async () => {
    // Down for 8 s of a 12 s stall time: refusals lifted after 1, 3, 7 and 15 s asked it again
    // too late, and the fetch stalled.
    const started = Date.now();
    const seeder = await intercepting(honest[0]!.url, (res) => {
      if (Date.now() - started >= 8_000) return false;
      res.statusCode = 404;
      res.end("{}");
      return true;
    });
    await fetchAll("away.bin", () => [{ peerId: "seeder", endpoint: seeder, have: Bitfield.full(PIECES) }], 12_000);
  }, 60_000);

  it("completes from a busy seeder while peers with room announce nothing", async () => {
    const nobody = await Promise.all([empty(), empty(), empty()]);
    await fetchAll("idle-peers.bin", () => [
      { peerId: "seeder", endpoint: honest[0]!.url, have: Bitfield.full(PIECES) },
      ...nobody.map((endpoint, i) => ({ peerId: `nobody-${i}`, endpoint, have: new Bitfield(PIECES) })),
    ]);
  }, 60_000);
});

describe("the fetcher's peer directories", () => {
  /** The seeder, its pieces answered 10 ms late: the fetch spans many directory lookups (one each 250 ms). */
  const slowSeeder = () => intercepting(honest[0]!.url, () => false, 10);
  const seederAt = (endpoint: string) => [{ peerId: "seeder", endpoint, have: Bitfield.full(PIECES) }];

  it("a lookup that fails, by throwing or by rejecting, leaves the peers known so far", async () => {
    const seeder = await slowSeeder();
    let lookups = 0;
    await fetchAll("directory-fails.bin", () => {
      lookups++;
      if (lookups % 3 === 2) throw new Error("the registry could not be reached");
      if (lookups % 3 === 0) return Promise.reject(new Error("the registry timed out"));
      return seederAt(seeder);
    });
    expect(lookups).toBeGreaterThan(3);
  }, 60_000);

  it("a lookup that never answers holds up nothing", async () => {
    const seeder = await slowSeeder();
    let lookups = 0;
    await fetchAll("directory-hangs.bin", () => (lookups++ === 0 ? Promise.resolve(seederAt(seeder)) : new Promise(() => {})));
  }, 60_000);

  it("an answer that is not a list of peers is a failed lookup, not a crash", async () => {
    const seeder = await slowSeeder();
    let lookups = 0;
    const garbage = [null, [null], "peers", [{ peerId: "x" }]] as unknown as PeerInfo[][];
    await fetchAll("directory-garbage.bin", () => {
      const i = lookups++;
      return i === 0 ? seederAt(seeder) : Promise.resolve(garbage[i % garbage.length]!);
    });
  }, 60_000);

  it("a directory that answers something other than a list of peers has failed, and the fetch says so", async () => {
    for (const garbage of [[{ peerId: "x" }], "peers", [{ peerId: "x", endpoint: "http://127.0.0.1:9", have: "all" }]]) {
      const store = await PieceStore.open(descriptor, join(work.dir, "garbage-directory.bin"));
      try {
        const fetching = fetchArtifact({ store, peers: { peersOf: () => garbage as unknown as PeerInfo[] }, selfPeerId: "me", discoverTimeoutMs: 500 });
        await expect(fetching).rejects.toMatchObject({ code: "ONEX_E_NO_PEERS", message: expect.stringContaining("something other than a list of peers") });
      } finally {
        await store.close();
      }
    }
  }, 60_000);

  it("a directory that fails or never answers holds up no other", async () => {
    const seeder = await slowSeeder();
    const silent: PeerDirectory = { peersOf: () => new Promise(() => {}) };
    const failing: PeerDirectory = { peersOf: () => Promise.reject(new Error("the registry could not be reached")) };
    await fetchAll("directories.bin", [silent, failing, { peersOf: () => seederAt(seeder) }]);
  }, 60_000);

  it("a fetch that finds no peer names the directory's failure", async () => {
    const store = await PieceStore.open(descriptor, join(work.dir, "no-directory.bin"));
    const failure = new Error("the registry could not be reached");
    try {
      const fetching = fetchArtifact({ store, peers: { peersOf: () => Promise.reject(failure) }, discoverTimeoutMs: 500 });
      await expect(fetching).rejects.toMatchObject({ code: "ONEX_E_NO_PEERS", message: expect.stringContaining(failure.message), cause: failure });
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe("the fetcher's options", () => {
  it("a limit no fetch can work with is ONEX_E_USAGE at once (with maxInFlight 0 it stalled a minute later, blaming the peers)", async () => {
    const store = await PieceStore.open(descriptor, join(work.dir, "bad-options.bin"));
    const peers = { peersOf: () => [] };
    try {
      for (const [name, value] of [["maxInFlight", 0], ["maxInFlight", Number.NaN], ["maxInFlightPerPeer", 1.5], ["requestTimeoutMs", 0], ["stallTimeoutMs", -1], ["discoverTimeoutMs", Number.NaN]] as const) {
        await expect(fetchArtifact({ store, peers, [name]: value })).rejects.toMatchObject({ code: "ONEX_E_USAGE", message: expect.stringContaining(`${name} must be`) });
      }
      expect(store.have.count).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("takes Infinity for a timeout: no limit", async () => {
    const out = join(work.dir, "no-limits.bin");
    const store = await PieceStore.open(descriptor, out);
    try {
      const peers = { peersOf: () => [{ peerId: "seeder", endpoint: honest[0]!.url, have: Bitfield.full(PIECES) }] };
      await fetchArtifact({ store, peers, requestTimeoutMs: Infinity, stallTimeoutMs: Infinity, discoverTimeoutMs: Infinity });
    } finally {
      await store.close();
    }
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
  }, 60_000);
});
