/**
 * bin/onex.js loads @oclif/core, yaml and the NATS client from the build's one-file copies
 * (dist/cli/vendor, cli/vendor-bundles.mjs) instead of their hundreds of modules: these tests
 * hold it to loading the copies, sharing them with every importer, loading one only when
 * something imports it, and falling back to the installed packages when a copy is of another
 * version; and to compiling a copy with its code cache only when the cache was made from it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { copyFile, cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const require = createRequire(join(PROJECT_ROOT, "package.json"));
const vendored = (file: string) => join(PROJECT_ROOT, "dist", "cli", "vendor", file);

// Prints, at exit, the CommonJS files the run loaded (every import of a CommonJS package lands in require.cache).
const REPORT = `data:text/javascript,${encodeURIComponent(
  `import { createRequire } from "node:module"; const r = createRequire(process.cwd() + "/"); process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(Object.keys(r.cache)) + "\\n"));`,
)}`;

function run(args: string[], cwd = PROJECT_ROOT): { status: number | null; stdout: string; stderr: string; loaded: string[] } {
  const result = spawnSync(process.execPath, ["--import", REPORT, join(PROJECT_ROOT, "bin", "onex.js"), ...args], { cwd, encoding: "utf8", timeout: 60_000 });
  const line = /^LOADED (.*)$/m.exec(result.stderr);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.replace(/^LOADED .*\n/m, ""), loaded: line ? (JSON.parse(line[1]!) as string[]) : [] };
}

/** Runs ES module `source` in a fresh node, with bin/vendored-file.js's functions in scope. */
function withVendoredFile(source: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const imports = `import { runVendoredFile, writeCodeCache } from ${JSON.stringify(pathToFileURL(join(PROJECT_ROOT, "bin", "vendored-file.js")).href)};`;
  return spawnSync(process.execPath, ["--input-type=module", "-e", `${imports}\n${source}`, ...args], { encoding: "utf8", timeout: 60_000 });
}

const under = (loaded: string[], folder: string) => loaded.filter((file) => file.includes(`/node_modules/${folder}/`) && !file.endsWith("package.json"));

