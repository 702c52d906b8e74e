/**
 * `onex attest` number flags are read as onex's JSON reader reads a number (docs/errors.md):
 * what is no decimal number is ONEX_E_USAGE, what a double cannot hold exactly is
 * ONEX_E_NUMBER_RANGE, and neither signs anything. Number() took 0x10 as 16, 1e-400 as 0 and
 * 9007199254740993 as ...992, and the attestation signed those instead.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes.js";
import { ErrorCode } from "../../runtime/errors.js";
import { assertNoCrash, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("attest-flags");
afterAll(remove);

beforeAll(() => {
  expect(onex(dir, ["keygen", "--out", "node"]).code).toBe(0);
  writeFileSync(join(dir, "task.json"), JSON.stringify({ task_id: "t-1", action: "render" }));
  writeFileSync(join(dir, "result.json"), JSON.stringify({ ok: true }));
});

/** `onex attest` with every number flag valid except those in `numbers`. */
function attest(numbers: Record<string, string>) {
  const values = { "trust-delta": "0.05", "execution-time": "1830", ...numbers };
  const flags = Object.entries(values).map(([flag, value]) => `--${flag}=${value}`);
  return onex(dir, ["attest", "--key", "node.key", "--node", "node-a", "--task", "task.json", "--result", "result.json", "--outcome", "succeeded", ...flags]);
}

describe("onex attest number flags", () => {
  it("signs decimal JSON numbers as given", () => {
    const run = attest({ "trust-delta": "-0.25", "execution-time": "9007199254740991", cost: "2.5e3" });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ trust_delta: -0.25, execution_time: 9007199254740991, cost: 2500 });
  });

  it("refuses, signing nothing, a number a double cannot hold (ONEX_E_NUMBER_RANGE) and what is no decimal number (ONEX_E_USAGE)", () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ "trust-delta": "1e-400" }, ErrorCode.NumberRange, /--trust-delta: .*1e-400 is too small for a double/],
      [{ "trust-delta": "1e400" }, ErrorCode.NumberRange, /--trust-delta: .*beyond the range of a double/],
      [{ "execution-time": "9007199254740993" }, ErrorCode.NumberRange, /--execution-time: .*9007199254740993 is beyond 2\^53/],
      [{ cost: "9007199254740993" }, ErrorCode.NumberRange, /--cost: .*9007199254740993 is beyond 2\^53/],
      [{ "trust-delta": "0x1" }, ErrorCode.Usage, /--trust-delta "0x1" is not a decimal number/],
      [{ "trust-delta": "0b1" }, ErrorCode.Usage, /--trust-delta "0b1" is not a decimal number/],
      [{ cost: "0x10" }, ErrorCode.Usage, /--cost "0x10" is not a decimal number/],
      [{ "execution-time": "" }, ErrorCode.Usage, /--execution-time "" is not a decimal number/],
      [{ "execution-time": " 1" }, ErrorCode.Usage, /not a decimal number/],
      [{ "trust-delta": "Infinity" }, ErrorCode.Usage, /not a decimal number/],
      [{ cost: "1_000" }, ErrorCode.Usage, /not a decimal number/],
      [{ cost: ".5" }, ErrorCode.Usage, /not a decimal number/],
    ];
    for (const [numbers, code, reason] of cases) {
      const run = attest(numbers);
      assertNoCrash(run);
      const what = JSON.stringify(numbers);
      expect(run.code, what).toBe(code === ErrorCode.Usage ? ExitCode.Usage : ExitCode.Findings);
      expect(run.stderr, what).toMatch(new RegExp(`^error ${code}: .*${reason.source}`));
      // Nothing signed: no attestation on stdout, nor the "attested" line.
      expect(run.stdout, what).toBe("");
      expect(run.stderr, what).not.toMatch(/attested|signature/);
    }
  });
});
