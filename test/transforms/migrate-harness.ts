/**
 * What the migrate tests that run the built CLI share: running it with room for a few
 * megabytes of output, the example messages every version migrates, and a byte-for-byte
 * comparison of outputs of several MB. A deep `toEqual` of Buffers that size takes seconds
 * each (about 5 s a MB), which under a loaded machine pushed a test with a few of them past
 * its 30 s timeout: Buffer.equals decides, and only a difference is reported, as the first
 * line that differs.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { BIN } from "../cli/cli-harness.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

/** Runs the built onex with room for a few megabytes of output. */
export function onex(cwd: string, args: string[], input: string): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, input, encoding: "utf8", timeout: 120_000, maxBuffer: 1 << 28 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The v0.2 example messages that migrate to v0.1 (agent.stopped and the artifact messages have no v0.1 form). */
export const examples = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8")
  .trim()
  .split("\n")
  .filter((l) => !/agent\.stopped|artifact\./.test(l));

export function expectSameOutput(actual: string | Buffer, expected: string | Buffer): void {
  const a = typeof actual === "string" ? Buffer.from(actual) : actual;
  const b = typeof expected === "string" ? Buffer.from(expected) : expected;
  if (a.equals(b)) return;
  const aLines = a.toString("utf8").split("\n");
  const bLines = b.toString("utf8").split("\n");
  let i = 0;
  while (i < aLines.length && i < bLines.length && aLines[i] === bLines[i]) i++;
  expect({ line: i + 1, text: aLines[i]?.slice(0, 4_000) }).toEqual({ line: i + 1, text: bLines[i]?.slice(0, 4_000) });
  expect(a.length).toBe(b.length);
  expect(a.equals(b), "the outputs differ in bytes their text does not show").toBe(true);
}
