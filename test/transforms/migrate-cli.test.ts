/** `onex migrate` end to end (built CLI): outputs, bad-input codes with their lines, exit statuses. */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.js";
import { onex } from "./migrate-harness.js";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

const v02 = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8").trim().split("\n");
const v01 = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.1.ndjson"), "utf8").trim().split("\n");
const stateUpdate = v02.find((l) => l.includes('"signal.state.update"'))!;

afterAll(removeTempDirs);

describe("onex migrate", () => {
  it("turns the v0.2 example log into v0.1 NDJSON and back, byte-identical after canonical formatting", () => {
    const shared = v02.filter((l) => !/agent\.stopped|artifact\./.test(l)).join("\n") + "\n";
    const down = runCli(["migrate", "v0.2", "v0.1", "-"], { input: shared });
    expect(down.status).toBe(0);
    expect(down.stderr).toContain("6 read, 6 written, 0 skipped, 0 dead-lettered");
    const up = runCli(["migrate", "0.1", "0.2"], { input: down.stdout });
    expect(up.status).toBe(0);
    const canonical = (text: string) => text.trim().split("\n").map((l) => JSON.stringify(sortKeys(JSON.parse(l))));
    expect(canonical(up.stdout)).toEqual(canonical(shared));
  });

  it("each example file holds every message type of its version, and v0.1's and v0.0.9's survive a trip to v0.2 and back", async () => {
    const sdks = { "v0.0.9": await import("../../generated/v0.0.9/index.js"), "v0.1": await import("../../generated/v0.1/index.js"), "v0.2": await import("../../generated/v0.2/index.js") };
    const canonical = (text: string) => text.trim().split("\n").map((l) => JSON.stringify(sortKeys(JSON.parse(l))));
    for (const [version, sdk] of Object.entries(sdks)) {
      const lines = readFileSync(join(PROJECT_ROOT, `docs/examples/${version}.ndjson`), "utf8").trim().split("\n");
      expect([version, [...new Set(lines.map((l) => (JSON.parse(l) as { type: string }).type))].sort()]).toEqual([version, Object.keys(sdk.messageClasses).sort()]);
      if (version === "v0.2") continue;
      const up = runCli(["migrate", version, "v0.2"], { input: lines.join("\n") + "\n" });
      const back = runCli(["migrate", "v0.2", version], { input: up.stdout });
      expect([version, up.status, back.status]).toEqual([version, 0, 0]);
      expect(canonical(back.stdout)).toEqual(canonical(lines.join("\n")));
    }
  });

  it.each([
    ["not JSON", "ONEX_E_JSON_SYNTAX", "{not json"],
    ["invalid for the source version", "ONEX_E_VALIDATION", JSON.stringify({ ...JSON.parse(stateUpdate), payload: { state: "asleep" } })],
    ["an unknown type", "ONEX_E_UNKNOWN_TYPE", JSON.stringify({ ...JSON.parse(stateUpdate), type: "event.node.sneezed" })],
    ["a type with no counterpart", "ONEX_E_NO_COUNTERPART", v02.find((l) => l.includes("event.agent.stopped"))!],
  ])("stops at a line that is %s: reports line 2 and %s, exits 1", (_what, code, bad) => {
    const result = runCli(["migrate", "v0.2", "v0.1"], { input: [stateUpdate, bad, stateUpdate].join("\n") + "\n" });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^-:2: \\S+ ${code}: `, "m"));
    expect(result.stderr).toContain("2 read, 1 written, 0 skipped, 0 dead-lettered; stopped at the first bad message");
    expect(result.stdout.trim().split("\n")).toHaveLength(1);
  });

  it("--on-error skip writes the good lines, counts the skipped one and exits 1", () => {
    const result = runCli(["migrate", "v0.2", "v0.1", "--on-error", "skip"], { input: [stateUpdate, "[1,", stateUpdate].join("\n") + "\n" });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^-:2: - ONEX_E_JSON_SYNTAX: /m);
    expect(result.stderr).toContain("3 read, 2 written, 1 skipped, 0 dead-lettered");
    expect(result.stdout.trim().split("\n")).toHaveLength(2);
  });

  it("--dead-letter FILE keeps every bad line with its line, code and input, and exits 0", async () => {
    const dir = await tempDir();
    const dead = join(dir, "dead.ndjson");
    const stopped = v02.find((l) => l.includes("event.agent.stopped"))!;
    const result = runCli(["migrate", "v0.2", "v0.0.9", "--dead-letter", dead], { input: [stateUpdate, stopped, "oops"].join("\n") + "\n" });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("3 read, 1 written, 0 skipped, 2 dead-lettered");
    const letters = readFileSync(dead, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(letters).toEqual([
      expect.objectContaining({ line: 2, code: "ONEX_E_NO_COUNTERPART", input: JSON.parse(stopped) }),
      expect.objectContaining({ line: 3, code: "ONEX_E_JSON_SYNTAX", raw: "oops" }),
    ]);
  });

  it("reads and writes YAML documents", async () => {
    const dir = await tempDir();
    const file = join(dir, "log.yaml");
    await writeFile(file, `${JSON.stringify(JSON.parse(v01[0]!))}\n---\n${JSON.stringify(JSON.parse(v01[1]!))}\n`);
    const result = runCli(["migrate", "0.1", "0.2", file]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("---\n");
    expect(result.stdout).toMatch(/build:\n\s+fingerprint: sha256:/);
  });

  it("keeps a JSON array an array", () => {
    const result = runCli(["migrate", "0.1", "0.0.9"], { input: `[${v01.slice(0, 2).join(",\n")}]` });
    expect(result.status).toBe(0);
    const out = JSON.parse(result.stdout) as { protocol_version: string }[];
    expect(out.map((m) => m.protocol_version)).toEqual(["0.0.9", "0.0.9"]);
  });

  it("sends a long array on one line to its workers a slice at a time: a million numbers migrate within a 160 MB heap (sent as one job, they ran a worker out of memory within 384 MB: ONEX_E_INTERNAL)", async () => {
    const dir = await tempDir();
    const file = join(dir, "numbers.json");
    // An object first, so the array is a list of messages, each element judged alone (an array of
    // numbers alone holds no message and is one bad line); numbers after it, which the reader holds
    // without an object each: a million objects come close to the heap on their own.
    await writeFile(file, `[{},${"1,".repeat(999_999)}1]\n`);
    // The error lines go to a file: a million of them are more than a pipe read into memory should hold.
    const errors = openSync(join(dir, "errors.txt"), "w");
    const run = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "onex.js"), "migrate", "v0.2", "v0.1", file, "--on-error", "skip"], {
      stdio: ["ignore", "pipe", errors],
      encoding: "utf8",
      timeout: 120_000,
      env: { ...process.env, NODE_OPTIONS: "--max-old-space-size=160" },
    });
    closeSync(errors);
    const stderr = readFileSync(join(dir, "errors.txt"), "utf8").trimEnd().split("\n");
    expect([run.status, run.stdout, stderr.length, stderr.at(-1)]).toEqual([1, "[]\n", 1_000_002, "migrate v0.2 -> v0.1: 1000001 read, 0 written, 1000001 skipped, 0 dead-lettered"]);
    expect(stderr[1_000_000]).toBe(`${file}:1: [1000000] - ONEX_E_UNKNOWN_TYPE: message has no string "type" field (v0.2)`);
  }, 120_000);

  it("writes an array migrated in several slices as one array, in order", () => {
    const messages = Array.from({ length: 25_000 }, (_, i) => v01[i % v01.length]!);
    // Several MB of output: more than runCli reads.
    const result = onex(PROJECT_ROOT, ["migrate", "0.1", "0.0.9"], `[${messages.join(",")}]\n`);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { id: string; protocol_version: string }[];
    expect(out.map((m) => m.id)).toEqual(messages.map((m) => (JSON.parse(m) as { id: string }).id));
    expect(new Set(out.map((m) => m.protocol_version))).toEqual(new Set(["0.0.9"]));
  });

  it.each([
    [["migrate", "v9", "v0.1"], 2, "ONEX_E_UNKNOWN_VERSION"],
    [["migrate", "v0.2", "v0.1", "--on-error", "dead-letter"], 2, "ONEX_E_USAGE"],
    [["migrate", "v0.2", "v0.1", "/nonexistent/log.ndjson"], 3, "ONEX_E_FILE_NOT_FOUND"],
  ])("%j exits %i with %s", (args, status, code) => {
    const result = runCli(args as string[]);
    expect(result.status).toBe(status);
    expect(result.stderr).toContain(`error ${code}`);
  });
});

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
}
