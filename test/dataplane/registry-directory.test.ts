// A fetcher that knows its peers only from the registry: the seeder registered a signed entry
// whose health check is its piece server, and that is enough to download the artifact.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchArtifact } from "../../runtime/dataplane/fetcher.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { PIECE_SERVER_CAPABILITY, pieceServerHealth, registryPeerDirectory } from "../../runtime/dataplane/registry-directory.js";
import { nodeAddress } from "../../runtime/registry/address.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { buildFingerprint, createNodeIdentity } from "../../runtime/trust/identity.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { sha256File, startPeer, tempDir, writeRandomFile, ZONE, type TestPeer } from "./fixtures.js";

let nats: NatsServer;
let registry: Registry;
let work: { dir: string; remove(): Promise<void> };
let seeder: TestPeer;

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  registry = await openRegistry(`${nats.url}?bucket=pieces_test&ttl=30s`);
  work = await tempDir();
}, 60_000);

afterAll(async () => {
  await seeder?.close();
  await registry?.close();
  await nats?.stop();
  await work?.remove();
}, 30_000);

describe("peers from the registry", () => {
  it("a fetcher downloads from a seeder it found only in the registry", async () => {
    const key = generateKeyPair();
    seeder = await startPeer(nats.url, "seeder-r", key, [key]);
    const source = join(work.dir, "data.bin");
    await writeRandomFile(source, 3 * (1 << 20) + 17);
    const descriptor = await seeder.peer.publish(source, { name: "data/set", version: "1" });

    const identity = createNodeIdentity(key, buildFingerprint("seeder-build"), ZONE);
    const entry = signRegistryEntry(
      {
        node_id: identity.node_id,
        address: nodeAddress(ZONE, identity.node_id),
        zone: ZONE,
        health: pieceServerHealth(seeder.peer.server.url),
        capabilities: [PIECE_SERVER_CAPABILITY],
      },
      key,
    );
    await registry.register(entry, identity);

    const directory = registryPeerDirectory(registry, ZONE);
    expect(await directory.peersOf(descriptor.root_hash)).toEqual([{ peerId: identity.node_id, endpoint: seeder.peer.server.url }]);
    expect(await registryPeerDirectory(registry, "zone.elsewhere.org").peersOf(descriptor.root_hash)).toEqual([]);

    const out = join(work.dir, "fetched.bin");
    const store = await PieceStore.open(descriptor, out);
    const result = await fetchArtifact({ store, peers: directory, stallTimeoutMs: 30_000 });
    expect(result.fetchedPieces).toBe(descriptor.pieces.length);
    expect(Object.keys(result.bytesByPeer)).toEqual([identity.node_id]);
    expect(await sha256File(out)).toBe(await sha256File(source));
    await store.close();
  }, 120_000);
});
