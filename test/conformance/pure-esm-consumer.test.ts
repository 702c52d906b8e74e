/**
 * ajv's standalone output calls `require()` even with `code.esm` (ajv#1976, #2209,
 * ajv-formats#68), which breaks pure ESM consumers. This proves the generated SDK has no
 * `require(` left and loads and validates in a fresh ES-module Node process where `require`
 * does not exist. It runs against the built package (`npm run build`, which `npm test` does).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { BUNDLED_VERSION_FOLDERS } from "../support/bundled-versions.js";

const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const VERSIONS = BUNDLED_VERSION_FOLDERS;

async function filesUnder(dir: string, suffix: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => join(e.parentPath, e.name));
}

/** Runs `source` as an ES module in a fresh Node process and returns its JSON output. */
function runModule(source: string, extraFlags: string[] = []): unknown {
  const result = spawnSync(process.execPath, [...extraFlags, "--input-type=module", "-e", source], {
    // Outside the project: the SDK must resolve its runtime through its own package, not the cwd.
    cwd: tmpdir(),
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(result.stderr, "stderr of the ES-module consumer").toBe("");
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as unknown;
}

describe("generated validators in a pure ESM consumer", () => {
  it("no generated file, source or built, calls require()", async () => {
    const sources = (await filesUnder(join(PROJECT_ROOT, "generated"), ".ts")).filter((f) => !f.includes(join("generated", "dist")));
    expect(sources.length).toBeGreaterThanOrEqual(VERSIONS.length * 5);
    const built = existsSync(join(PROJECT_ROOT, "generated", "dist")) ? await filesUnder(join(PROJECT_ROOT, "generated", "dist"), ".js") : [];
    const offenders: string[] = [];
    for (const file of [...sources, ...built]) if ((await readFile(file, "utf8")).includes("require(")) offenders.push(file);
    expect(offenders).toEqual([]);
  });

  it("dist is built (npm run build)", () => {
    expect(existsSync(join(PROJECT_ROOT, "generated", "dist", "v0.1", "index.js")), "run `npm run build` first").toBe(true);
  });

  // --disallow-code-generation-from-strings makes `new Function` throw: importing the SDK
  // and validating must not compile any schema at run time.
  it.each(VERSIONS)("@onex/sdk's built %s loads without require and validates without compiling", (version) => {
    const index = pathToFileURL(join(PROJECT_ROOT, "generated", "dist", version, "index.js")).href;
    const source = `
      const requireType = typeof require;
      const sdk = await import(${JSON.stringify(index)});
      // AgentKey exists in every version; its date-time check exercises the rewritten format import.
      const validate = sdk.validators.AgentKey;
      const good = { key_id: "k-1", algorithm: "ed25519", public_key: "A".repeat(43), created_at: "2026-01-01T00:00:00Z" };
      const ok = validate(good);
      const bad = validate({ ...good, created_at: "yesterday" });
      console.log(JSON.stringify({ requireType, ok, bad, error: validate.errors?.[0]?.keyword ?? null, classes: Object.keys(sdk.messageClasses).length }));
    `;
    const out = runModule(source, ["--disallow-code-generation-from-strings"]) as Record<string, unknown>;
    expect(out.requireType).toBe("undefined");
    expect(out.ok).toBe(true);
    expect(out.bad).toBe(false);
    expect(out.error).toBe("format");
    expect(out.classes).toBeGreaterThanOrEqual(5);
  });
});
