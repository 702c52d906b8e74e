/** Peers, artifacts and a real nats-server shared by the data-plane tests. */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v0_2 from "../../generated/v0.2/index.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { DataPlanePeer, type DataPlanePeerOptions } from "../../runtime/dataplane/peer.js";
import { publishersOf } from "../../runtime/dataplane/publishers.js";
import type { KeyPair } from "../../runtime/trust/keys.js";
import { client, ZONE } from "../jetstream/fixtures.js";

export { ZONE };

/** A temporary folder, removed by the returned function. */
export async function tempDir(prefix = "onex-dataplane-"): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `size` random bytes to `path`, 1 MiB at a time (memory stays small whatever the size). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const handle = await open(path, "w");
  try {
    for (let written = 0; written < size; ) {
      const chunk = randomBytes(Math.min(1 << 20, size - written));
      await handle.write(chunk, 0, chunk.length, written);
      written += chunk.length;
    }
  } finally {
    await handle.close();
  }
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** A peer with its own client; `close()` stops both. */
export interface TestPeer {
  peer: DataPlanePeer;
  client: OnexClient;
  close(): Promise<void>;
}

/** Starts a peer signing with `key`, trusting `trusted` keys for messages and descriptors. */
export async function startPeer(url: string, peerId: string, key: KeyPair, trusted: KeyPair[], extra: Partial<DataPlanePeerOptions> = {}): Promise<TestPeer> {
  const c = await client(url, key, trusted);
  const quiet = { warn() {} };
  const peer = await DataPlanePeer.start({
    client: c,
    messages: v0_2,
    key,
    peerId,
    zone: ZONE,
    publishers: publishersOf(trusted.map((k) => k.publicKey)),
    logger: quiet,
    ...extra,
  });
  let closed = false;
  return {
    peer,
    client: c,
    async close() {
      if (closed) return;
      closed = true;
      await peer.stop().catch(() => undefined);
      await c.close().catch(() => undefined);
    },
  };
}
