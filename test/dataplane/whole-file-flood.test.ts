/**
 * A stranger who reaches a seeder's piece server asks for the whole file (`/file`) over many
 * connections at once and reads none of it. Whole files took the same upload slots as pieces,
 * with no rule of their own: 16 such requests held all 16 slots for as long as their transfer
 * deadline ran (minutes for a large artifact), and the swarm's fetchers got 503 for every piece
 * meanwhile. Whole files now take at most half the slots; the seeder answers 503 to the rest of
 * the stranger's requests, and a fetcher in the swarm still gets every piece. The test is the
 * stranger: raw connections to the seeder a real peer runs, on a real nats-server.
 */
import { readFile } from "node:fs/promises";
import { Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rootHex, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { fileSlotsOf } from "../../runtime/dataplane/piece-server.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { eventually } from "../registry/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { sha256File, startPeer, tempDir, writeRandomFile, type TestPeer } from "./fixtures.js";

const MiB = 1 << 20;
const publisher = generateKeyPair();
let nats: NatsServer;
let work: { dir: string; remove(): Promise<void> };
let file: string;
let seeder: TestPeer;
let descriptor: ArtifactDescriptorRecord;
const held: Socket[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  work = await tempDir();
  // Larger than what the kernel buffers on a loopback connection: a reader that reads nothing
  // holds the upload.
  file = join(work.dir, "model.bin");
  await writeRandomFile(file, 32 * MiB);
  seeder = await startPeer(nats.url, "seeder", publisher, [publisher]);
  descriptor = await seeder.peer.publish(file, { name: "models/llm", version: "1" });
}, 60_000);

afterAll(async () => {
  for (const socket of held) socket.destroy();
  await seeder?.close();
  await nats?.stop();
  await work?.remove();
}, 30_000);

/** Asks for `/file` on a connection of its own and resolves with the status; the connection is then left unread. */
function askForWholeFile(base: string, rootHash: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    held.push(socket);
    let head = "";
    socket.once("error", reject);
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const line = /^HTTP\/1\.1 (\d{3}) /.exec(head);
      if (line === null) return;
      // Read no further: the body stays in the kernel's buffers, then in the server's.
      socket.pause();
      socket.removeAllListeners("data");
      resolve(Number(line[1]));
    });
    socket.connect(Number(port), hostname, () => socket.write(`GET /v1/artifacts/${rootHex(rootHash)}/file HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`));
  });
}

describe("a stranger asking a seeder for the whole file over many connections", () => {
  it("gets half the upload slots at most (the rest is 503), and a fetcher in the swarm still gets every piece meanwhile", async () => {
    const statuses = await Promise.all(Array.from({ length: 32 }, () => askForWholeFile(seeder.peer.url, descriptor.root_hash)));
    const served = statuses.filter((s) => s === 200).length;
    expect(served).toBe(fileSlotsOf(16));
    expect(statuses.filter((s) => s === 503)).toHaveLength(32 - served);

    // The stranger's uploads are still held (nothing was read): the fetch runs beside them.
    const fetcher = await startPeer(nats.url, "fetcher", generateKeyPair(), [publisher]);
    try {
      const out = join(work.dir, "fetched.bin");
      // Without slots for pieces, every request was 503: the fetch stalled (ONEX_E_ARTIFACT_INCOMPLETE).
      await fetcher.peer.fetch(descriptor, out, { stallTimeoutMs: 5_000 });
      expect(await sha256File(out)).toBe(await sha256File(file));
    } finally {
      await fetcher.close();
    }
    expect(seeder.peer.server.stats.filesServed).toBe(0);
  }, 60_000);

  it("a plain HTTP client still downloads the whole file once the stranger lets go", async () => {
    for (const socket of held.splice(0)) socket.destroy();
    const whole = await readFile(file);
    let body: Buffer | undefined;
    // The server sees the stranger's connections close a moment later: until then it may still answer 503.
    await eventually(async () => {
      const response = await fetch(`${seeder.peer.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/file`);
      const bytes = Buffer.from(await response.arrayBuffer());
      if (response.status === 200) body = bytes;
      return response.status === 200;
    }, 10_000, "a 200 for the whole file");
    expect(body?.equals(whole)).toBe(true);
  }, 60_000);
});
