/**
 * The piece store writes each piece in 64 KiB writes (page-cache folios sized for memory a VM
 * already backs; see piece-store.ts): pieces of 1 MiB, and a last piece that is not a multiple
 * of 64 KiB, written in any order, make exactly the original file. Past 32 MiB a download's
 * writeback runs beside its writes, and a store closed while it runs resumes where it stopped.
 * A download that cannot have its file (larger than a file may be) fails with its code and
 * leaves neither a file nor an open handle. Links planted beside the target (a shared folder)
 * are never written through.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chown, link, lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { describeFile } from "../../runtime/dataplane/descriptor.js";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const MB = 1 << 20;
let work: { dir: string; remove(): Promise<void> };
let file: string;

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "data.bin");
  await writeRandomFile(file, 5 * MB + 3 * 65536 + 17);
});
afterAll(() => work?.remove());

describe("piece store writes", () => {
  it("pieces larger than one write, written out of order, make the original file", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const seeded = await PieceStore.seed(descriptor, file);
    const out = join(work.dir, "copy.bin");
    const store = await PieceStore.open(descriptor, out);
    const order = descriptor.pieces.map((_, i) => i).reverse();
    for (const i of order) expect(await store.writePiece(i, Buffer.from(await seeded.readPiece(i)))).toBe(true);
    await store.finished();
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    await Promise.all([store.close(), seeded.close()]);
  });

  it("a seeder whose file changed since it was described refuses to seed it: ONEX_E_PIECE_CORRUPT", async () => {
    const changed = join(work.dir, "changed.bin");
    await writeRandomFile(changed, 2 * MB);
    const descriptor = await describeFile(changed, { name: "data/changed", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    // One byte of its second piece changes after the descriptor was made; the size stays.
    const bytes = await readFile(changed);
    bytes[MB + 7] = bytes[MB + 7]! ^ 0xff;
    await writeFile(changed, bytes);
    await expect(PieceStore.seed(descriptor, changed)).rejects.toMatchObject({ code: "ONEX_E_PIECE_CORRUPT" });
  });

  it("a download past its first writeback, closed while that writeback runs, resumes and completes", async () => {
    const big = join(work.dir, "big.bin");
    await writeRandomFile(big, 40 * MB + 5);
    const descriptor = await describeFile(big, { name: "data/big", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const seeded = await PieceStore.seed(descriptor, big);
    const out = join(work.dir, "big-copy.bin");
    const order = descriptor.pieces.map((_, i) => i).sort(() => Math.random() - 0.5);
    // 33 MiB written: the first writeback starts with the 32nd piece, and the store closes while it may still run.
    const first = await PieceStore.open(descriptor, out);
    for (const i of order.slice(0, 33)) expect(await first.writePiece(i, Buffer.from(await seeded.readPiece(i)))).toBe(true);
    await first.close();
    const resumed = await PieceStore.open(descriptor, out);
    expect(resumed.have.count).toBe(33);
    for (const i of order.slice(33)) expect(await resumed.writePiece(i, Buffer.from(await seeded.readPiece(i)))).toBe(true);
    await resumed.finished();
    expect((await readFile(out)).equals(await readFile(big))).toBe(true);
    await Promise.all([resumed.close(), seeded.close()]);
  });

  it("an artifact larger than a file may be here: ONEX_E_WRITE_FAILED, no file left, no handle left open", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const descriptorPath = join(work.dir, "descriptor.json");
    await writeFile(descriptorPath, JSON.stringify(descriptor));
    const into = join(work.dir, "limited");
    await mkdir(into);
    // The process may write files of 1 MiB at most (RLIMIT_FSIZE): the 5 MiB artifact's file is refused by the kernel.
    const child = spawnSync("bash", ["-c", 'ulimit -f 1024 && exec node --import tsx "$0" "$1" "$2"', fileURLToPath(new URL("./open-store.ts", import.meta.url)), descriptorPath, join(into, "data.bin")], { encoding: "utf8" });
    expect(child.stderr).toBe("");
    const outcome = JSON.parse(child.stdout) as { code?: string; message?: string; details?: { errno?: string }; leftOpen: number; files: string[] };
    expect(outcome).toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { errno: "EFBIG" }, leftOpen: 0, files: [] });
    expect(outcome.message).toContain(`cannot make a ${descriptor.size}-byte file`);
  });

  it("a disk that refuses even the lock's process id (no file may grow past 0 bytes here, as on a full disk): ONEX_E_WRITE_FAILED, and no half-made lock left beside OUT", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const descriptorPath = join(work.dir, "descriptor-lock.json");
    await writeFile(descriptorPath, JSON.stringify(descriptor));
    const into = join(work.dir, "no-room");
    await mkdir(into);
    const child = spawnSync("bash", ["-c", 'ulimit -f 0 && exec node --import tsx "$0" "$1" "$2"', fileURLToPath(new URL("./open-store.ts", import.meta.url)), descriptorPath, join(into, "data.bin")], { encoding: "utf8" });
    expect(child.stderr).toBe("");
    const outcome = JSON.parse(child.stdout) as { code?: string; details?: { errno?: string }; leftOpen: number; files: string[] };
    expect(outcome).toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { errno: "EFBIG" }, leftOpen: 0, files: [] });
  });

  it("an OUT already there that is not this artifact is left alone: another size is ONEX_E_PIECE_CORRUPT, a folder ONEX_E_WRITE_FAILED", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const dir = join(work.dir, "occupied");
    await mkdir(join(dir, "folder.bin"), { recursive: true });
    await writeFile(join(dir, "notes.txt"), "not the artifact\n");
    await expect(PieceStore.open(descriptor, join(dir, "notes.txt"))).rejects.toMatchObject({ code: "ONEX_E_PIECE_CORRUPT" });
    expect(await readFile(join(dir, "notes.txt"), "utf8")).toBe("not the artifact\n");
    await expect(PieceStore.open(descriptor, join(dir, "folder.bin"))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED" });
    // A path under a file: the folder cannot be made.
    await expect(PieceStore.open(descriptor, join(dir, "notes.txt", "x.bin"))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED" });
  });

  it("a name too long for the files kept beside it is refused before anything is made; one byte shorter downloads", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const dir = join(work.dir, "long-names");
    await mkdir(dir);
    // 245 bytes: OUT.partial (253) fits the 255-byte limit, OUT.pieces.tmp (256) does not.
    await expect(PieceStore.open(descriptor, join(dir, `${"a".repeat(241)}.bin`))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { errno: "ENAMETOOLONG" } });
    expect(await readdir(dir)).toEqual([]);
    const fits = join(dir, `${"b".repeat(240)}.bin`);
    const seeded = await PieceStore.seed(descriptor, file);
    const store = await PieceStore.open(descriptor, fits);
    for (let i = 0; i < descriptor.pieces.length; i++) await store.writePiece(i, Buffer.from(await seeded.readPiece(i)));
    await store.finished();
    expect((await readFile(fits)).equals(await readFile(file))).toBe(true);
    await Promise.all([store.close(), seeded.close()]);
  });

  it("one download into a path at a time: a second is refused while the first holds it, and a lock a dead process left is taken over", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const dir = join(work.dir, "locked");
    await mkdir(dir);
    const out = join(dir, "out.bin");
    const first = await PieceStore.open(descriptor, out);
    await expect(PieceStore.open(descriptor, out)).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { holder: process.pid } });
    await first.close();
    const second = await PieceStore.open(descriptor, out);
    await second.close();
    // A process that has exited left its lock behind (killed, say).
    const gone = spawnSync("true").pid!;
    await writeFile(PieceStore.lockPathOf(out), `${gone}\n`);
    const third = await PieceStore.open(descriptor, out);
    expect(await readFile(PieceStore.lockPathOf(out), "utf8")).toBe(`${process.pid}\n`);
    await third.close();
    await expect(lstat(PieceStore.lockPathOf(out))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("an OUT made while the fetch runs is not overwritten: the fetch fails, keeps the whole artifact in its partial file, and finishes once OUT is gone", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const dir = join(work.dir, "made-meanwhile");
    await mkdir(dir);
    const out = join(dir, "out.bin");
    const seeded = await PieceStore.seed(descriptor, file);
    const store = await PieceStore.open(descriptor, out);
    const last = descriptor.pieces.length - 1;
    for (let i = 0; i < last; i++) await store.writePiece(i, Buffer.from(await seeded.readPiece(i)));
    await writeFile(out, "the user's own file\n");
    await expect(store.writePiece(last, Buffer.from(await seeded.readPiece(last)))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { file: out } });
    expect(await readFile(out, "utf8")).toBe("the user's own file\n");
    await store.close();
    await rm(out);
    const again = await PieceStore.open(descriptor, out);
    await again.finished();
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(["out.bin"]);
    await Promise.all([again.close(), seeded.close()]);
  });

  it("a fetch killed after putting OUT in place leaves its partial name, record and lock beside it: the next open of OUT removes them, and leaves a partial file that is not OUT", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const dir = join(work.dir, "killed-after-link");
    await mkdir(dir);
    const out = join(dir, "out.bin");
    // The state that kill leaves: OUT and OUT.partial two links to the whole artifact, the record, and a dead process's lock.
    await writeFile(out, await readFile(file));
    await link(out, PieceStore.partialPathOf(out));
    await writeFile(PieceStore.recordPathOf(out), "{}");
    await writeFile(PieceStore.lockPathOf(out), `${spawnSync("true").pid!}\n`);
    const store = await PieceStore.open(descriptor, out);
    await store.finished();
    await store.close();
    expect(await readdir(dir)).toEqual(["out.bin"]);
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    // Another file at the partial name (another download's) stays.
    await writeFile(PieceStore.partialPathOf(out), "another download\n");
    await (await PieceStore.open(descriptor, out)).close();
    expect((await readdir(dir)).sort()).toEqual(["out.bin", "out.bin.partial"]);
  });

  it("two processes opening one OUT at the same instant: one holds it, the other is refused, with no lock or a dead process's lock there before", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const dir = join(work.dir, "racing");
    await mkdir(dir);
    // Each opens the store when told to and holds it a moment (the built runtime, as the CLI runs it).
    const child = join(dir, "open.mjs");
    const runtime = fileURLToPath(new URL("../../runtime/dist/dataplane/index.js", import.meta.url));
    await writeFile(
      child,
      `const { PieceStore } = await import(${JSON.stringify(runtime)});
      const [out] = process.argv.slice(2);
      console.log("ready");
      await new Promise((r) => process.stdin.once("data", r));
      try { const store = await PieceStore.open(JSON.parse(process.env.DESCRIPTOR), out); console.log("held"); await new Promise((r) => setTimeout(r, 300)); await store.close(); }
      catch (error) { console.log(error.code); }`,
    );
    const gone = spawnSync("true").pid!;
    const outcomes: string[][] = [];
    for (let round = 0; round < 12; round++) {
      const out = join(dir, `out${round}.bin`);
      if (round % 2 === 1) await writeFile(PieceStore.lockPathOf(out), `${gone}\n`);
      // Both are told to go once both are loaded: a start-up slower than the other's hold (a busy machine) would let both hold it in turn.
      const procs = [0, 1].map(() => spawn(process.execPath, [child, out], { env: { ...process.env, DESCRIPTOR: JSON.stringify(descriptor) } }));
      const said = procs.map((proc) => {
        let text = "";
        proc.stdout.on("data", (d: Buffer) => (text += d));
        return {
          ready: new Promise<void>((resolve) => proc.stdout.on("data", () => text.includes("ready") && resolve())),
          exit: new Promise<string>((resolve) => proc.on("exit", () => resolve(text.replace("ready", "").trim()))),
        };
      });
      await Promise.all(said.map((s) => s.ready));
      for (const proc of procs) proc.stdin.end("go\n");
      outcomes.push((await Promise.all(said.map((s) => s.exit))).sort());
    }
    expect(outcomes).toEqual(Array(12).fill(["ONEX_E_WRITE_FAILED", "held"]));
    expect((await readdir(dir)).filter((name) => name.includes("lock"))).toEqual([]);
  });

  it("a lock held by another user's process is that process's: refused, not taken over (the signal it cannot send says EPERM)", async () => {
    const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
    const dir = join(work.dir, "shared");
    await mkdir(dir);
    const out = join(dir, "out.bin");
    // Another user's download: its process lives, and this user may not signal it.
    const theirs = spawnSync("true").pid!;
    await writeFile(PieceStore.lockPathOf(out), `${theirs}\n`);
    const kill = vi.spyOn(process, "kill").mockImplementation((pid) => {
      if (pid === theirs) throw Object.assign(new Error("kill EPERM"), { code: "EPERM" });
      return true;
    });
    try {
      await expect(PieceStore.open(descriptor, out)).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { holder: theirs } });
      expect(await readFile(PieceStore.lockPathOf(out), "utf8")).toBe(`${theirs}\n`);
    } finally {
      kill.mockRestore();
    }
  });

  describe("links planted beside the target", () => {
    const VICTIM = "someone else's file\n";

    it("at the partial file: refused with ONEX_E_WRITE_FAILED, and what it points at is untouched", async () => {
      const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
      const dir = join(work.dir, "link-partial");
      await mkdir(dir);
      await writeFile(join(dir, "victim.txt"), VICTIM);
      await symlink(join(dir, "victim.txt"), join(dir, "out.bin.partial"));
      await expect(PieceStore.open(descriptor, join(dir, "out.bin"))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { errno: "ELOOP" } });
      await symlink(join(dir, "nowhere.txt"), join(dir, "dangling.bin.partial"));
      await expect(PieceStore.open(descriptor, join(dir, "dangling.bin"))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { errno: "ELOOP" } });
      expect(await readFile(join(dir, "victim.txt"), "utf8")).toBe(VICTIM);
      await expect(lstat(join(dir, "nowhere.txt"))).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("a hard link at the partial file (to a file of this user's elsewhere): refused with ONEX_E_WRITE_FAILED, and that file is untouched", async () => {
      // Where fs.protected_hardlinks is 0, another user may link any file they can see; as its
      // owner's, it passes the owner check, and was truncated to the artifact's size and written.
      const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
      const dir = join(work.dir, "hard-link-partial");
      await mkdir(dir);
      await writeFile(join(dir, "notes.txt"), VICTIM);
      await link(join(dir, "notes.txt"), join(dir, "out.bin.partial"));
      await expect(PieceStore.open(descriptor, join(dir, "out.bin"))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { file: join(dir, "out.bin.partial"), links: 2 } });
      expect(await readFile(join(dir, "notes.txt"), "utf8")).toBe(VICTIM);
      expect((await readdir(dir)).sort()).toEqual(["notes.txt", "out.bin.partial"]);
    });

    it("another user's file at the partial file or at OUT: refused with ONEX_E_WRITE_FAILED, never made the artifact (they could change it after it is verified)", async () => {
      const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
      const dir = join(work.dir, "others-files");
      await mkdir(dir);
      await writeFile(join(dir, "out.bin.partial"), "");
      await writeFile(join(dir, "whole.bin"), await readFile(file));
      // Another user's files: as root, given to nobody; else this process poses as another user.
      const asRoot = process.getuid!() === 0;
      if (asRoot) for (const name of ["out.bin.partial", "whole.bin"]) await chown(join(dir, name), 65534, 65534);
      const owner = (await lstat(join(dir, "out.bin.partial"))).uid;
      const getuid = asRoot ? undefined : vi.spyOn(process, "getuid").mockReturnValue(owner + 1000);
      try {
        await expect(PieceStore.open(descriptor, join(dir, "out.bin"))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { file: join(dir, "out.bin.partial"), uid: owner } });
        await expect(PieceStore.open(descriptor, join(dir, "whole.bin"))).rejects.toMatchObject({ code: "ONEX_E_WRITE_FAILED", details: { file: join(dir, "whole.bin"), uid: owner } });
      } finally {
        getuid?.mockRestore();
      }
      // Theirs is left as it was, and no lock stays behind.
      expect((await lstat(join(dir, "out.bin.partial"))).size).toBe(0);
      expect((await readdir(dir)).sort()).toEqual(["out.bin.partial", "whole.bin"]);
      if (asRoot) for (const name of ["out.bin.partial", "whole.bin"]) await chown(join(dir, name), 0, 0);
      // The same files, this user's own, are a resumed download and a complete artifact.
      const resumed = await PieceStore.open(descriptor, join(dir, "out.bin"));
      await resumed.close();
      const whole = await PieceStore.open(descriptor, join(dir, "whole.bin"));
      expect(whole.complete).toBe(true);
      await whole.close();
    });

    it("at the record's temporary file: removed, not written through; a record linked to a device is no record", async () => {
      const descriptor = await describeFile(file, { name: "data/set", version: "1", zone: ZONE, pieceSize: MB }, generateKeyPair());
      const seeded = await PieceStore.seed(descriptor, file);
      const dir = join(work.dir, "link-record");
      await mkdir(dir);
      await writeFile(join(dir, "victim.txt"), VICTIM);
      await symlink(join(dir, "victim.txt"), join(dir, "out.bin.pieces.tmp"));
      // A record that never ends: read as one, it would fill the memory.
      await symlink("/dev/zero", join(dir, "out.bin.pieces"));
      const store = await PieceStore.open(descriptor, join(dir, "out.bin"));
      expect(store.have.count).toBe(0);
      expect(await store.writePiece(0, Buffer.from(await seeded.readPiece(0)))).toBe(true);
      await store.close();
      expect(await readFile(join(dir, "victim.txt"), "utf8")).toBe(VICTIM);
      expect((await lstat(join(dir, "out.bin.pieces"))).isFile()).toBe(true);
      const resumed = await PieceStore.open(descriptor, join(dir, "out.bin"));
      expect(resumed.have.count).toBe(1);
      await Promise.all([resumed.close(), seeded.close()]);
      // A FIFO with no writer where the record goes: no record, and no wait for a writer.
      execFileSync("mkfifo", [join(dir, "fifo.bin.pieces")]);
      const beside = await PieceStore.open(descriptor, join(dir, "fifo.bin"));
      expect(beside.have.count).toBe(0);
      await beside.close();
    });
  });
});
