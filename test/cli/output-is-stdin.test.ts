/**
 * An output file that is the input read through stdin (`onex migrate ... - --out log --force < log`):
 * refused as the same file named is, before a byte is written, with the input left as it was.
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exitCodeFor } from "../../cli/exit-codes.js";
import { ErrorCode } from "../trust/fixtures.js";
import { assertNoCrash, BIN, dispatch, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("output-is-stdin");
afterAll(remove);

/** Runs `onex ...args` with stdin redirected from the file `input`, as `< input` does. */
function withStdinFrom(input: string, args: string[]) {
  const fd = openSync(join(dir, input), "r");
  try {
    const run = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, stdio: [fd, "pipe", "pipe"], encoding: "utf8", timeout: 120_000 });
    return { code: run.status, stdout: run.stdout, stderr: run.stderr };
  } finally {
    closeSync(fd);
  }
}

describe("an output that is the file stdin reads", () => {
  // One message with a member named twice, which --on-error skip leaves out of the output.
  const log = [JSON.stringify(dispatch(1)).replace('"priority":5', '"priority":5,"priority":6'), JSON.stringify(dispatch(2))].join("\n") + "\n";
  const cases: Record<string, { input: string; content: string; args: string[]; says: string }> = {
    "migrate --out": { input: "log.ndjson", content: log, args: ["migrate", "v0.1", "v0.2", "-", "--out", "log.ndjson", "--force", "--on-error", "skip"], says: "--out names the input file (stdin)" },
    "migrate --dead-letter": { input: "log.ndjson", content: log, args: ["migrate", "v0.1", "v0.2", "-", "--dead-letter", "log.ndjson", "--force"], says: "--dead-letter names the input file (stdin)" },
    "nats-auth --out": { input: "ids.yaml", content: "- { user: admin-a, password: p, zone: zone.a, role: admin }\n", args: ["nats-auth", "-", "--out", "ids.yaml", "--force"], says: "--out names the identities file (stdin)" },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: ONEX_E_USAGE, and the input is kept`, () => {
      writeFileSync(join(dir, c.input), c.content);
      const run = withStdinFrom(c.input, c.args);
      assertNoCrash(run);
      expect(run.code, run.stderr).toBe(exitCodeFor(ErrorCode.Usage));
      expect(run.stderr).toContain(`error ${ErrorCode.Usage}: ${c.says}`);
      expect(readFileSync(join(dir, c.input), "utf8")).toBe(c.content);
      expect(readdirSync(dir).filter((file) => file.endsWith(".tmp"))).toEqual([]);
    });
  }

  it("another file as --out is written as before", () => {
    writeFileSync(join(dir, "log.ndjson"), log);
    const run = withStdinFrom("log.ndjson", ["migrate", "v0.1", "v0.2", "-", "--out", "other.ndjson", "--on-error", "skip"]);
    assertNoCrash(run);
    expect(run.code, run.stderr).toBe(1);
    expect(readFileSync(join(dir, "other.ndjson"), "utf8").trimEnd().split("\n")).toHaveLength(1);
  });
});
