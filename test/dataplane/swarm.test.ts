/**
 * The data plane end to end on loopback, against a real nats-server: one seeder and four
 * fetchers share a 64 MB artifact; a peer serving corrupt pieces is dropped and loses
 * reputation; the seeder dies once every piece has reached the swarm and the fetchers finish
 * from each other; an interrupted download resumes. No timing assertions: each test is only
 * bounded in time.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode, isOnexError } from "../../runtime/errors.js";
import { Bitfield } from "../../runtime/dataplane/bitfield.js";
import type { ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { PieceServer } from "../../runtime/dataplane/piece-server.js";
import { PieceStore, type PieceSource } from "../../runtime/dataplane/piece-store.js";
import { publishersOf } from "../../runtime/dataplane/publishers.js";
import { Swarm } from "../../runtime/dataplane/swarm.js";
import { generateKeyPair, keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import { TrustLedger } from "../../runtime/trust/trust-ledger.js";
import { client } from "../jetstream/fixtures.js";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { sha256File, startPeer, tempDir, writeRandomFile, ZONE, type TestPeer } from "./fixtures.js";

const MB = 1 << 20;
const SIZE = 64 * MB;

let nats: NatsServer;
let work: { dir: string; remove(): Promise<void> };
let source: string;
let sourceHash: string;
const keys: Record<string, KeyPair> = {};
const peers: TestPeer[] = [];

function key(name: string): KeyPair {
  return (keys[name] ??= generateKeyPair());
}
const trusted = () => ["seeder", "f1", "f2", "f3", "f4", "liar"].map(key);

async function peer(id: string, extra: Parameters<typeof startPeer>[4] = {}): Promise<TestPeer> {
  const p = await startPeer(nats.url, id, key(id.replace(/-.*/, "")), trusted(), extra);
  peers.push(p);
  return p;
}

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  work = await tempDir();
  source = join(work.dir, "model.bin");
  // One byte short of 64 MiB, so the last piece is a short one.
  await writeRandomFile(source, SIZE - 1);
  sourceHash = await sha256File(source);
}, 60_000);

afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  await nats?.stop();
  await work?.remove();
}, 30_000);

