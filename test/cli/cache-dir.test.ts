/**
 * The compiled-SDK cache's folder (`$ONEX_CACHE_DIR`) is made one missing folder at a time: one
 * that cannot be made is no cache, and the command compiles into a private temporary folder. With
 * mkdir's `recursive`, `ONEX_CACHE_DIR=/proc/1/x` spun for ever (Node's recursive mkdir loops on
 * a folder that says ENOENT although its parent is there). Run `npm run build` first: the CLI is
 * run as built. A project of its own, so the SDK is compiled, not taken from @onex/sdk's build.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copySchemas, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";
import { BIN, type Run } from "./cli-harness.js";

let root: string;

/** `onex validate v0.1` of the example log in the project, with the cache at `cacheDir`; killed after 90 s, so a hang fails. */
function validate(cacheDir: string): Run {
  const result = spawnSync(process.execPath, [BIN, "validate", "v0.1", join(PROJECT_ROOT, "docs", "examples", "v0.1.ndjson")], {
    cwd: root,
    encoding: "utf8",
    timeout: 90_000,
    env: { ...process.env, ONEX_CACHE_DIR: cacheDir },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const compiledSdks = async (dir: string) => (await readdir(dir)).filter((name) => /^[0-9a-f]{64}$/.test(name));

beforeAll(async () => {
  root = (await copySchemas()).root;
  const generate = spawnSync(process.execPath, [BIN, "generate"], { cwd: root, encoding: "utf8", timeout: 120_000 });
  if (generate.status !== 0) throw new Error(`onex generate: exit ${generate.status}\n${generate.stderr}`);
}, 180_000);

afterAll(removeTempDirs);

describe("the compiled-SDK cache folder", () => {
  it.runIf(existsSync("/proc/1"))("that cannot be made (/proc/1/x) is no cache: the command runs, compiling into a private folder, and does not hang", () => {
    const run = validate("/proc/1/x");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("0 invalid");
  }, 120_000);

  it("is made with the folders missing above it, each for this user alone, and used", async () => {
    const parent = await mkdtemp(join(tmpdir(), "onex-cache-dir-"));
    try {
      const cache = join(parent, "a", "b", "sdk");
      const run = validate(cache);
      expect(run.code, run.stderr).toBe(0);
      for (const dir of [join(parent, "a"), join(parent, "a", "b"), cache]) expect((await stat(dir)).mode & 0o777, dir).toBe(0o700);
      expect(await compiledSdks(cache)).toHaveLength(1);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  }, 120_000);

  it("with more folders missing above it than it makes is no cache, and nothing is made", async () => {
    const parent = await mkdtemp(join(tmpdir(), "onex-cache-dir-"));
    try {
      const run = validate(join(parent, ...Array.from({ length: 40 }, (_, i) => `d${i}`)));
      expect(run.code, run.stderr).toBe(0);
      expect(await readdir(parent)).toEqual([]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  }, 120_000);
});
