/**
 * The README's five-minute tour, run as a newcomer runs it: each shell block of the manifest
 * and trust steps, line for line, in a fresh folder holding the project's docs/ (where the
 * tour's example logs are), with `npx onex` being the built CLI (run `npm run build` first).
 * A tour that names a file nobody has, or a grant nobody is given, fails here rather than on
 * a user's first day. The two `onex generate` lines are left out: they rewrite the project's
 * own generated/, and CI runs them there (`onex generate --check`).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

/** The README's ```sh blocks between "A five-minute tour" and the next section. */
async function tourBlocks(): Promise<string[]> {
  const readme = await readFile(join(PROJECT_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## A five-minute tour");
  const end = readme.indexOf("\n## ", start + 1);
  expect(start).toBeGreaterThan(-1);
  return [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The one tour block that runs `onex <command>`. */
async function blockWith(command: string): Promise<string> {
  const blocks = (await tourBlocks()).filter((block) => block.includes(`npx onex ${command} `));
  expect(blocks).toHaveLength(1);
  return blocks[0]!;
}

/**
 * Runs `block` with bash in a fresh folder that has the project's docs/, stopping at the
 * first command that fails and naming it. `npx onex` is the built CLI; any other `npx` is
 * refused, so nothing is fetched from a registry.
 */
async function runTour(block: string): Promise<{ status: number | null; stdout: string; stderr: string; dir: string }> {
  const dir = await tempDir("onex-readme-tour-");
  await symlink(join(PROJECT_ROOT, "docs"), join(dir, "docs"));
  const script = [
    "set -e",
    `trap 'echo "README tour step failed: $BASH_COMMAND" >&2' ERR`,
    'npx() { if [ "$1" != onex ]; then echo "npx $1 is not part of the tour" >&2; return 127; fi; shift; node "$ONEX_BIN" "$@"; }',
    block,
  ].join("\n");
  const result = spawnSync("bash", ["-c", script], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, ONEX_BIN: join(PROJECT_ROOT, "bin", "onex.js"), NATS_URL: "" },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, dir };
}

describe("the README's five-minute tour", () => {
  it("runs the manifest commands on the example logs the README names", async () => {
    const block = (await blockWith("validate"))
      .split("\n")
      .filter((line) => !line.startsWith("npx onex generate"))
      .join("\n");
    const run = await runTour(block);
    expect(run.stderr).not.toContain("README tour step failed");
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/message\(s\) checked against v0\.1: (\d+) valid, 0 invalid/);
    expect(run.stderr).toMatch(/migrate v0\.1 -> v0\.2: (\d+) read, \1 written/);
    // Down a version, nothing is lost either: what is not written is dead-lettered, whole.
    const down = /migrate v0\.2 -> v0\.1: (\d+) read, (\d+) written, 0 skipped, (\d+) dead-lettered/.exec(run.stderr);
    expect(Number(down?.[3])).toBeGreaterThan(0);
    expect(Number(down?.[2]) + Number(down?.[3])).toBe(Number(down?.[1]));
    expect(readFileSync(join(run.dir, "dropped.ndjson"), "utf8").trim().split("\n")).toHaveLength(Number(down?.[3]));
    expect(existsSync(join(run.dir, "asyncapi.yaml"))).toBe(true);
    expect(existsSync(join(run.dir, "site", "index.html"))).toBe(true);
  }, 120_000);

  it("signs, verifies and grants as written: both verifications accept the signed message", async () => {
    const run = await runTour(await blockWith("keygen"));
    expect(run.stderr).not.toContain("README tour step failed");
    expect(run.status).toBe(0);
    // Each `onex verify` prints OK for the message it accepts (and exits 1 on a rejection).
    expect(run.stdout.match(/^signed\.json:1: OK /gm)).toHaveLength(2);
    expect(run.stderr.match(/1 message\(s\) judged: 1 accepted, 0 rejected/g)).toHaveLength(2);
  }, 120_000);
});