describe("vendored packages", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "onex-vendored-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("oclif runs from its one-file copy, and yaml is not loaded by a run that reads no YAML", () => {
    const { status, stdout, loaded } = run(["--version"]);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^onex\/\d/);
    expect(loaded).toContain(vendored("oclif-core.cjs"));
    // Only the package's entry file, under which the copy is registered: none of its modules.
    expect(under(loaded, "@oclif/core")).toEqual([require.resolve("@oclif/core")]);
    // (The packages' entry files are listed: the copies wait under them until something imports them.)
    expect(loaded).not.toContain(vendored("yaml.cjs"));
    expect(loaded).not.toContain(vendored("nats.cjs"));
  });

  it("a command importing @oclif/core and yaml shares the copies; YAML is read with its lines", async () => {
    const file = join(dir, "twice.yaml");
    await writeFile(file, "a: 1\na: 2\n");
    const { status, stdout, loaded } = run(["validate", "v0.1", file]);
    expect(status).toBe(1);
    expect(stdout).toContain("twice.yaml:2:");
    expect(stdout).toContain("ONEX_E_JSON_DUPLICATE_KEY");
    expect(loaded).toContain(vendored("yaml.cjs"));
    expect(under(loaded, "yaml")).toEqual([require.resolve("yaml")]);
    expect(under(loaded, "@oclif/core")).toEqual([require.resolve("@oclif/core")]);
  });

  it("a command on the generated SDK reading JSON loads no YAML: the SDK's currency is checked from the files the manifests mention", async () => {
    const file = join(dir, "message.json");
    await writeFile(file, '{"type": "no.such.type"}\n');
    const { status, stdout, loaded } = run(["validate", "v0.1", file]);
    expect(status).toBe(1);
    expect(stdout).toContain("ONEX_E_UNKNOWN_TYPE");
    expect(loaded).not.toContain(vendored("yaml.cjs"));
  });

  it("a command speaking NATS loads the NATS client's copy, one for all its entry points", () => {
    // Nothing listens on port 9: the command fails to connect, after importing the client.
    const { status, stderr, loaded } = run(["streams", "apply", "--server", "nats://127.0.0.1:9"]);
    expect(stderr).toContain("ONEX_E_");
    expect(status).not.toBe(0);
    expect(loaded).toContain(vendored("nats.cjs"));
    // Of node_modules/@nats-io, only entry modules are listed, and the modules they re-export,
    // whose source Node's import reads for export names (never running them): not the client.
    expect(loaded.filter((file) => file.includes("jetstream/lib/jsclient") || file.includes("nats-core/lib/protocol"))).toEqual([]);
  });

  it("every copy runs compiled from the code cache the build made of it", () => {
    const files = ["oclif-core.cjs", "yaml.cjs", "nats.cjs"].map(vendored);
    const result = withVendoredFile(`for (const file of process.argv.slice(1)) console.log(runVendoredFile(file).script.cachedDataRejected);`, ...files);
    expect(result.stderr).toBe("");
    // false: V8 took the cache (true would be a cache it refused, undefined none given).
    expect(result.stdout.trim().split("\n")).toEqual(["false", "false", "false"]);
  });

  it("a code cache is used only for the source it was made from, though V8 checks only the source's length", async () => {
    const file = join(dir, "same-length.cjs");
    await writeFile(file, 'module.exports = "alpha";\n');
    expect(withVendoredFile(`writeCodeCache(runVendoredFile(process.argv[1]));`, file).status).toBe(0);
    // The same length, other code: V8 itself would accept the cache and run "alpha".
    await writeFile(file, 'module.exports = "omega";\n');
    const result = withVendoredFile(`const { module, script } = runVendoredFile(process.argv[1]); console.log(module.exports, script.cachedDataRejected);`, file);
    expect(result.stdout.trim()).toBe("omega undefined");
  });

  it("a code cache cut short is refused and the copy compiles from its source", async () => {
    const file = join(dir, "cut-short.cjs");
    await writeFile(file, 'module.exports = (a) => a + 1;\n');
    expect(withVendoredFile(`writeCodeCache(runVendoredFile(process.argv[1]));`, file).status).toBe(0);
    const cache = readFileSync(`${file}.cache`);
    await writeFile(`${file}.cache`, cache.subarray(0, 32 + Math.floor((cache.length - 32) / 2)));
    const result = withVendoredFile(`const { module, script } = runVendoredFile(process.argv[1]); console.log(module.exports(41), script.cachedDataRejected);`, file);
    expect(result.stdout.trim()).toBe("42 true");
  });

  it("the build gives the copies __onexImport for import(), and refuses a copy that calls import() otherwise", () => {
    const rewrite = (code: string) =>
      spawnSync(process.execPath, ["--input-type=module", "-e", `import { withoutImportCalls } from ${JSON.stringify(pathToFileURL(join(PROJECT_ROOT, "cli", "vendor-bundles.mjs")).href)}; try { console.log(withoutImportCalls("copy.cjs", process.argv[1])); } catch (error) { console.log("refused:", error.message); }`, code], { encoding: "utf8", timeout: 60_000 }).stdout.trim();
    expect(rewrite('const m = await import(url); const s = "import() failed";')).toBe('const m = await __onexImport(url); const s = "import() failed";');
    expect(rewrite("const pending = import(url);")).toMatch(/^refused: copy\.cjs calls import\(\)/);
    for (const file of ["oclif-core.cjs", "yaml.cjs", "nats.cjs"]) expect(readFileSync(vendored(file), "utf8")).not.toMatch(/await import\(/);
  });

  it("a copy that is missing, empty or cut short is not used: the package's own modules load", async () => {
    // An onex package tree whose vendored.json names the installed versions, beside broken copies.
    const tree = join(dir, "broken");
    const vendor = join(tree, "dist", "cli", "vendor");
    await mkdir(join(tree, "bin"), { recursive: true });
    await mkdir(vendor, { recursive: true });
    await symlink(join(PROJECT_ROOT, "node_modules"), join(tree, "node_modules"));
    await symlink(join(PROJECT_ROOT, "dist", "cli", "commands"), join(tree, "dist", "cli", "commands"));
    for (const file of ["package.json", "oclif.manifest.json", join("bin", "onex.js"), join("bin", "installed-version.js"), join("bin", "vendored-file.js")]) await copyFile(join(PROJECT_ROOT, file), join(tree, file));
    await copyFile(vendored("vendored.json"), join(vendor, "vendored.json"));
    await writeFile(join(vendor, "oclif-core.cjs"), "");
    await writeFile(join(vendor, "yaml.cjs"), readFileSync(vendored("yaml.cjs"), "utf8").slice(0, 5_000));
    // nats.cjs is missing.
    const yamlFile = join(dir, "twice-again.yaml");
    await writeFile(yamlFile, "a: 1\na: 2\n");
    for (const [args, status, output] of [
      [["--version"], 0, /^onex\/\d/],
      [["validate", "v0.1", yamlFile], 1, /twice-again\.yaml:2:.*ONEX_E_JSON_DUPLICATE_KEY/],
      [["streams", "apply", "--server", "nats://127.0.0.1:9"], 1, /ONEX_E_/],
    ] as const) {
      const result = spawnSync(process.execPath, ["--import", REPORT, join(tree, "bin", "onex.js"), ...args], { cwd: tree, encoding: "utf8", timeout: 60_000 });
      expect(`${result.stdout}${result.stderr}`).toMatch(output);
      if (args[0] !== "streams") expect(result.status).toBe(status);
      else expect(result.status).not.toBe(0);
      expect(result.stderr).not.toMatch(/SyntaxError|TypeError|Cannot find module/);
    }
    const loaded = JSON.parse(/^LOADED (.*)$/m.exec(spawnSync(process.execPath, ["--import", REPORT, join(tree, "bin", "onex.js"), "validate", "v0.1", yamlFile], { cwd: tree, encoding: "utf8", timeout: 60_000 }).stderr)![1]!) as string[];
    expect(under(loaded, "@oclif/core").length).toBeGreaterThan(50);
    expect(under(loaded, "yaml").length).toBeGreaterThan(10);
  });

  it("in a node_modules of symbolic links (as pnpm lays one out), YAML read from a pipe, a FIFO or a file reads as from the project's own install", async () => {
    // The built package as installed there: its files real, each package it needs a link.
    const tree = join(dir, "linked");
    await cp(join(PROJECT_ROOT, "dist"), join(tree, "dist"), { recursive: true });
    await cp(join(PROJECT_ROOT, "bin"), join(tree, "bin"), { recursive: true });
    for (const file of ["package.json", "oclif.manifest.json"]) await copyFile(join(PROJECT_ROOT, file), join(tree, file));
    await mkdir(join(tree, "node_modules", "@onex"), { recursive: true });
    for (const entry of await readdir(join(PROJECT_ROOT, "node_modules"))) if (entry !== "@onex") await symlink(join(PROJECT_ROOT, "node_modules", entry), join(tree, "node_modules", entry));
    await symlink(join(PROJECT_ROOT, "runtime"), join(tree, "node_modules", "@onex", "runtime"));
    await symlink(join(PROJECT_ROOT, "generated"), join(tree, "node_modules", "@onex", "sdk"));
    const identities = "- { user: n, password: p, zone: zone.a }\n";
    await writeFile(join(dir, "identities.yaml"), identities, { mode: 0o600 });
    const fromFile = spawnSync(process.execPath, [join(tree, "bin", "onex.js"), "nats-auth", join(dir, "identities.yaml")], { cwd: tree, encoding: "utf8", timeout: 60_000 });
    // stdin a pipe: the case a stale stat of it once sent the yaml import to its link's path, and the copy loaded empty.
    const fromPipe = spawnSync(process.execPath, [join(tree, "bin", "onex.js"), "nats-auth", "-"], { cwd: tree, input: identities, encoding: "utf8", timeout: 60_000 });
    // A named FIFO, whose writer is a shell.
    const fifo = join(dir, "identities.fifo");
    execFileSync("mkfifo", [fifo]);
    const fromFifo = spawnSync("sh", ["-c", `printf '%s' "$3" > "$2" & "$0" "$1" nats-auth "$2"`, process.execPath, join(tree, "bin", "onex.js"), fifo, identities], { cwd: tree, encoding: "utf8", timeout: 60_000 });
    expect([fromFile.status, fromFile.stderr]).toEqual([0, ""]);
    for (const run of [fromPipe, fromFifo]) {
      expect([run.status, run.stderr]).toEqual([0, ""]);
      expect(run.stdout).toBe(fromFile.stdout);
    }
  });

  it("a copy of another version than the installed one is not used: the package's own modules load", async () => {
    // An onex package tree whose dist/cli/vendor holds copies of versions not installed.
    const tree = join(dir, "package");
    await mkdir(join(tree, "bin"), { recursive: true });
    await mkdir(join(tree, "dist", "cli", "vendor"), { recursive: true });
    await symlink(join(PROJECT_ROOT, "node_modules"), join(tree, "node_modules"));
    for (const file of ["package.json", "oclif.manifest.json", join("bin", "onex.js"), join("bin", "installed-version.js"), join("bin", "vendored-file.js")]) await copyFile(join(PROJECT_ROOT, file), join(tree, file));
    await writeFile(join(tree, "dist", "cli", "vendor", "vendored.json"), JSON.stringify({ "oclif-core.cjs": { "@oclif/core": "0.0.1" }, "yaml.cjs": { yaml: "0.0.1" } }));
    for (const stale of ["oclif-core.cjs", "yaml.cjs"]) await writeFile(join(tree, "dist", "cli", "vendor", stale), 'throw new Error("a stale copy was loaded");\n');
    const result = spawnSync(process.execPath, ["--import", REPORT, join(tree, "bin", "onex.js"), "--version"], { cwd: tree, encoding: "utf8", timeout: 60_000 });
    expect(result.stderr).not.toContain("stale");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^onex\/\d/);
    const loaded = JSON.parse(/^LOADED (.*)$/m.exec(result.stderr)![1]!) as string[];
    expect(under(loaded, "@oclif/core").length).toBeGreaterThan(50);
  });
});
