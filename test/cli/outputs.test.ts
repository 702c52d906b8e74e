/** Finding 13: outputs that are safe to script. */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeFailure } from "../../cli/file-errors.js";
import { exitCodeFor } from "../../cli/exit-codes.js";
import { ErrorCode } from "../trust/fixtures.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";
import { assertNoCrash, BIN, dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("outputs");
afterAll(remove);
const log = Array.from({ length: 3000 }, (_, n) => JSON.stringify(dispatch(n))).join("\n") + "\n";
writeFileSync(join(dir, "log.ndjson"), log);

const leftovers = () => readdirSync(dir).filter((name) => name.endsWith(".tmp"));

describe("outputs", () => {
  it("an --out in a missing folder or a folder as --out is ONEX_E_WRITE_FAILED (exit 73), without a stack trace", () => {
    mkdirSync(join(dir, "a-folder"));
    for (const out of ["missing/out.ndjson", "a-folder"]) {
      const run = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--out", out]);
      assertNoCrash(run);
      expect(run.code).toBe(73);
      expect(run.stderr).toContain(ErrorCode.WriteFailed);
    }
    const deadLetter = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--dead-letter", "missing/dead.ndjson"]);
    expect([deadLetter.code, deadLetter.stderr.includes(ErrorCode.WriteFailed)]).toEqual([73, true]);
    expect(leftovers()).toEqual([]);
  });

  it("an --out or --dead-letter that is the input file is refused, --force or not: the input replaced lost every message not written", () => {
    const input = JSON.stringify(dispatch(1)) + "\n42\n";
    writeFileSync(join(dir, "own.ndjson"), input);
    symlinkSync("own.ndjson", join(dir, "own-link.ndjson"));
    for (const extra of [["--out", "own.ndjson", "--on-error", "skip"], ["--out", "./own-link.ndjson"], ["--dead-letter", "own.ndjson", "--out", "other.ndjson"]]) {
      const run = onex(dir, ["migrate", "v0.1", "v0.2", "own.ndjson", ...extra, "--force"]);
      expect(run.code, extra.join(" ")).toBe(2);
      expect(run.stderr).toMatch(/ONEX_E_USAGE: --(out|dead-letter) names the input file/);
      expect(readFileSync(join(dir, "own.ndjson"), "utf8")).toBe(input);
      expect(existsSync(join(dir, "other.ndjson"))).toBe(false);
    }
    expect(leftovers()).toEqual([]);
  });

  it("a missing input leaves no output file behind", () => {
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "nope.ndjson", "--out", "never.ndjson", "--dead-letter", "never-dead.ndjson"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(ErrorCode.FileNotFound);
    expect(existsSync(join(dir, "never.ndjson"))).toBe(false);
    expect(existsSync(join(dir, "never-dead.ndjson"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("a run stopped by a bad message (--on-error fail) leaves no partial --out, and its summary counts nothing written", () => {
    writeFileSync(join(dir, "stops.ndjson"), log + "{broken\n");
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "stops.ndjson", "--out", "partial.ndjson"]);
    expect(run.code).toBe(1);
    expect(existsSync(join(dir, "partial.ndjson"))).toBe(false);
    // It said "3000 written" of messages that went nowhere.
    expect(run.stderr).toContain("3001 read, 0 written (3000 migrated, discarded with --out), 0 skipped, 0 dead-lettered; stopped at the first bad message");
    expect(leftovers()).toEqual([]);
  });

  it("migrate --out does not overwrite without --force, and replaces atomically with it", () => {
    writeFileSync(join(dir, "kept.ndjson"), "keep me\n");
    const refused = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--out", "kept.ndjson"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(ErrorCode.FileExists);
    expect(readFileSync(join(dir, "kept.ndjson"), "utf8")).toBe("keep me\n");
    const forced = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--out", "kept.ndjson", "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, "kept.ndjson"), "utf8").split("\n")).toHaveLength(3001);
  });

  for (const args of [["migrate", "v0.1", "v0.2", "log.ndjson"], ["validate", "v0.1", "log.ndjson", "--json"], ["versions"]]) {
    it(`\`onex ${args[0]} | head -1\` ends quietly with success when the reader closes the pipe`, async () => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdout.once("data", () => child.stdout.destroy());
      const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      expect(stderr).not.toMatch(/ONEX_E_INTERNAL|EPIPE|\n\s+at /);
      expect(code).toBe(0);
    });
  }

  it("a pipe closed while a --dead-letter is still being written fails the run (ONEX_E_WRITE_FAILED, exit 73): exit 0 without the file said no message was bad", async () => {
    writeFileSync(join(dir, "bad-first.ndjson"), "{not json\n" + log);
    const child = spawn(process.execPath, [BIN, "migrate", "v0.1", "v0.2", "bad-first.ndjson", "--dead-letter", "cut-short.ndjson"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect([code, stderr]).toEqual([73, expect.stringContaining("error ONEX_E_WRITE_FAILED: standard output was closed before the run ended (EPIPE), so cut-short.ndjson was not written\n")]);
    expect(existsSync(join(dir, "cut-short.ndjson"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("standard error closed while --out and --dead-letter are still being written fails the run (exit 73): it ended with exit 0 and neither file written", async () => {
    writeFileSync(join(dir, "bad-first-2.ndjson"), "{not json\n" + log);
    const child = spawn(process.execPath, [BIN, "migrate", "v0.1", "v0.2", "bad-first-2.ndjson", "--out", "kept-2.ndjson", "--dead-letter", "letters-2.ndjson"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    // The reader of standard error gone before the first bad message is reported.
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(code).toBe(73);
    expect([existsSync(join(dir, "kept-2.ndjson")), existsSync(join(dir, "letters-2.ndjson"))]).toEqual([false, false]);
    expect(leftovers()).toEqual([]);
  });

  it("standard error closed or full never decides the exit status: a refused run keeps its own (it ended with 0, or 73)", async () => {
    const closed = spawn(process.execPath, [BIN, "validate", "v0.1", "missing.json"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    closed.stderr.destroy();
    expect(await new Promise<number | null>((resolve) => closed.on("close", (c) => resolve(c)))).toBe(3);
    const full = spawnSync("sh", ["-c", `"${process.execPath}" "${BIN}" migrate v0.1 v0.2 log.ndjson --out log.ndjson 2>/dev/full`], { cwd: dir });
    expect(full.status).toBe(2);
    expect(leftovers()).toEqual([]);
  });

  it("ordinary file errors have their codes: malformed YAML to nats-auth, diff --schemas nope, a folder as input", () => {
    writeFileSync(join(dir, "ids.yaml"), "- {user: a, password: [\n");
    const yaml = onex(dir, ["nats-auth", "ids.yaml"]);
    expect([yaml.code, yaml.stderr.includes(ErrorCode.YamlSyntax)]).toEqual([3, true]);
    const schemas = onex(dir, ["diff", "v0.1", "v0.2", "--schemas", "nope"]);
    expect([schemas.code, schemas.stderr.includes(ErrorCode.FileNotFound)]).toEqual([3, true]);
    const folder = onex(dir, ["validate", "v0.1", "a-folder"]);
    expect([folder.code, folder.stderr.includes(ErrorCode.FileUnreadable)]).toEqual([3, true]);
    for (const run of [yaml, schemas, folder]) assertNoCrash(run);
  });

  it("--force never replaces a pipe (or a device) with a plain file: ONEX_E_WRITE_FAILED, the pipe stays", () => {
    const fifo = join(dir, "a-pipe");
    execFileSync("mkfifo", [fifo]);
    for (const args of [["migrate", "v0.1", "v0.2", "log.ndjson", "--out", "a-pipe", "--force"], ["asyncapi", "v0.1", "--schemas", join(PROJECT_ROOT, "schemas"), "--out", "a-pipe", "--force"]]) {
      const run = onex(dir, args);
      assertNoCrash(run);
      expect([args[0], run.code, run.stderr.includes(ErrorCode.WriteFailed)]).toEqual([args[0], 73, true]);
      expect(lstatSync(fifo).isFIFO()).toBe(true);
    }
    // A link to it (as /dev/stdout is a link) is refused the same way, and stays a link.
    symlinkSync("a-pipe", join(dir, "pipe-link"));
    const linked = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--out", "pipe-link", "--force"]);
    expect([linked.code, linked.stderr.includes(ErrorCode.WriteFailed)]).toEqual([73, true]);
    expect(lstatSync(join(dir, "pipe-link")).isSymbolicLink()).toBe(true);
    expect(leftovers()).toEqual([]);
  });

  it("--force never replaces a link into /proc (as /dev/stdout is), even when standard output is a regular file it leads to", () => {
    // Shaped as /dev/stdout (a link to /proc/self/fd/1), in the test's own folder: run as root
    // with stdout redirected to a file, --force /dev/stdout replaced the system's link.
    symlinkSync("/proc/self/fd/1", join(dir, "stdout-link"));
    const redirected = join(dir, "redirected.txt");
    const fd = openSync(redirected, "w");
    const run = spawnSync(process.execPath, [BIN, "asyncapi", "v0.1", "--schemas", join(PROJECT_ROOT, "schemas"), "--out", "stdout-link", "--force"], { cwd: dir, stdio: ["ignore", fd, "pipe"], encoding: "utf8" });
    closeSync(fd);
    expect([run.status, run.stderr.includes(ErrorCode.WriteFailed)]).toEqual([73, true]);
    expect(lstatSync(join(dir, "stdout-link")).isSymbolicLink()).toBe(true);
    expect(leftovers()).toEqual([]);
  });

  it("--out and --dead-letter naming one file, by path or through a link, is ONEX_E_USAGE before anything is written", () => {
    writeFileSync(join(dir, "bad-mixed.ndjson"), log + "{broken\n");
    const same = onex(dir, ["migrate", "v0.1", "v0.2", "bad-mixed.ndjson", "--out", "both.ndjson", "--dead-letter", "./both.ndjson", "--force"]);
    expect([same.code, same.stderr.includes(ErrorCode.Usage)]).toEqual([2, true]);
    expect(existsSync(join(dir, "both.ndjson"))).toBe(false);
    writeFileSync(join(dir, "target.ndjson"), "keep me\n");
    symlinkSync("target.ndjson", join(dir, "link.ndjson"));
    const linked = onex(dir, ["migrate", "v0.1", "v0.2", "bad-mixed.ndjson", "--out", "target.ndjson", "--dead-letter", "link.ndjson", "--force"]);
    expect([linked.code, linked.stderr.includes(ErrorCode.Usage)]).toEqual([2, true]);
    expect(readFileSync(join(dir, "target.ndjson"), "utf8")).toBe("keep me\n");
    // Through a link to the folder, before either file exists.
    mkdirSync(join(dir, "real-folder"));
    symlinkSync("real-folder", join(dir, "linked-folder"));
    const viaFolder = onex(dir, ["migrate", "v0.1", "v0.2", "bad-mixed.ndjson", "--out", "real-folder/x.ndjson", "--dead-letter", "linked-folder/x.ndjson", "--force"]);
    expect([viaFolder.code, viaFolder.stderr.includes(ErrorCode.Usage)]).toEqual([2, true]);
    expect(readdirSync(join(dir, "real-folder"))).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it("a link at --out that leads nowhere (a loop, or dangling) is an existing output: refused without --force, replaced with it", () => {
    symlinkSync("loop.ndjson", join(dir, "loop.ndjson"));
    const refused = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--out", "loop.ndjson"]);
    // It was ONEX_E_FILE_UNREADABLE (exit 3), an input's error, for an output.
    expect([refused.code, refused.stderr.includes(ErrorCode.FileExists)]).toEqual([2, true]);
    const replaced = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--out", "loop.ndjson", "--force"]);
    expect(replaced.code).toBe(0);
    expect(lstatSync(join(dir, "loop.ndjson")).isFile()).toBe(true);
    expect(readFileSync(join(dir, "loop.ndjson"), "utf8").split("\n").length).toBe(3001);
    expect(leftovers()).toEqual([]);
  });

  it("standard output on a full device is ONEX_E_WRITE_FAILED, exit 73, without a stack trace", () => {
    for (const args of [["migrate", "v0.1", "v0.2", "log.ndjson"], ["versions"]]) {
      const run = spawnSync("sh", ["-c", `"$0" "$@" > /dev/full`, process.execPath, BIN, ...args], { cwd: dir, encoding: "utf8" });
      assertNoCrash({ code: run.status, stdout: run.stdout, stderr: run.stderr });
      expect([args[0], run.status, run.stderr]).toEqual([args[0], 73, "error ONEX_E_WRITE_FAILED: cannot write standard output: ENOSPC\n"]);
    }
    // A command that prints nothing on standard output ends as it would anywhere else.
    const full = (args: string[]) => spawnSync("sh", ["-c", `"$0" "$@" > /dev/full`, process.execPath, BIN, ...args], { cwd: dir, encoding: "utf8" });
    const written = full(["migrate", "v0.1", "v0.2", "log.ndjson", "--out", "full-device.ndjson"]);
    expect([written.status, written.stderr]).toEqual([0, expect.stringMatching(/^migrate v0.1 -> v0.2: \d+ read/)]);
    expect(readFileSync(join(dir, "full-device.ndjson"), "utf8").length).toBeGreaterThan(0);
    const usage = full(["migrate", "v0.1"]);
    expect([usage.status, usage.stderr]).toEqual([2, expect.stringMatching(/^error ONEX_E_USAGE: Missing 1 required arg/)]);
  });

  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129], ["SIGQUIT", 131]] as const) {
    it(`migrate stopped by ${signal} mid-run leaves neither its outputs nor their temporary files`, async () => {
      const out = `stopped-${signal}.ndjson`;
      const child = spawn(process.execPath, [BIN, "migrate", "v0.1", "v0.2", "-", "--out", out, "--dead-letter", `dead-${signal}.ndjson`], { cwd: dir, stdio: ["pipe", "ignore", "pipe"] });
      // Input that has begun but not ended: the run is under way, its temporary files open.
      // What it has not read when it stops is refused by the closed pipe, as expected.
      child.stdin.on("error", () => undefined);
      child.stdin.write(log);
      while (!readdirSync(dir).some((name) => name.startsWith(`.${out}.`))) await new Promise((resolve) => setTimeout(resolve, 20));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill(signal);
      expect(await exited).toBe(status);
      child.stdin.destroy();
      expect(existsSync(join(dir, out))).toBe(false);
      expect(existsSync(join(dir, `dead-${signal}.ndjson`))).toBe(false);
      expect(leftovers()).toEqual([]);
    });
  }

  it("a --dead-letter that someone else creates during the run fails it whole: the --out already in place is taken back, the other file left alone", async () => {
    const [out, dead] = ["pair-out.ndjson", "pair-dead.ndjson"];
    const child = spawn(process.execPath, [BIN, "migrate", "v0.1", "v0.2", "-", "--out", out, "--dead-letter", dead], { cwd: dir, stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.stdin.write(log + "{not json\n");
    while (!readdirSync(dir).some((name) => name.startsWith(`.${dead}.`))) await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(join(dir, dead), "someone else's\n");
    child.stdin.end();
    expect(await exited).toBe(exitCodeFor(ErrorCode.FileExists));
    expect(stderr).toMatch(/ONEX_E_FILE_EXISTS/);
    expect(existsSync(join(dir, out))).toBe(false);
    expect(readFileSync(join(dir, dead), "utf8")).toBe("someone else's\n");
    expect(leftovers()).toEqual([]);
  });

  it("migrate reading a FIFO whose writer is still there stops on SIGINT (it hung: a read on libuv's thread pool kept the process from exiting)", async () => {
    const fifo = join(dir, "input.fifo");
    execFileSync("mkfifo", [fifo]);
    writeFileSync(join(dir, "three.ndjson"), log.split("\n").slice(0, 3).join("\n") + "\n");
    // A writer that writes three messages and stays, so the input never ends.
    const writer = spawn("sh", ["-c", "cat three.ndjson > input.fifo; exec sleep 60 > input.fifo"], { cwd: dir, stdio: "ignore" });
    const child = spawn(process.execPath, [BIN, "migrate", "v0.1", "v0.2", "input.fifo", "--out", "from-fifo.ndjson"], { cwd: dir, stdio: ["ignore", "ignore", "ignore"] });
    try {
      while (!readdirSync(dir).some((name) => name.startsWith(".from-fifo.ndjson."))) await new Promise((resolve) => setTimeout(resolve, 20));
      // Time to read the three messages and wait for more, where the hang was.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(existsSync(join(dir, "from-fifo.ndjson"))).toBe(false);
      expect(leftovers()).toEqual([]);
    } finally {
      child.kill("SIGKILL");
      writer.kill("SIGKILL");
    }
  });

  it("standard output redirected to the input file is ONEX_E_USAGE before anything is read or written: `>>` read back its own output, `>` had emptied the input", () => {
    const shell = (command: string) => spawnSync("sh", ["-c", command, process.execPath, BIN], { cwd: dir, encoding: "utf8" });
    const input = log.split("\n").slice(0, 20).join("\n") + "\n";
    for (const [redirect, shown] of [['"$0" "$1" migrate v0.1 v0.2 own-out.ndjson >> own-out.ndjson', "own-out.ndjson"], ['"$0" "$1" migrate v0.1 v0.2 < own-out.ndjson >> own-out.ndjson', "stdin"]] as const) {
      writeFileSync(join(dir, "own-out.ndjson"), input);
      const run = shell(redirect);
      expect([run.status, run.stderr]).toEqual([2, expect.stringContaining(`error ONEX_E_USAGE: standard output is the input file (${shown})`)]);
      expect(readFileSync(join(dir, "own-out.ndjson"), "utf8")).toBe(input);
    }
    // `>` empties the file before onex starts: refused, not a run that read nothing and succeeded.
    writeFileSync(join(dir, "own-out.ndjson"), input);
    const emptied = shell('"$0" "$1" validate v0.1 own-out.ndjson > own-out.ndjson');
    expect([emptied.status, emptied.stderr]).toEqual([2, expect.stringContaining("error ONEX_E_USAGE: standard output is the input file (own-out.ndjson)")]);
    // Standard output to another file is written as ever.
    expect(shell('"$0" "$1" migrate v0.1 v0.2 log.ndjson >> own-other.ndjson').status).toBe(0);
    expect(readFileSync(join(dir, "own-other.ndjson"), "utf8").split("\n")).toHaveLength(3001);
  });

  it("an --out or --dead-letter that standard output is redirected to is ONEX_E_USAGE, --force or not: the file moved into place lost what went to standard output", () => {
    const input = log.split("\n").slice(0, 20).join("\n") + "\n{not json\n";
    writeFileSync(join(dir, "split-in.ndjson"), input);
    for (const flag of ["--dead-letter", "--out"]) {
      const run = spawnSync("sh", ["-c", `"$0" "$1" migrate v0.1 v0.2 split-in.ndjson ${flag} split-both.ndjson --force > split-both.ndjson`, process.execPath, BIN], { cwd: dir, encoding: "utf8" });
      expect([flag, run.status, run.stderr]).toEqual([flag, 2, `error ONEX_E_USAGE: ${flag} names the file standard output is redirected to (split-both.ndjson); what is written to either would be lost: write to another file\n`]);
    }
    expect(leftovers()).toEqual([]);
  });

  it("standard input that is a folder is ONEX_E_FILE_UNREADABLE, not an empty input", () => {
    for (const command of [["validate", "v0.1", "-"], ["migrate", "v0.1", "v0.2", "-"]]) {
      const run = spawnSync("sh", ["-c", `"$0" "$@" < "${dir}"`, process.execPath, BIN, ...command], { encoding: "utf8" });
      expect([command[0], run.status, run.stderr]).toEqual([command[0], 3, "error ONEX_E_FILE_UNREADABLE: cannot read the input stdin: it is a folder (EISDIR)\n"]);
    }
  });

  it("migrate --workers above 64 is ONEX_E_USAGE", () => {
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson", "--workers", "9999999999"]);
    assertNoCrash(run);
    expect(run.code).toBe(2);
  });

  it("a file size limit reached mid-write is ONEX_E_WRITE_FAILED saying so once, and leaves no partial --out", () => {
    // `ulimit -f` (in 512-byte blocks) in a child shell: the --out grows past it while the run writes.
    const run = spawnSync("sh", ["-c", 'ulimit -f 64; exec "$0" "$@"', process.execPath, BIN, "migrate", "v0.1", "v0.2", "log.ndjson", "--out", "limited.ndjson"], { cwd: dir, encoding: "utf8" });
    expect([run.status, run.stderr]).toEqual([73, "error ONEX_E_WRITE_FAILED: cannot write limited.ndjson: the file would grow past the size limit (EFBIG)\n"]);
    expect(existsSync(join(dir, "limited.ndjson"))).toBe(false);
    expect(leftovers()).toEqual([]);
    // A code without words of its own is named once: Node's message begins with it already.
    expect(writeFailure(Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" }), "out.ndjson").message).toBe("cannot write out.ndjson: EIO: i/o error, write");
  });

  it("a full disk is ONEX_E_WRITE_FAILED with exit 73, as every write failure", () => {
    const error = writeFailure(Object.assign(new Error("no space"), { code: "ENOSPC" }), "out.ndjson");
    expect([error.code, exitCodeFor(error.code)]).toEqual([ErrorCode.WriteFailed, 73]);
    expect(error.message).toContain("no space left");
  });
});
