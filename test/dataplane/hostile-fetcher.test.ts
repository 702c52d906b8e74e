/**
 * A piece server answers whoever reaches it, so these requests are the attacker's, sent raw
 * (a URL library would tidy `..` away before it left): paths that climb out of the artifact,
 * encoded or not, piece indexes below, at and far past the last piece, indexes that are not
 * whole numbers, methods that would change something, a range header. Each is answered with a
 * refusal and no bytes of any file; the server serves the real piece afterwards.
 */
import { connect } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFile, rootHex, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { PieceServer } from "../../runtime/dataplane/piece-server.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const PIECE = 16 * 1024;
let work: { dir: string; remove(): Promise<void> };
let file: string;
let descriptor: ArtifactDescriptorRecord;
let seeded: PieceStore;
let server: PieceServer;

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "data.bin");
  await writeRandomFile(file, 4 * PIECE + 3);
  descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: PIECE }, generateKeyPair());
  seeded = await PieceStore.seed(descriptor, file);
  server = await PieceServer.start();
  server.add(seeded);
});
afterAll(async () => {
  await server?.stop();
  await seeded?.close();
  await work?.remove();
});

/** Sends `head` as it is (one request, connection: close) and returns the status and the body's bytes. */
function raw(head: string): Promise<{ status: number; body: Buffer }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const answer = Buffer.concat(chunks);
      const end = answer.indexOf("\r\n\r\n");
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer.toString("latin1"))?.[1] ?? 0), body: answer.subarray(end + 4) });
    });
    socket.write(`${head}\r\nhost: x\r\nconnection: close\r\n\r\n`);
  });
}

describe("a hostile fetcher against a piece server", () => {
  it("paths out of the artifact, indexes outside it and methods that change things are refused; no file's bytes are sent", async () => {
    const hex = rootHex(descriptor.root_hash);
    const base = `/v1/artifacts/${hex}`;
    const refused: [string, number][] = [
      [`GET ${base}/../../../../etc/passwd HTTP/1.1`, 404],
      [`GET ${base}/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1`, 404],
      [`GET /v1/artifacts/..%2f..%2f..%2fetc%2fpasswd/file HTTP/1.1`, 404],
      [`GET ${base}/pieces/..%2f..%2fdata.bin HTTP/1.1`, 404],
      [`GET ${base}/pieces/-1 HTTP/1.1`, 404],
      [`GET ${base}/pieces/${descriptor.pieces.length} HTTP/1.1`, 404],
      [`GET ${base}/pieces/999999999 HTTP/1.1`, 404],
      [`GET ${base}/pieces/99999999999999999999 HTTP/1.1`, 404],
      [`GET ${base}/pieces/1.5 HTTP/1.1`, 404],
      [`GET ${base}/pieces/0x1 HTTP/1.1`, 404],
      [`GET ${base}/pieces/1e0 HTTP/1.1`, 404],
      [`GET ${base}/pieces/%30 HTTP/1.1`, 404],
      [`GET /v1/artifacts/${"0".repeat(64)}/file HTTP/1.1`, 404],
      [`GET /v1/artifacts/${hex.toUpperCase()}/file HTTP/1.1`, 404],
      [`POST ${base}/pieces/0 HTTP/1.1\r\ncontent-length: 0`, 405],
      [`PUT ${base}/pieces/0 HTTP/1.1\r\ncontent-length: 0`, 405],
      [`DELETE ${base}/file HTTP/1.1`, 405],
    ];
    const whole = await readFile(file);
    const passwd = await readFile("/etc/passwd").catch(() => Buffer.from("root:x:0:0"));
    for (const [head, status] of refused) {
      const answer = await raw(head);
      expect([head, answer.status]).toEqual([head, status]);
      // A short JSON refusal: nothing of the artifact or of any other file.
      expect(answer.body.length).toBeLessThan(256);
      expect(JSON.parse(answer.body.toString("utf8"))).toMatchObject({ error: expect.any(String) });
      expect(answer.body.includes(passwd.subarray(0, 16))).toBe(false);
      expect(answer.body.includes(whole.subarray(0, 16))).toBe(false);
    }
    // A range is not honoured: the whole piece, and only it.
    const ranged = await raw(`GET ${base}/pieces/4 HTTP/1.1\r\nrange: bytes=-100000000`);
    expect(ranged.status).toBe(200);
    expect(ranged.body.equals(whole.subarray(4 * PIECE))).toBe(true);
    // And the server goes on serving.
    const piece = await raw(`GET ${base}/pieces/0 HTTP/1.1`);
    expect(piece.status).toBe(200);
    expect(piece.body.equals(whole.subarray(0, PIECE))).toBe(true);
  });
});
