/**
 * A seeder's upload slot comes back from a reader that stops reading: the transfer deadline
 * of the piece (or of the whole file) ends the connection. The deadline's allowances are shortened here (the real ones
 * give a 16 MiB piece about 18 minutes), so the test waits half a second.
 */
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { describeFile, rootHex, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { PieceServer } from "../../runtime/dataplane/piece-server.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

vi.mock("../../runtime/dataplane/transfer-deadline.js", async (original) => ({
  ...(await original<typeof import("../../runtime/dataplane/transfer-deadline.js")>()),
  transferDeadlineMs: () => 500,
}));

const MB = 1 << 20;
let work: { dir: string; remove(): Promise<void> };
let descriptor: ArtifactDescriptorRecord;
let seeded: PieceStore;

beforeAll(async () => {
  work = await tempDir();
  const file = join(work.dir, "data.bin");
  // Pieces larger than loopback's socket buffers hold: a reader that stops never lets one finish.
  await writeRandomFile(file, 32 * MB);
  descriptor = await describeFile(file, { name: "data/big", version: "1", zone: ZONE, pieceSize: 16 * MB }, generateKeyPair());
  seeded = await PieceStore.seed(descriptor, file);
});
afterAll(async () => {
  await seeded?.close();
  await work?.remove();
});

describe("a seeder's upload slot", () => {
  it.each(["pieces/0", "file"])("is taken back from a reader of %s that stops reading once the transfer deadline passes", async (stalledPath) => {
    const server = await PieceServer.start({ maxUploads: 1 });
    server.add(seeded);
    const base = `/v1/artifacts/${rootHex(descriptor.root_hash)}`;
    const at = (index: number) => `${base}/pieces/${index}`;
    const { port } = new URL(server.url);
    const stalled = connect(Number(port), "127.0.0.1");
    stalled.on("error", () => undefined);
    try {
      // It asks for a piece, or the whole file, and reads nothing of the answer.
      stalled.pause();
      stalled.write(`GET ${base}/${stalledPath} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
      const status = async () => {
        const answer = await fetch(`${server.url}${at(1)}`);
        await answer.arrayBuffer();
        return answer.status;
      };
      const until = async (wanted: number) => {
        for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) if ((await status()) === wanted) return true;
        return false;
      };
      // Busy while the stalled reader holds the one slot, then served once its deadline took the slot back.
      expect(await until(503)).toBe(true);
      expect(await until(200)).toBe(true);
    } finally {
      stalled.destroy();
      await server.stop();
    }
  }, 30_000);
});
