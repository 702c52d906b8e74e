/** Descriptors, pieces on disk and bitfields, without servers. */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as v0_2 from "../../generated/v0.2/index.js";
import { Bitfield } from "../../runtime/dataplane/bitfield.js";
import { describeFile, judgeDescriptor, pieceCountOf, rootHashOf, verifyDescriptor, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { PieceStore, verifyWholeFile } from "../../runtime/dataplane/piece-store.js";
import { ErrorCode, isOnexError } from "../../runtime/errors.js";
import { publishersOf } from "../../runtime/dataplane/publishers.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { PolicyMode, trustPolicy } from "../../runtime/trust/policy.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const KB = 1024;
const publisher = generateKeyPair();
const publishers = publishersOf([publisher.publicKey]);
let work: { dir: string; remove(): Promise<void> };
let file: string;
let descriptor: ArtifactDescriptorRecord;

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "data.bin");
  await writeRandomFile(file, 5 * 16 * KB + 123);
  descriptor = await describeFile(file, { name: "data/set", version: "2", zone: ZONE, pieceSize: 16 * KB }, publisher);
});
afterAll(() => work?.remove());

const code = (c: string) => (e: unknown) => isOnexError(e) && e.code === c;

describe("descriptor", () => {
  it("lists one SHA-256 per piece (the last one short) and a root hash over them, signed by the publisher", () => {
    expect(descriptor.pieces).toHaveLength(6);
    expect(descriptor.size).toBe(5 * 16 * KB + 123);
    expect(descriptor.root_hash).toBe(rootHashOf(descriptor.pieces));
    expect(descriptor.publisher).toBe(publisher.keyId);
    expect(verifyDescriptor(descriptor, { publishers, zone: ZONE })).toBe(descriptor);
  });

  it("is the generated ArtifactDescriptor type, field for field", () => {
    const generated: v0_2.ArtifactDescriptor = descriptor;
    const back: ArtifactDescriptorRecord = generated;
    expect(back).toBe(descriptor);
  });

  it("refuses a tampered descriptor: pieces, sizes and root hash must agree, and the signature must cover them", () => {
    const inconsistent = { ...descriptor, size: descriptor.size + 16 * KB };
    expect(() => verifyDescriptor(inconsistent, { publishers })).toThrow(expect.objectContaining({ code: ErrorCode.DescriptorInvalid }));
    const swapped = { ...descriptor, pieces: [...descriptor.pieces].reverse() };
    expect(() => verifyDescriptor(swapped, { publishers })).toThrow(expect.objectContaining({ code: ErrorCode.DescriptorInvalid }));
    const renamed = { ...descriptor, name: "data/other" };
    const verdict = judgeDescriptor(renamed, { publishers });
    expect(verdict.accepted).toBe(false);
    expect(verdict.rejection?.details.reason).toBe(ErrorCode.SignatureInvalid);
    expect(judgeDescriptor({ ...descriptor, pieces: "x" }, { publishers }).rejection?.code).toBe(ErrorCode.DescriptorInvalid);
  });

  it("applies the policy modes: an unknown publisher or another zone is refused when strict, a warning when advisory", () => {
    expect(judgeDescriptor(descriptor, { publishers: [] }).rejection?.details.reason).toBe(ErrorCode.SignerUnknown);
    expect(judgeDescriptor(descriptor, { publishers, zone: "zone.other.org" }).rejection?.details.reason).toBe(ErrorCode.ZoneMismatch);
    const lenient = trustPolicy({ zone_match: PolicyMode.Advisory });
    const warned = judgeDescriptor(descriptor, { publishers, zone: "zone.other.org", logger: { warn() {} } }, lenient);
    expect(warned.accepted).toBe(true);
    expect(warned.warnings.map((w) => w.code)).toEqual([ErrorCode.ZoneMismatch]);
  });

  it("binds names to publishers: a key granted other names cannot sign this one", () => {
    const scoped = [{ key: publisher.publicKey, names: ["models/*", "data/other"] }];
    const refused = judgeDescriptor(descriptor, { publishers: scoped });
    expect(refused.rejection?.details.reason).toBe(ErrorCode.SignerUnknown);
    expect(refused.rejection?.message).toMatch(/may publish models\/\*, data\/other, not data\/set/);
    expect(judgeDescriptor(descriptor, { publishers: [{ key: publisher.publicKey, names: ["data/*"] }] }).accepted).toBe(true);
    expect(judgeDescriptor(descriptor, { publishers: [{ key: publisher.publicKey, names: ["data/set"] }] }).accepted).toBe(true);
    // A prefix grant is a prefix of the name, not of a longer name's neighbour.
    expect(judgeDescriptor(descriptor, { publishers: [{ key: publisher.publicKey, names: ["data/se"] }] }).accepted).toBe(false);
  });

  it("counts pieces only of a size and piece size a descriptor can have", () => {
    expect(pieceCountOf(100_000, 16_384)).toBe(7);
    expect(pieceCountOf(0, 16_384)).toBe(0);
    // A piece size of 0 counted Infinity pieces; a negative size, -0.
    for (const [size, pieceSize] of [[100, 0], [100, -16_384], [-1, 16_384], [1.5, 16_384], [Number.NaN, 16_384], [100, 3]]) {
      expect(() => pieceCountOf(size!, pieceSize!), `${size} ${pieceSize}`).toThrow(expect.toSatisfy(code(ErrorCode.DescriptorInvalid)));
    }
  });

  it("refuses piece sizes that are not a power of two within bounds", async () => {
    await expect(describeFile(file, { name: "x", version: "1", zone: ZONE, pieceSize: 1000 }, publisher)).rejects.toSatisfy(code(ErrorCode.DescriptorInvalid));
  });

  it("describes only a regular file: a folder, a FIFO with no writer and a device that never ends are ONEX_E_FILE_UNREADABLE at once", async () => {
    const fifo = join(work.dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    for (const path of [work.dir, fifo, "/dev/zero"]) {
      await expect(describeFile(path, { name: "x", version: "1", zone: ZONE }, publisher)).rejects.toMatchObject({ code: ErrorCode.FileUnreadable });
    }
    await expect(describeFile(join(work.dir, "missing.bin"), { name: "x", version: "1", zone: ZONE }, publisher)).rejects.toMatchObject({ code: ErrorCode.FileNotFound });
  });
});

describe("piece store", () => {
  it("keeps only pieces that match their hash, writes to a temporary file, and renames it once complete", async () => {
    const seeded = await PieceStore.seed(descriptor, file);
    const out = join(work.dir, "copy.bin");
    const store = await PieceStore.open(descriptor, out);
    const bad = Buffer.from(await seeded.readPiece(2));
    bad[7] = bad[7]! ^ 1;
    await expect(store.writePiece(2, bad)).rejects.toSatisfy(code(ErrorCode.PieceCorrupt));
    expect(store.have.has(2)).toBe(false);
    await expect(store.readPiece(2)).rejects.toSatisfy(code(ErrorCode.NotFound));
    for (let i = descriptor.pieces.length - 1; i >= 0; i--) {
      expect(store.complete).toBe(false);
      await store.writePiece(i, await seeded.readPiece(i));
    }
    await store.finished();
    expect(store.complete).toBe(true);
    await verifyWholeFile(descriptor, out);
    await Promise.all([store.close(), seeded.close()]);
  });

  it("a resumed download re-verifies recorded pieces and forgets one changed on disk", async () => {
    const seeded = await PieceStore.seed(descriptor, file);
    const out = join(work.dir, "resume.bin");
    const first = await PieceStore.open(descriptor, out);
    for (const i of [0, 1, 3]) await first.writePiece(i, await seeded.readPiece(i));
    await first.close();
    // Piece 1 is overwritten behind the store's back: it must not survive the resume.
    const { open } = await import("node:fs/promises");
    const handle = await open(PieceStore.partialPathOf(out), "r+");
    await handle.write(Buffer.alloc(10, 0xaa), 0, 10, 16 * KB + 5);
    await handle.close();
    const second = await PieceStore.open(descriptor, out);
    expect([0, 1, 2, 3].map((i) => second.have.has(i))).toEqual([true, false, false, true]);
    await Promise.all([second.close(), seeded.close()]);
  });

  it("a file at the output path that is not the artifact is an error, never taken as complete", async () => {
    const out = join(work.dir, "wrong.bin");
    await writeFile(out, Buffer.alloc(descriptor.size));
    await expect(PieceStore.open(descriptor, out)).rejects.toSatisfy(code(ErrorCode.PieceCorrupt));
  });
});

describe("bitfield", () => {
  it("round-trips through base64url with piece 0 as the high bit", () => {
    const field = new Bitfield(10);
    field.set(0);
    field.set(9);
    expect(Buffer.from(field.toBase64url(), "base64url")).toEqual(Buffer.from([0x80, 0x40]));
    const back = Bitfield.fromBase64url(field.toBase64url(), 10);
    expect(back.count).toBe(2);
    expect(back.missing()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => Bitfield.fromBase64url("AAAA", 10)).toThrow();
  });

  it("has a length of whole pieces: -1, 1.5 or NaN made a bitfield whose count and `complete` disagreed", () => {
    expect(new Bitfield(0).complete).toBe(true);
    for (const length of [-1, 1.5, Number.NaN, Infinity, "8"]) {
      expect(() => new Bitfield(length as number), String(length)).toThrow(expect.toSatisfy(code(ErrorCode.Usage)));
    }
  });
});