describe("swarm distribution", () => {
  it("one seeder and four fetchers: every fetcher ends with a byte-identical file, and pieces flow between fetchers", async () => {
    const seeder = await peer("seeder-a");
    const descriptor = await seeder.peer.publish(source, { name: "models/llm", version: "1.0.0" });
    expect(descriptor.pieces).toHaveLength(64);
    const fetchers = await Promise.all(["f1-a", "f2-a", "f3-a", "f4-a"].map((id) => peer(id)));
    const results = await Promise.all(fetchers.map((f, i) => f.peer.fetch({ name: "models/llm", version: "1.0.0" }, join(work.dir, `a-${i}.bin`), { stallTimeoutMs: 30_000 })));
    for (let i = 0; i < 4; i++) {
      const out = join(work.dir, `a-${i}.bin`);
      expect(await sha256File(out)).toBe(sourceHash);
      // The temporary file and the piece record are gone once the file is in place.
      expect(existsSync(PieceStore.partialPathOf(out))).toBe(false);
      expect(existsSync(PieceStore.recordPathOf(out))).toBe(false);
      expect(results[i]!.descriptor.root_hash).toBe(descriptor.root_hash);
      expect(results[i]!.result.fetchedPieces).toBe(64);
    }
    const fromFetchers = results.flatMap((r) => Object.entries(r.result.bytesByPeer).filter(([id]) => id !== "seeder-a").map(([, bytes]) => bytes));
    // Some pieces came from other fetchers, not the seeder: a swarm, not four downloads.
    expect(fromFetchers.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(seeder.peer.server.stats.piecesServed).toBeGreaterThanOrEqual(64);
  }, 120_000);
});

/** Resolves once `peer`'s swarm lists every one of `peerIds` for the artifact (bounded by the test's timeout). */
async function heardOf(peer: TestPeer, rootHash: string, peerIds: string[]): Promise<void> {
  while (!peerIds.every((id) => peer.peer.swarm.peersOf(rootHash).some((p) => p.peerId === id))) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Serves every piece of a complete store with one byte flipped: a trusted peer gone bad. */
function lyingSource(honest: PieceSource): PieceSource {
  return {
    descriptor: honest.descriptor,
    have: Bitfield.full(honest.descriptor.pieces.length),
    wholeFile: () => undefined,
    async readPiece(index) {
      const bytes = Buffer.from(await honest.readPiece(index));
      bytes[0] = bytes[0]! ^ 0xff;
      return bytes;
    },
  };
}

describe("faults", () => {
  it("a peer serving a corrupt piece is dropped, reported, loses ledger score, and the piece is fetched elsewhere", async () => {
    const seeder = await peer("seeder-b");
    const descriptor = await seeder.peer.publish(source, { name: "models/corrupt", version: "1.0.0" });
    // The liar is trusted on the control plane; only the piece hashes give it away.
    const liarServer = await PieceServer.start();
    const liarStore = await PieceStore.seed(descriptor, source);
    liarServer.add(lyingSource(liarStore));
    const liarClient = await client(nats.url, key("liar"), trusted());
    const liarSwarm = await Swarm.join({ client: liarClient, messages: v0_2, peerId: "liar-b", zone: ZONE, endpoint: liarServer.url, signer: key("liar").keyId, publishers: publishersOf(trusted().map((k) => k.publicKey)), logger: { warn() {} } });
    await liarSwarm.announce(descriptor, Bitfield.full(descriptor.pieces.length));
    try {
      const ledgerKey = key("f1");
      const ledger = new TrustLedger({ keys: keyRing([ledgerKey.publicKey]) });
      const before = ledger.score("liar-b");
      const fetcher = await peer("f1-b", { ledger });
      // Fetch only once the fetcher has heard the liar: otherwise the seeder alone can serve
      // every piece before the liar's announcement arrives, and there is nothing to catch.
      await heardOf(fetcher, descriptor.root_hash, ["seeder-b", "liar-b"]);
      const reports: string[] = [];
      const out = join(work.dir, "b.bin");
      const { result } = await fetcher.peer.fetch(descriptor, out, { onCorruptPeer: (r) => reports.push(r.peerId), stallTimeoutMs: 30_000 });
      expect(await sha256File(out)).toBe(sourceHash);
      expect(reports).toEqual(["liar-b"]);
      expect(result.corruptPeers).toHaveLength(1);
      expect(result.corruptPeers[0]!.actual).not.toBe(result.corruptPeers[0]!.expected);
      // Nothing the liar sent was kept.
      expect(result.bytesByPeer["liar-b"]).toBeUndefined();
      expect(ledger.score("liar-b")).toBeLessThan(before);
      expect(ledger.explain("liar-b").entries[0]).toMatchObject({ signer: ledgerKey.keyId, proposed: -0.25 });
    } finally {
      await liarSwarm.stop();
      await liarServer.stop();
      await liarStore.close();
      await liarClient.close();
    }
  }, 120_000);

  it("a trusted peer announcing the seeder's peer id, over and over, at an endpoint that does not answer is another peer: the fetch completes from the seeder", async () => {
    const seeder = await peer("seeder-g");
    const descriptor = await seeder.peer.publish(source, { name: "models/impersonated", version: "1.0.0" });
    const rogueClient = await client(nats.url, key("liar"), trusted());
    const rogue = await Swarm.join({ client: rogueClient, messages: v0_2, peerId: "seeder-g", zone: ZONE, endpoint: "http://127.0.0.1:9", signer: key("liar").keyId, publishers: publishersOf(trusted().map((k) => k.publicKey)), logger: { warn() {} } });
    // Newer than anything the seeder says: taken for the seeder's restart, it moved the seeder to the dead endpoint.
    const lie = setInterval(() => void rogue.announce(descriptor, Bitfield.full(descriptor.pieces.length)).catch(() => undefined), 150);
    try {
      const fetcher = await peer("f2-g");
      while (!fetcher.peer.swarm.peersOf(descriptor.root_hash).some((p) => p.peerId === "seeder-g" && p.endpoint === "http://127.0.0.1:9")) await new Promise((resolve) => setTimeout(resolve, 20));
      const out = join(work.dir, "g.bin");
      await fetcher.peer.fetch(descriptor, out, { stallTimeoutMs: 30_000 });
      expect(await sha256File(out)).toBe(sourceHash);
    } finally {
      clearInterval(lie);
      await rogue.stop();
      await rogueClient.close();
    }
  }, 120_000);

  it("the seeder dies once every piece has reached a fetcher; the fetchers complete from each other", async () => {
    // A slow seeder uplink, so the fetchers are still busy when it dies.
    const seeder = await peer("seeder-c", { server: { uploadBytesPerSecond: 24 * MB } });
    const descriptor = await seeder.peer.publish(source, { name: "models/orphan", version: "1.0.0" });
    const fetchers = await Promise.all(["f1-c", "f2-c", "f3-c", "f4-c"].map((id) => peer(id)));
    const total = descriptor.pieces.length;
    const union = new Bitfield(total);
    let killed: Promise<void> | undefined;
    let incompleteAtKill = 0;
    let heldAtKill = 0;
    const onPiece = (index: number) => {
      union.set(index);
      if (killed === undefined && union.complete) {
        const haves = fetchers.map((f) => f.peer.haveOf(descriptor.root_hash)!);
        incompleteAtKill = haves.filter((h) => !h.complete).length;
        heldAtKill = haves.reduce((sum, h) => sum + h.count, 0);
        killed = seeder.close();
      }
    };
    const results = await Promise.all(fetchers.map((f, i) => f.peer.fetch(descriptor, join(work.dir, `c-${i}.bin`), { onPiece, stallTimeoutMs: 30_000 })));
    await killed;
    expect(killed).toBeDefined();
    // The piece that completed the union was at one fetcher only, so at least three were still incomplete.
    expect(incompleteAtKill).toBeGreaterThanOrEqual(3);
    expect(heldAtKill).toBeLessThan(4 * total);
    for (let i = 0; i < 4; i++) expect(await sha256File(join(work.dir, `c-${i}.bin`))).toBe(sourceHash);
    const afterKill = 4 * total - heldAtKill;
    const fromFetchers = results.flatMap((r) => Object.entries(r.result.bytesByPeer).filter(([id]) => id !== "seeder-c")).length;
    expect(afterKill).toBeGreaterThan(0);
    expect(fromFetchers).toBeGreaterThan(0);
  }, 120_000);

  it("an interrupted download leaves no file at the output path, and the same peer's retry resumes from the verified pieces", async () => {
    const seeder = await peer("seeder-d", { server: { uploadBytesPerSecond: 16 * MB } });
    const descriptor = await seeder.peer.publish(source, { name: "models/resume", version: "1.0.0" });
    const out = join(work.dir, "d.bin");
    const first = await peer("f1-d");
    const abort = new AbortController();
    let kept = 0;
    const interrupted = first.peer.fetch(descriptor, out, {
      signal: abort.signal,
      onPiece: (_i, have) => {
        kept = have.count;
        if (have.count >= 10) abort.abort();
      },
    });
    await expect(interrupted).rejects.toSatisfy((e: unknown) => isOnexError(e, ErrorCode.ArtifactIncomplete));
    expect(kept).toBeGreaterThanOrEqual(10);
    expect(kept).toBeLessThan(descriptor.pieces.length);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(PieceStore.partialPathOf(out))).toBe(true);
    // Given up with the failure: not served, and not locked against the retry ("run it again to resume").
    expect(first.peer.haveOf(descriptor.root_hash)).toBeUndefined();
    expect(existsSync(PieceStore.lockPathOf(out))).toBe(false);

    const { result } = await first.peer.fetch(descriptor, out, { stallTimeoutMs: 30_000 });
    expect(result.resumedPieces).toBe(kept);
    expect(result.fetchedPieces).toBe(descriptor.pieces.length - kept);
    expect(await sha256File(out)).toBe(sourceHash);
  }, 120_000);
});

describe("trust", () => {
  it("a descriptor from an untrusted publisher, or from another zone, is refused by the policy", async () => {
    const stranger = generateKeyPair();
    const rogue = await startPeer(nats.url, "rogue-e", key("seeder"), trusted(), {});
    peers.push(rogue);
    // Signed by a stranger, announced by a trusted peer: the message passes, the descriptor does not.
    const { describeFile } = await import("../../runtime/dataplane/descriptor.js");
    const foreign = await describeFile(source, { name: "models/foreign", version: "1.0.0", zone: ZONE, pieceSize: 4 * MB }, stranger);
    await rogue.peer.swarm.announce(foreign, Bitfield.full(foreign.pieces.length));
    const otherZone = await describeFile(source, { name: "models/elsewhere", version: "1.0.0", zone: "zone.other.org", pieceSize: 4 * MB }, key("seeder"));
    await rogue.peer.swarm.announce(otherZone, Bitfield.full(otherZone.pieces.length));

    const fetcher = await peer("f2-e");
    const refusal = (e: unknown, reason: string) => isOnexError(e, ErrorCode.DescriptorInvalid) && e.details.reason === reason;
    // Refusals are reported once the wait for an acceptable descriptor is over: one may still come.
    await expect(fetcher.peer.fetch({ name: "models/foreign", version: "1.0.0" }, join(work.dir, "e1.bin"), { descriptorTimeoutMs: 2_000 })).rejects.toSatisfy((e: unknown) => refusal(e, ErrorCode.SignerUnknown));
    await expect(fetcher.peer.fetch({ name: "models/elsewhere", version: "1.0.0" }, join(work.dir, "e2.bin"), { descriptorTimeoutMs: 2_000 })).rejects.toSatisfy((e: unknown) => refusal(e, ErrorCode.ZoneMismatch));
    await expect(fetcher.peer.fetch(foreign as ArtifactDescriptorRecord, join(work.dir, "e3.bin"))).rejects.toSatisfy((e: unknown) => refusal(e, ErrorCode.SignerUnknown));
    expect(existsSync(PieceStore.partialPathOf(join(work.dir, "e1.bin")))).toBe(false);
  }, 60_000);

  it("nothing announced is ONEX_E_NO_PEERS", async () => {
    const fetcher = await peer("f3-f");
    await expect(fetcher.peer.fetch({ name: "models/nowhere", version: "9.9.9" }, join(work.dir, "f.bin"), { descriptorTimeoutMs: 1_000 })).rejects.toSatisfy((e: unknown) => isOnexError(e, ErrorCode.NoPeers));
  }, 30_000);
});

describe("options", () => {
  it("a descriptor wait or a trust TTL no swarm can work with is ONEX_E_USAGE before anything is asked or joined (a wait of NaN polled every millisecond for good, a TTL of Infinity was a RangeError at the first announcement)", async () => {
    const fetcher = await peer("f4-g");
    const out = join(work.dir, "g.bin");
    // 0 first: without the check it gives up at once with ONEX_E_NO_PEERS, where NaN waits for good.
    for (const descriptorTimeoutMs of [0, -1, Number.NaN]) {
      await expect(fetcher.peer.fetch({ name: "models/nowhere", version: "9.9.9" }, out, { descriptorTimeoutMs })).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining("descriptorTimeoutMs") });
      await expect(fetcher.peer.swarm.descriptorOf("models/nowhere", "9.9.9", descriptorTimeoutMs)).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining("timeoutMs") });
    }
    expect(existsSync(PieceStore.partialPathOf(out))).toBe(false);
    // 1e16 ms from now is past the year 9999, where no trust.expires_at can be written.
    for (const options of [{ trustTtlMs: Infinity }, { trustTtlMs: Number.NaN }, { trustTtlMs: -1 }, { trustTtlMs: 0 }, { trustTtlMs: 1e16 }, { haveIntervalMs: Number.NaN }, { haveIntervalMs: -1 }]) {
      const joining = Swarm.join({ client: fetcher.client, messages: v0_2, peerId: "f4-g", zone: ZONE, endpoint: fetcher.peer.url, signer: key("f4").keyId, publishers: publishersOf(trusted().map((k) => k.publicKey)), logger: { warn() {} }, ...options });
      await expect(joining).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(options)[0]!) });
    }
  });
});
