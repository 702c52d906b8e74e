/**
 * `onex migrate` on worker threads (built CLI): an NDJSON input large enough to be handed
 * to workers in several batches gives byte for byte the output, dead letters, stderr lines,
 * summary and exit status of the same run on one thread (`--workers 0`), for every
 * `--on-error` mode, with bad lines early, in later batches and last; integers beyond 2^53
 * survive the trip through a worker exactly.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratch } from "../cli/cli-harness.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";
import { examples, expectSameOutput, onex } from "./migrate-harness.js";

const stopped = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8")
  .split("\n")
  .find((l) => l.includes("event.agent.stopped"))!;

/** `count` distinct v0.2 messages (a distinct id each, so order shows); about 0.7 KB a line, so 3,000 lines are several worker batches. */
function messages(count: number): string[] {
  return Array.from({ length: count }, (_, i) => examples[i % examples.length]!.replace(/"id":"([0-9a-f-]{24})[0-9]{12}"/, (_m, p: string) => `"id":"${p}${String(i).padStart(12, "0")}"`));
}

const { dir, remove } = scratch("migrate-workers");
afterAll(remove);

/** Runs the same migration on two workers and on one thread; returns both. */
function both(args: string[], input: string, name: string) {
  const run = (workers: number) => {
    const dead = join(dir, `${name}-${workers}.dead.ndjson`);
    const withDead = args.includes("--dead-letter") ? args.map((a) => (a === "DEAD" ? dead : a)) : args;
    const result = onex(dir, ["migrate", "v0.2", "v0.1", "-", "--workers", String(workers), ...withDead], input);
    let letters: string | undefined;
    try {
      letters = readFileSync(dead, "utf8");
    } catch {
      letters = undefined;
    }
    return { ...result, letters };
  };
  return { pooled: run(2), alone: run(0) };
}

describe("onex migrate --workers", () => {
  const lines = messages(3_000);

  it("writes every message in input order, exactly as one thread does", () => {
    const { pooled, alone } = both([], lines.join("\n") + "\n", "order");
    expect(pooled.code).toBe(0);
    expect(pooled.stderr).toContain("3000 read, 3000 written, 0 skipped, 0 dead-lettered");
    expectSameOutput(pooled.stdout, alone.stdout);
    const ids = pooled.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id.slice(-12));
    expect(ids).toEqual(lines.map((_, i) => String(i).padStart(12, "0")));
  });

  // Bad lines: the second line, lines deep in later batches (not JSON, no counterpart in v0.1, a control character, an unknown type), and the last.
  const bad = new Map<number, string>([
    [1, "{not json"],
    [1_700, stopped],
    [2_200, "\u0000oops"],
    [2_999, JSON.stringify({ ...(JSON.parse(lines[5]!) as object), type: "event.node.sneezed" })],
  ]);
  const withBad = lines.map((line, i) => bad.get(i) ?? line);
  const input = withBad.join("\n") + "\n";

  it("--dead-letter keeps every bad line with its line number and input, in order, as one thread does", () => {
    const { pooled, alone } = both(["--dead-letter", "DEAD"], input, "dead");
    expect(pooled.code).toBe(0);
    expect(pooled.stderr).toContain("3000 read, 2996 written, 0 skipped, 4 dead-lettered");
    expect(pooled.letters).toBe(alone.letters);
    const letters = pooled.letters!.trim().split("\n").map((l) => JSON.parse(l) as { line: number; code: string });
    expect(letters.map((l) => [l.line, l.code])).toEqual([
      [2, "ONEX_E_JSON_SYNTAX"],
      [1_701, "ONEX_E_NO_COUNTERPART"],
      [2_201, "ONEX_E_JSON_SYNTAX"],
      [3_000, "ONEX_E_UNKNOWN_TYPE"],
    ]);
    expectSameOutput(pooled.stdout, alone.stdout);
    expect(pooled.stderr).toBe(alone.stderr);
  });

  it("--on-error skip and fail behave as on one thread: same output, same lines reported, same exit", () => {
    for (const mode of ["skip", "fail"]) {
      const { pooled, alone } = both(["--on-error", mode], input.replace("{not json\n", `${lines[1]}\n`), mode);
      expect(pooled.code).toBe(1);
      expect(pooled.code).toBe(alone.code);
      expectSameOutput(pooled.stdout, alone.stdout);
      expect(pooled.stderr).toBe(alone.stderr);
    }
    const { pooled } = both(["--on-error", "fail"], input.replace("{not json\n", `${lines[1]}\n`), "fail-check");
    expect(pooled.stderr).toMatch(/^-:1701: event\.agent\.stopped ONEX_E_NO_COUNTERPART: /m);
    expect(pooled.stderr).toContain("1701 read, 1700 written, 0 skipped, 0 dead-lettered; stopped at the first bad message");
    expect(pooled.stdout.trim().split("\n")).toHaveLength(1_700);
  });

  it("--on-error fail writes nothing past the bad message, though batches after it were migrated already", () => {
    // Long enough that the stop comes while later batches are on the workers or done, not in the last drain.
    const many = messages(20_000);
    many[15_000] = stopped;
    const { pooled, alone } = both(["--on-error", "fail"], many.join("\n") + "\n", "fail-early");
    expect(pooled.code).toBe(1);
    expect(pooled.stderr).toContain("15001 read, 15000 written, 0 skipped, 0 dead-lettered; stopped at the first bad message");
    expect(pooled.stderr).toBe(alone.stderr);
    expect(pooled.stdout.trim().split("\n")).toHaveLength(15_000);
    expectSameOutput(pooled.stdout, alone.stdout);
  });

  it("carries integers beyond 2^53 through a worker digit for digit", () => {
    // Start from migrate's own member order, then plant the numbers as text (a number literal would round).
    const up = onex(dir, ["migrate", "v0.1", "v0.2", "-"], onex(dir, ["migrate", "v0.2", "v0.1", "-"], lines.join("\n") + "\n").stdout).stdout.trim().split("\n");
    const v01 = onex(dir, ["migrate", "v0.2", "v0.1", "-", "--workers", "2"], up.join("\n") + "\n");
    expect(v01.code).toBe(0);
    const planted = v01.stdout
      .trim()
      .split("\n")
      .map((line, i) => (line.includes('"type":"signal.task.dispatch"') && line.includes('"input":{') ? line.replace('"input":{', `"input":{"big${i}":9007199254740993,"neg${i}":-123456789012345678901234567890,`) : line));
    expect(planted.some((line) => line.includes("9007199254740993"))).toBe(true);
    const text = planted.join("\n") + "\n";
    const there = onex(dir, ["migrate", "v0.1", "v0.2", "-", "--workers", "2"], text);
    expect(there.code).toBe(0);
    const back = onex(dir, ["migrate", "v0.2", "v0.1", "-", "--workers", "2"], there.stdout);
    expect(back.code).toBe(0);
    expectSameOutput(back.stdout, text);
  });
});
