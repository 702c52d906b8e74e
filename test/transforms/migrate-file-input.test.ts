/**
 * A regular file (named, or stdin redirected from one) is read straight into the buffers its
 * batches are handed over in (cli/message-input.ts): the line cut by each read moves to the
 * next buffer, a line longer than a buffer to a larger one. Whatever the reads' boundaries
 * fall on (a BOM, CRLF, blank lines, invalid UTF-8, lines of several hundred KB, no final
 * newline), migrate and validate must read a file exactly as they read the same bytes
 * through a pipe, on workers and on one thread.
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, scratch } from "../cli/cli-harness.js";
import { examples, expectSameOutput } from "./migrate-harness.js";

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  letters: string | undefined;
}

const { dir, remove } = scratch("migrate-file-input");
afterAll(remove);

/** Runs the built onex with stdin from `stdin`: bytes through a pipe, or an open file descriptor. */
function onex(args: string[], stdin: Buffer | number, dead?: string): Run {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    ...(typeof stdin === "number" ? { stdio: [stdin, "pipe", "pipe"] } : { input: stdin }),
    timeout: 120_000,
    maxBuffer: 1 << 28,
  });
  let letters: string | undefined;
  try {
    letters = dead === undefined ? undefined : readFileSync(dead, "utf8");
  } catch {
    letters = undefined;
  }
  return { code: result.status, stdout: result.stdout, stderr: result.stderr.toString("utf8"), letters };
}

const dispatch = examples.find((l) => l.includes('"type":"signal.task.dispatch"'))!;

/** Line `i` of a log: mostly ordinary messages (distinct ids), now and then something a read boundary could break. */
function line(i: number): Buffer {
  if (i === 0) return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(examples[0]!)]);
  // Tasks holding 300 and 700 KB: longer than a read, and than a batch buffer.
  if (i % 1_500 === 700) return Buffer.from(dispatch.replace('"input":{', `"input":{"blob":"${"é".repeat(i % 3_000 === 700 ? 150_000 : 350_000)}",`));
  if (i % 997 === 5) return Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
  if (i % 613 === 7) return Buffer.from("{not json");
  if (i % 409 === 9) return Buffer.from("   ");
  const text = examples[i % examples.length]!.replace(/"id":"([0-9a-f-]{24})[0-9]{12}"/, (_m, p: string) => `"id":"${p}${String(i).padStart(12, "0")}"`);
  return Buffer.from(i % 7 === 3 ? `${text}\r` : text);
}

const count = 6_000;
const lines = Array.from({ length: count }, (_, i) => line(i));
// No newline after the last line.
const input = Buffer.concat(lines.flatMap((l, i) => (i === count - 1 ? [l] : [l, Buffer.from("\n")])));
const file = join(dir, "log.ndjson");
writeFileSync(file, input);

describe("onex migrate reading a regular file", () => {
  const piped = onex(["migrate", "v0.2", "v0.1", "-", "--workers", "0", "--dead-letter", join(dir, "piped.dead")], input, join(dir, "piped.dead"));

  it("the piped run, the reference, reads every line", () => {
    expect(piped.code).toBe(0);
    expect(piped.stderr).toMatch(/5985 read, 5968 written, 0 skipped, 17 dead-lettered/);
    expect(piped.letters).toContain('"raw_base64"');
    expect(piped.stdout.toString("utf8").split("\n").filter((l) => l.includes('"blob"'))).toHaveLength(4);
  });

  it.each([0, 2])("named, on %i workers: the output, dead letters and stderr of the piped run", (workers) => {
    const dead = join(dir, `named-${workers}.dead`);
    const named = onex(["migrate", "v0.2", "v0.1", file, "--workers", String(workers), "--dead-letter", dead], Buffer.alloc(0), dead);
    expect(named.code).toBe(0);
    expectSameOutput(named.stdout, piped.stdout);
    expect(named.letters).toBe(piped.letters);
    expect(named.stderr.replaceAll(file, "-")).toBe(piped.stderr);
  });

  it.each([0, 2])("stdin redirected from the file, on %i workers: the same", (workers) => {
    const dead = join(dir, `redirected-${workers}.dead`);
    const fd = openSync(file, "r");
    try {
      const redirected = onex(["migrate", "v0.2", "v0.1", "-", "--workers", String(workers), "--dead-letter", dead], fd, dead);
      expect(redirected.code).toBe(0);
      expectSameOutput(redirected.stdout, piped.stdout);
      expect(redirected.letters).toBe(piped.letters);
      expect(redirected.stderr).toBe(piped.stderr);
    } finally {
      closeSync(fd);
    }
  });

  it("stdin redirected from a file is read from where it stands", () => {
    const skipped = lines.slice(0, 3).reduce((n, l) => n + l.length + 1, 0);
    const fd = openSync(file, "r");
    try {
      readSync(fd, Buffer.alloc(skipped), 0, skipped, null);
      const rest = onex(["migrate", "v0.2", "v0.1", "-", "--workers", "2", "--on-error", "skip"], fd);
      const restPiped = onex(["migrate", "v0.2", "v0.1", "-", "--workers", "0", "--on-error", "skip"], input.subarray(skipped));
      expect(rest.code).toBe(restPiped.code);
      expectSameOutput(rest.stdout, restPiped.stdout);
      expect(rest.stderr).toBe(restPiped.stderr);
    } finally {
      closeSync(fd);
    }
  });

  it("a pretty-printed JSON array spanning many reads is read as one from a file as from a pipe", () => {
    const array = Buffer.from(`[\n${examples.flatMap((e) => Array.from({ length: 150 }, () => JSON.stringify(JSON.parse(e), null, 2))).join(",\n")}\n]\n`);
    expect(array.length).toBeGreaterThan(600_000);
    const arrayFile = join(dir, "array.json");
    writeFileSync(arrayFile, array);
    const fromFile = onex(["migrate", "v0.2", "v0.1", arrayFile], Buffer.alloc(0));
    const fromPipe = onex(["migrate", "v0.2", "v0.1", "-"], array);
    expect(fromFile.code).toBe(0);
    expectSameOutput(fromFile.stdout, fromPipe.stdout);
    expect(fromFile.stdout.toString("utf8").startsWith("[\n")).toBe(true);
  });

  it("validate reads a file as it reads a pipe", () => {
    const fromFile = onex(["validate", "v0.2", file], Buffer.alloc(0));
    const fromPipe = onex(["validate", "v0.2", "-"], input);
    expect(fromFile.code).toBe(fromPipe.code);
    expect(fromFile.stdout.toString("utf8").replaceAll(file, "-")).toBe(fromPipe.stdout.toString("utf8"));
    expect(fromFile.stderr.replaceAll(file, "-")).toBe(fromPipe.stderr);
  });
});
