/** Standard output redirected to a file whose last (or only) write is cut short: ONEX_E_WRITE_FAILED, never exit 0 with part of the output. */
import { spawnSync } from "node:child_process";
import { copyFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/temp-schemas.js";
import { assertNoCrash, BIN, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("stdout-short-write");
afterAll(remove);
copyFileSync(join(PROJECT_ROOT, "docs", "examples", "v0.1.ndjson"), join(dir, "v0.1.ndjson"));

// Each prints more than the limit in one write: the write stops at the limit with no error, and only the remainder's write says why (EFBIG).
const commands = [
  ["migrate", "v0.1", "v0.2", "v0.1.ndjson"],
  ["asyncapi", "v0.2"],
  ["diff", "v0.1", "v0.2"],
];

/** Runs `onex ...args > out` in bash, under `ulimit -f` (bash counts 1024-byte blocks) when `blocks` is given. */
function redirected(args: string[], out: string, blocks?: number) {
  const limit = blocks === undefined ? "" : `ulimit -f ${blocks}; `;
  const run = spawnSync("bash", ["-c", `${limit}exec "$0" "$@" > "${out}"`, process.execPath, BIN, ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, signal: run.signal };
}

describe("standard output in a file that reaches its size limit", () => {
  for (const args of commands) {
    it(`onex ${args[0]} > file cut short by the limit is ONEX_E_WRITE_FAILED, exit 73`, () => {
      const whole = redirected(args, `${args[0]}-whole.out`);
      expect([whole.code, whole.signal]).toEqual([0, null]);
      // Larger than the limit, so the limit cuts it.
      expect(statSync(join(dir, `${args[0]}-whole.out`)).size).toBeGreaterThan(2048);

      const cut = redirected(args, `${args[0]}-cut.out`, 2);
      assertNoCrash(cut);
      expect([cut.signal, cut.code, cut.stderr]).toEqual([null, 73, "error ONEX_E_WRITE_FAILED: cannot write standard output: EFBIG\n"]);
      // The output stopped at the limit: what reached the file is all the limit let through.
      expect(statSync(join(dir, `${args[0]}-cut.out`)).size).toBe(2048);
    });
  }
});
