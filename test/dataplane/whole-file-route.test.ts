/**
 * `GET /file` serves the artifact the store verified, whatever the name it was verified under
 * names later. A local user who can write the folder an artifact sits in (a shared data
 * folder) replaces it, once verified, with a link to a file only the seeding user may read (an
 * SSH key): the piece server, reading the name again for each download, sent that file to
 * whoever asked. It reads the file it verified, through the handle it holds.
 */
import { readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFile, rootHex, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { PieceServer } from "../../runtime/dataplane/piece-server.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- only the seeding user may read this\n";
let work: { dir: string; remove(): Promise<void> };
let original: string;
let descriptor: ArtifactDescriptorRecord;

beforeAll(async () => {
  work = await tempDir();
  original = join(work.dir, "original.bin");
  await writeRandomFile(original, 3 * 16384 + 5);
  descriptor = await describeFile(original, { name: "data/shared", version: "1", zone: ZONE, pieceSize: 16384 }, generateKeyPair());
  await writeFile(join(work.dir, "id_ed25519"), SECRET, { mode: 0o600 });
});
afterAll(() => work?.remove());

/** What `GET /file` of `store` answers once the attacker has put a link to the secret where the artifact was. */
async function wholeFileAfterSwap(store: PieceStore, path: string): Promise<{ status: number; body: Buffer }> {
  const server = await PieceServer.start();
  server.add(store);
  try {
    // The attacker's move: the verified file goes, a link to the secret takes its name.
    await rename(path, `${path}.moved`);
    await symlink(join(work.dir, "id_ed25519"), path);
    return await download(`${server.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/file`);
  } finally {
    await server.stop();
    await store.close();
  }
}

/** Every byte the server sends for `url`, even when it closes the connection before its content-length is reached. */
function download(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", () => undefined);
      res.on("close", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    }).on("error", reject);
  });
}

describe("GET /file after the artifact's name is taken by a link to another file", () => {
  it("a seeder sends the file it verified, not the one the name now points at", async () => {
    const path = join(work.dir, "seeded.bin");
    await writeFile(path, await readFile(original));
    const answer = await wholeFileAfterSwap(await PieceStore.seed(descriptor, path), path);
    expect(answer.status).toBe(200);
    expect(answer.body.includes("PRIVATE KEY")).toBe(false);
    expect(answer.body.equals(await readFile(original))).toBe(true);
    await rm(path);
  });

  it("a fetcher that finished sends the file it downloaded, not the one the name now points at", async () => {
    const seeded = await PieceStore.seed(descriptor, original);
    const path = join(work.dir, "fetched.bin");
    const store = await PieceStore.open(descriptor, path);
    for (let i = 0; i < descriptor.pieces.length; i++) await store.writePiece(i, Buffer.from(await seeded.readPiece(i)));
    await store.finished();
    await seeded.close();
    const answer = await wholeFileAfterSwap(store, path);
    expect(answer.status).toBe(200);
    expect(answer.body.includes("PRIVATE KEY")).toBe(false);
    expect(answer.body.equals(await readFile(original))).toBe(true);
    await rm(path);
  });

  it("an artifact already whole at OUT is served from the file that was verified", async () => {
    const path = join(work.dir, "whole.bin");
    await writeFile(path, await readFile(original));
    const store = await PieceStore.open(descriptor, path);
    expect(store.complete).toBe(true);
    const answer = await wholeFileAfterSwap(store, path);
    expect(answer.body.includes("PRIVATE KEY")).toBe(false);
    expect(answer.body.equals(await readFile(original))).toBe(true);
    await rm(path);
  });
});

describe("GET /file of an artifact whose publisher chose its media type", () => {
  /** The status and headers `GET /file` answers for an artifact described with `mediaType`. */
  async function headersFor(mediaType: string): Promise<{ status: number; headers: Record<string, unknown> }> {
    const described = await describeFile(original, { name: "data/typed", version: "1", zone: ZONE, pieceSize: 16384, mediaType }, generateKeyPair());
    const store = await PieceStore.seed(described, original);
    const server = await PieceServer.start();
    server.add(store);
    try {
      return await new Promise((resolve, reject) => {
        get(`${server.url}/v1/artifacts/${rootHex(described.root_hash)}/file`, (res) => {
          res.resume();
          res.on("close", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        }).on("error", reject);
      });
    } finally {
      await server.stop();
      await store.close();
    }
  }

  it("text/html is handed out as a download, never rendered as a page of the seeder's address", async () => {
    const answer = await headersFor("text/html");
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({ "content-type": "text/html", "content-disposition": "attachment", "content-security-policy": "sandbox", "x-content-type-options": "nosniff" });
  });

  it("a media type with a line break or another character no header holds is sent as application/octet-stream (it failed the answer with a 500)", async () => {
    // A quoted parameter value is no way round: a control or a character past U+00FF in one is no header value either.
    for (const mediaType of ["text/plain\r\nx-injected: 1", "text/plain\r\n; charset=utf-8", "not a media type", 'text/plain; a="\u0000"', 'text/plain; a="\u007f"', 'text/plain; a="\u202e"', 'text/plain; a="\u0100"']) {
      const answer = await headersFor(mediaType);
      expect([mediaType, answer.status, answer.headers["content-type"], answer.headers["x-injected"]]).toEqual([mediaType, 200, "application/octet-stream", undefined]);
    }
    for (const mediaType of ["text/plain; charset=utf-8", 'text/plain; charset="utf-8"']) expect((await headersFor(mediaType)).headers["content-type"]).toBe(mediaType);
  });
});
