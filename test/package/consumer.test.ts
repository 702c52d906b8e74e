// Packs the workspace packages as npm would publish them and installs them the way users
// do: a service installs the generated SDK alone; a platform team installs the toolchain.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { cp, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import { build } from "esbuild";
import puppeteer from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { identityRSignature } from "../trust/ed25519-points.js";
import { DRAINED_TYPE, writeGrownV03 } from "../support/grown-v03.js";

const CONSUMER = `
import { OnexError, isOnexError } from "@onex/runtime";
import * as v0_0_9 from "@onex/sdk/v0.0.9";
import * as v0_1 from "@onex/sdk/v0.1";
import * as v0_2 from "@onex/sdk/v0.2";

const source = { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" } as const;
const expires_at = "2030-01-01T00:00:00Z";

const a = v0_1.NodeFailed.create({
  source,
  trust: { signer: "k1", level: "verified", zone: "zone.trusted.org", expires_at },
  payload: { node_id: "n-1", reason: "disk full", severity: "fatal" },
});
const b = v0_2.AgentStopped.create({
  source,
  trust: { signer: "k1", level: "trusted", zone: "zone.trusted.org", expires_at },
  payload: { agent_id: "a-1", node_id: "n-1", exit_code: 0 },
});
const c = v0_0_9.AgentStarted.create({
  zone: "zone.trusted.org", entity_type: "agent", entity_id: "a-1",
  trust: { signer: "k1", level: "high", zone: "zone.trusted.org", expires_at },
  payload: { agent_id: "a-1", node_id: "n-1", capability: "gpu" },
});

const back: v0_1.NodeFailed = v0_1.NodeFailed.parse(a.encode());
const severity: "warning" | "error" | "fatal" = back.payload.severity;
const any: v0_2.AnyMessage = v0_2.parseMessage(b.encode());
const parts: v0_1.EventSubjectParts = v0_1.parseEventSubject(a.subject());

// Never called: these lines only have to (fail to) compile.
export function compileTimeChecks(): void {
  // @ts-expect-error a field the schema does not have is a compile error
  v0_1.StateUpdate.create({ source, trust: { signer: "k", level: "basic", zone: "z", expires_at }, payload: { state: "idle", mood: "happy" } });
  // @ts-expect-error an enum value of another version is a compile error
  v0_1.StateUpdate.create({ source, trust: { signer: "k", level: "basic", zone: "z", expires_at }, payload: { state: "running" } });
  // @ts-expect-error v0.0.9 has no \`source\` object
  v0_0_9.StateUpdate.create({ source, trust: { signer: "k", level: "low", zone: "z", expires_at }, payload: { state: "idle" } });
}

let code = "none";
try {
  v0_1.StateUpdate.parse("{}");
} catch (error) {
  if (isOnexError(error)) code = error.code;
}
console.log(JSON.stringify({
  a: a.type, b: any.type, c: c.protocol_version, severity, zone: parts.zone_id, code, className: back.constructor.name,
  requireDefined: typeof (globalThis as { require?: unknown }).require !== "undefined", isError: new OnexError("ONEX_E_USAGE", "x") instanceof Error,
}));
`;

/** A page's script: docs/sdk.md's browser path, the SDK without the runtime's core. */
const BROWSER_CONSUMER = `
import * as v0_2 from "@onex/sdk/v0.2";
import { migrate } from "@onex/sdk/transforms";
const msg = v0_2.TaskDispatch.create({
  source: { zone: "zone.trusted.org", entity_type: "task", entity_id: "t-1" },
  trust: { signer: "k1", level: "verified", zone: "zone.trusted.org", expires_at: "2030-01-01T00:00:00Z" },
  payload: { task_id: "t-1", targets: ["n-1"], operation: "render", priority: 5 },
});
const back = v0_2.TaskDispatch.parse(msg.encode());
let refused = "none";
try {
  v0_2.TaskDispatch.parse("{}");
} catch (error) {
  refused = error.code;
}
const down = migrate(back.toJSON(), "0.2", "0.0.9");
window.RESULT = { type: back.type, subject: back.subject(), is: v0_2.TaskDispatch.is(back.toJSON()), refused, className: back.constructor.name, down: [down.type, down.protocol_version] };
`;

/** The chromium to drive: $CHROMIUM_PATH, else Debian's. Missing is a failure, never a skip. */
function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`chromium not found (looked at ${candidates.join(", ")}); npm test installs Debian's chromium (test/setup/run-tests.sh), or set CHROMIUM_PATH`);
  return found;
}

/** Whether this Node runs require() of an ES module without a flag (from 20.19 and 22.12). */
const REQUIRE_ESM_UNFLAGGED = (() => {
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  return major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
})();

const TSC = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");
const STRICT_NODENEXT = { strict: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", outDir: "out", skipLibCheck: true };
/** The options a strict service compiles with: the SDK's declarations are checked too (docs/sdk.md, Module format). */
const STRICT_SERVICE = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  skipLibCheck: false,
  declaration: true,
  target: "ES2022",
  // The service has @types/node, as docs/sdk.md says it needs: the project's copy stands in.
  typeRoots: [join(PROJECT_ROOT, "node_modules", "@types")],
  types: ["node"],
};

let tarballs: { runtime: string; sdk: string; toolchain: string };
let service: string;
let toolchain: string;

/**
 * A fresh npm project that installs `tarball`; the workspace packages it depends on are not
 * published, so `overrides` points npm at their tarballs.
 */
async function installInto(prefix: string, tarball: string, overrides: Record<string, string>): Promise<string> {
  const dir = await tempDir(prefix);
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", overrides }));
  execFileSync("npm", ["install", tarball, "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts"], { cwd: dir, stdio: "pipe" });
  await mkdir(join(dir, "src"));
  await writeFile(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: STRICT_NODENEXT, include: ["src"] }));
  return dir;
}

/** The packages npm installed into `dir`, by name. */
async function installedPackages(dir: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(dir, "node_modules", ".package-lock.json"), "utf8")) as { packages: Record<string, unknown> };
  return Object.keys(lock.packages).map((path) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length));
}

/** Runs `source` as an ES module in `dir` and lists every installed file it loaded (paths under node_modules). */
async function modulesLoadedBy(dir: string, source: string): Promise<string[]> {
  const log = join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
  await writeFile(
    join(dir, "log-hooks.mjs"),
    `import { appendFileSync } from "node:fs";\nexport async function resolve(specifier, context, next) {\n  const result = await next(specifier, context);\n  if (result.url.startsWith("file:")) appendFileSync(process.env.LOAD_LOG, result.url + "\\n");\n  return result;\n}\n`,
  );
  await writeFile(join(dir, "log-loads.mjs"), `import { register } from "node:module";\nregister("./log-hooks.mjs", import.meta.url);\n`);
  const result = spawnSync(process.execPath, ["--import", "./log-loads.mjs", "--input-type=module", "-e", source], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, LOAD_LOG: log },
  });
  expect(result.stderr).toBe("");
  const loaded = (await readFile(log, "utf8")).trim().split("\n").filter((url) => url.includes("/node_modules/"));
  return [...new Set(loaded.map((url) => url.slice(url.lastIndexOf("node_modules/") + "node_modules/".length)))];
}

/**
 * The runtime sources (paths under runtime/, or node_modules/ for inlined packages) bundled
 * into the runtime files of `loaded`, from the map the build writes beside the bundle.
 */
async function runtimeSourcesOf(loaded: string[]): Promise<string[]> {
  const map = JSON.parse(await readFile(join(PROJECT_ROOT, "runtime", "dist", "bundle-sources.json"), "utf8")) as Record<string, string[]>;
  const files = loaded.filter((path) => path.startsWith("@onex/runtime/dist/")).map((path) => path.slice("@onex/runtime/dist/".length));
  for (const file of files) expect(map, `${file} is not in runtime/dist/bundle-sources.json`).toHaveProperty([file]);
  return [...new Set(files.flatMap((file) => map[file]!))].map((source) => source.replace(/^(\.\.\/)+/, ""));
}

/** The package a path under node_modules belongs to. */
const packageOf = (path: string) => path.split("/").slice(0, path.startsWith("@") ? 2 : 1).join("/");

beforeAll(async () => {
  const packDir = await tempDir("onex-pack-");
  // The builds are already there (the test command builds); skip prepare so packing stays fast.
  execFileSync("npm", ["pack", "--ignore-scripts", "--workspaces", "--include-workspace-root", "--pack-destination", packDir], { cwd: PROJECT_ROOT, stdio: "pipe" });
  const tarball = (name: string) => join(packDir, readdirSync(packDir).find((f) => f.startsWith(`${name}-0`) && f.endsWith(".tgz"))!);
  tarballs = { runtime: tarball("onex-runtime"), sdk: tarball("onex-sdk"), toolchain: tarball("onex") };

  service = await installInto("onex-service-", tarballs.sdk, { "@onex/runtime": `file:${tarballs.runtime}` });
  await writeFile(join(service, "src", "main.ts"), CONSUMER);

  toolchain = await installInto("onex-toolchain-", tarballs.toolchain, { "@onex/runtime": `file:${tarballs.runtime}`, "@onex/sdk": `file:${tarballs.sdk}` });
  // The TypeScript examples of the README and docs compile against the packages as shipped.
  for (const doc of ["README.md", ...readdirSync(join(PROJECT_ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]) {
    const text = await readFile(join(PROJECT_ROOT, doc), "utf8");
    const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    for (const [i, block] of blocks.entries()) {
      await writeFile(join(toolchain, "src", `${doc.replace(/\W/g, "-")}-${i}.ts`), `${block}\nexport {};\n`);
    }
  }
}, 300_000);

afterAll(removeTempDirs);

describe("a service that installs only the generated SDK", () => {
  it("installs two packages, the SDK and the runtime: no ajv, no transport, no toolchain", async () => {
    expect((await installedPackages(service)).sort()).toEqual(["@onex/runtime", "@onex/sdk"]);
  });

  it("ships each package's licence and built files only, no tests, sources, build info or source maps, at one version with one engines range", async () => {
    for (const tarball of [tarballs.runtime, tarballs.sdk]) {
      const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").map((path) => path.replace(/^package\//, ""));
      expect(files).toContain("LICENSE");
      expect(files.filter((path) => /\.(tsbuildinfo|map)$|(^|\/)test\/|\.test\.|(?<!\.d)\.ts$/.test(path)), tarball).toEqual([]);
    }
    const manifest = async (name: string) => JSON.parse(await readFile(join(service, "node_modules", "@onex", name, "package.json"), "utf8")) as { version: string; engines: unknown; dependencies?: Record<string, string>; scripts?: unknown };
    const [runtime, sdk] = [await manifest("runtime"), await manifest("sdk")];
    expect(sdk.dependencies).toEqual({ "@onex/runtime": runtime.version });
    expect(sdk.version).toBe(runtime.version);
    expect(sdk.engines).toEqual(runtime.engines);
    // Nothing runs at install.
    expect([runtime.scripts, sdk.scripts]).toEqual([undefined, undefined]);
    // No shipped script names a source map that is not there.
    const scripts = [["runtime", await readdir(join(service, "node_modules", "@onex", "runtime", "dist"), { recursive: true })], ["sdk", await readdir(join(service, "node_modules", "@onex", "sdk", "dist"), { recursive: true })]] as const;
    for (const [name, paths] of scripts) {
      for (const path of paths.map(String).filter((p) => p.endsWith(".js"))) {
        expect(await readFile(join(service, "node_modules", "@onex", name, "dist", path), "utf8"), path).not.toMatch(/^\/\/# sourceMappingURL=/m);
      }
    }
  });

  it("ships, of the SDK's JavaScript, only the bundled entry points, their chunks and the transforms' headers the CLI reads", async () => {
    const dist = join(service, "node_modules", "@onex", "sdk", "dist");
    const scripts = (await readdir(dist, { recursive: true })).map(String).filter((path) => path.endsWith(".js"));
    expect(scripts.filter((path) => !/^(versions\.js|v[^/]+\/index\.js|transforms\/(index|v[^/]+-v[^/]+)\.js|chunks\/chunk-[\w-]+\.js)$/.test(path.split(sep).join("/")))).toEqual([]);
    expect(scripts).toContain(join("v0.2", "index.js"));
  });

  it("compiles under tsc --strict with NodeNext resolution, wrong fields rejected at compile time", () => {
    const result = spawnSync(process.execPath, [TSC, "-p", service], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  }, 120_000);

  it("runs as pure ESM: creates, encodes, parses and builds subjects of every version", () => {
    const result = spawnSync(process.execPath, [join(service, "out", "main.js")], { cwd: service, encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({
      a: "event.node.failed",
      b: "event.agent.stopped",
      c: "0.0.9",
      severity: "fatal",
      zone: "zone.trusted.org",
      code: "ONEX_E_VALIDATION",
      className: "NodeFailed",
      requireDefined: false,
      isError: true,
    });
  });

  it("compiles the SDK samples of docs/sdk.md and the README under every strict option, with node16, nodenext and bundler resolution", async () => {
    const project = join(service, "strict-project");
    await mkdir(join(project, "src"), { recursive: true });
    await writeFile(join(project, "package.json"), JSON.stringify({ private: true, type: "module" }));
    // The README's tour samples that import the SDK alone (the control plane's needs nats.js).
    for (const doc of ["README.md", "docs/sdk.md"]) {
      const blocks = [...(await readFile(join(PROJECT_ROOT, doc), "utf8")).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
      for (const [i, block] of blocks.filter((b) => !b.includes("@onex/runtime/")).entries()) {
        await writeFile(join(project, "src", `${doc.replace(/\W/g, "-")}-${i}.ts`), `${block}\nexport {};\n`);
      }
    }
    await writeFile(join(project, "src", "main.ts"), CONSUMER);
    for (const [module, moduleResolution] of [["Node16", "Node16"], ["NodeNext", "NodeNext"], ["ESNext", "Bundler"]] as const) {
      const compilerOptions = { ...STRICT_SERVICE, module, moduleResolution, outDir: `out-${moduleResolution}` };
      await writeFile(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["src"] }));
      const result = spawnSync(process.execPath, [TSC, "-p", project], { encoding: "utf8" });
      expect(result.stdout + result.stderr, moduleResolution).toBe("");
    }
  }, 180_000);

  it("bundled with esbuild for Node, as CommonJS (its default) or ES module, runs as it does unbundled", async () => {
    for (const format of ["cjs", "esm"] as const) {
      const outfile = join(service, `bundle-${format}.${format === "cjs" ? "cjs" : "mjs"}`);
      const built = await build({ entryPoints: [join(service, "src", "main.ts")], outfile, bundle: true, platform: "node", format, logLevel: "silent" });
      expect(built.errors).toEqual([]);
      const result = spawnSync(process.execPath, [outfile], { cwd: service, encoding: "utf8" });
      expect(result.stderr).toBe("");
      expect(JSON.parse(result.stdout), format).toMatchObject({ a: "event.node.failed", b: "event.agent.stopped", c: "0.0.9", code: "ONEX_E_VALIDATION", className: "NodeFailed" });
    }
    // One version's entry point bundles that version, not the others (docs/sdk.md).
    const one = await build({ stdin: { contents: `import { TaskDispatch } from "@onex/sdk/v0.1";\nconsole.log(TaskDispatch.type);\n`, resolveDir: service }, bundle: true, platform: "node", write: false, logLevel: "silent" });
    const text = one.outputFiles[0]!.text;
    expect(text).toContain("https://onex.dev/schemas/v0.1/");
    expect(text).not.toMatch(/https:\/\/onex\.dev\/schemas\/v0\.(0\.9|2)\//);
  });

  it("bundled with the registry's entry point and the store clients it does not install left out (--external), starts in either format and names the client a URL needs", async () => {
    const source = join(service, "src", "registry-main.mjs");
    const main = `import { openRegistry } from "@onex/runtime/registry";
(async () => {
  for (const url of ["etcd://127.0.0.1:1", "consul://127.0.0.1:1"]) {
    try { await openRegistry(url); } catch (error) { console.log(JSON.stringify({ code: error.code, missing: error.details?.missing, install: error.message.split(": npm install ")[1] })); }
  }
})();
`;
    await writeFile(source, main);
    // Run where the NATS client is installed and neither etcd3 nor consul is: an ES module bundle
    // loads the NATS packages as it starts (docs/sdk.md), the other two only when a URL names them.
    const beside = await tempDir("onex-registry-bundle-");
    await mkdir(join(beside, "node_modules"));
    await symlink(join(PROJECT_ROOT, "node_modules", "@nats-io"), join(beside, "node_modules", "@nats-io"));
    for (const format of ["cjs", "esm"] as const) {
      const outfile = join(beside, `registry-${format}.${format === "cjs" ? "cjs" : "mjs"}`);
      const built = await build({ entryPoints: [source], outfile, bundle: true, platform: "node", format, external: ["etcd3", "consul", "@nats-io/*"], logLevel: "silent" });
      expect(built.errors).toEqual([]);
      const result = spawnSync(process.execPath, [outfile], { cwd: beside, encoding: "utf8" });
      expect(result.stderr, format).toBe("");
      // The install it advises asks for the runtime's own ranges of the packages.
      const { peerDependencies: peers } = JSON.parse(await readFile(join(PROJECT_ROOT, "runtime", "package.json"), "utf8")) as { peerDependencies: Record<string, string> };
      expect(result.stdout.trim().split("\n").map((line) => JSON.parse(line)), format).toEqual([
        { code: "ONEX_E_REGISTRY_URL", missing: "etcd3", install: `etcd3@${peers.etcd3}` },
        { code: "ONEX_E_REGISTRY_URL", missing: "consul", install: `consul@${peers.consul}` },
      ]);
    }
  });

  it("refuses a deep import of a file neither package exports as Node refuses any unexported path, and still loads what they export", async () => {
    const chunk = (await readdir(join(service, "node_modules", "@onex", "sdk", "dist", "chunks")))[0]!;
    const unexported = [
      "@onex/sdk/v0.2/index.js",
      "@onex/sdk/dist/v0.2/index.js",
      "@onex/sdk/versions.js",
      "@onex/sdk/transforms/v0.1-v0.2",
      "@onex/sdk/transforms/v0.1-v0.2.js",
      `@onex/sdk/chunks/${chunk}`,
      `@onex/sdk/chunks/${chunk.replace(/\.js$/, "")}`,
      "@onex/runtime/dist/index.js",
      "@onex/runtime/codegen-core",
    ];
    const script = `const out = {};
for (const specifier of ${JSON.stringify(unexported)}) out[specifier] = await import(specifier).then(() => "loaded", (error) => error.code);
out.index = (await import("@onex/sdk/v0.2/index.json", { with: { type: "json" } })).default.version;
out.sdk = typeof (await import("@onex/sdk/v0.2")).TaskDispatch;
console.log(JSON.stringify(out));`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: service, encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ ...Object.fromEntries(unexported.map((specifier) => [specifier, "ERR_PACKAGE_PATH_NOT_EXPORTED"])), index: "0.2", sdk: "function" });
  });

  it("in a browser: a version's entry point bundles without Node's modules and runs in Chromium; the runtime's core needs node:crypto, as docs/sdk.md says", async () => {
    const page = join(service, "browser-page");
    await mkdir(page);
    await writeFile(join(page, "main.mjs"), BROWSER_CONSUMER);
    const built = await build({ entryPoints: [join(page, "main.mjs")], bundle: true, platform: "browser", format: "esm", write: false, metafile: true, logLevel: "silent" });
    expect(Object.keys(built.metafile.inputs).filter((input) => !input.includes("node_modules/@onex/") && !input.endsWith("main.mjs"))).toEqual([]);
    // Inline: Chromium loads no module script from file://.
    const script = built.outputFiles[0]!.text.replace(/<\/script/gi, "<\\/script");
    await writeFile(join(page, "index.html"), `<!doctype html>\n<meta charset="utf-8">\n<script type="module">${script}</script>\n`);
    const browser = await puppeteer.launch({
      executablePath: chromiumPath(),
      headless: true,
      // --no-sandbox: CI runs the tests as root, where chromium's sandbox refuses to start.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"],
    });
    try {
      const tab = await browser.newPage();
      const errors: string[] = [];
      tab.on("pageerror", (error) => errors.push(String(error)));
      tab.on("console", (message) => errors.push(message.text()));
      // An inline module script runs before the load event.
      await tab.goto(pathToFileURL(join(page, "index.html")).href, { waitUntil: "load" });
      expect(errors).toEqual([]);
      expect(await tab.evaluate("window.RESULT")).toEqual({
        type: "signal.task.dispatch",
        subject: "jetstream.onex.zone.zone~2Etrusted~2Eorg.task.t-1.events",
        is: true,
        refused: "ONEX_E_VALIDATION",
        className: "TaskDispatch",
        down: ["signal.task.dispatch", "0.0.9"],
      });
    } finally {
      await browser.close();
    }
    const runtime = await build({ stdin: { contents: `import { isOnexError } from "@onex/runtime";\nconsole.log(isOnexError);\n`, resolveDir: service }, bundle: true, platform: "browser", write: false, logLevel: "silent" }).then(
      () => [],
      (error: { errors: { text: string }[] }) => error.errors.map((e) => e.text),
    );
    expect(runtime).toContain('Could not resolve "node:crypto"');
    const sdkDoc = (await readFile(join(PROJECT_ROOT, "docs", "sdk.md"), "utf8")).replace(/\s+/g, " ");
    expect(sdkDoc).toContain("bundled with esbuild for the browser (`--platform=browser`)");
    expect(sdkDoc).toContain("fails to resolve `node:crypto`");
  }, 120_000);

  it("importing ErrorCode loads the runtime core and nothing else: no transport, no third-party code", async () => {
    const loaded = await modulesLoadedBy(service, `import { ErrorCode } from "@onex/runtime"; if (ErrorCode.ValidationFailed !== "ONEX_E_VALIDATION") process.exit(1);`);
    expect(loaded.length).toBeGreaterThan(0);
    expect(loaded.filter((path) => !path.startsWith("@onex/runtime/dist/"))).toEqual([]);
    const sources = await runtimeSourcesOf(loaded);
    expect(sources).toContain("errors.ts");
    expect(sources.filter((source) => /^(jetstream|registry|negotiation|dataplane)\/|node_modules\//.test(source))).toEqual([]);
  });

  it("importing a version's SDK loads the SDK and the runtime core only, ajv's helpers inlined", async () => {
    const loaded = await modulesLoadedBy(service, `const v0_2 = await import("@onex/sdk/v0.2"); if (!v0_2.TaskDispatch) process.exit(1);`);
    expect([...new Set(loaded.map(packageOf))].sort()).toEqual(["@onex/runtime", "@onex/sdk"]);
    const sources = await runtimeSourcesOf(loaded);
    expect(sources).toContain("ajv-runtime.ts");
    expect(sources.filter((source) => /^(jetstream|registry|negotiation|dataplane)\//.test(source))).toEqual([]);
    // Bundled: a handful of runtime files, not one per source module.
    expect(loaded.filter((path) => path.startsWith("@onex/runtime/")).length).toBeLessThan(sources.filter((source) => !source.includes("node_modules/")).length);
  });

  it("verifies with OpenSSL without sodium-native, under the rule libsodium's verdicts follow", () => {
    const seed = randomBytes(32);
    const source = `import { ed25519Library, isValidSignature, keyPairFromSeed, signBytes } from "@onex/runtime";
const pair = keyPairFromSeed(Buffer.from(process.env.SEED, "hex"));
const message = Buffer.from("m");
console.log(JSON.stringify({ library: ed25519Library(), genuine: isValidSignature(pair.publicKey, message, signBytes(pair, message)), identityR: isValidSignature(pair.publicKey, message, process.env.SIGNATURE) }));`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", source], {
      cwd: service,
      encoding: "utf8",
      env: { ...process.env, SEED: seed.toString("hex"), SIGNATURE: "ed25519:" + identityRSignature(seed, Buffer.from("m")).toString("base64url") },
    });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ library: "OpenSSL", genuine: true, identityR: false });
  });

  it("loads each runtime entry point without the optional peers, or fails naming one the README tells a service to add for it", async () => {
    // The paragraph of the README that says what a service installs beside @onex/sdk.
    const readme = await readFile(join(PROJECT_ROOT, "README.md"), "utf8");
    const start = readme.indexOf("A service that only speaks the protocol");
    expect(start).toBeGreaterThan(-1);
    const paragraph = readme.slice(start, readme.indexOf("\n\n", start)).replace(/\s+/g, " ");
    const exports = JSON.parse(await readFile(join(service, "node_modules", "@onex", "runtime", "package.json"), "utf8")) as { exports: Record<string, unknown> };
    const needs: Record<string, string> = {};
    for (const entry of Object.keys(exports.exports).filter((key) => key !== "./package.json")) {
      const specifier = `@onex/runtime${entry.slice(1)}`;
      const result = spawnSync(process.execPath, ["--input-type=module", "-e", `await import(${JSON.stringify(specifier)});`], { cwd: service, encoding: "utf8" });
      if (result.status === 0) continue;
      const missing = /Cannot find package '([^']+)'/.exec(result.stderr)?.[1];
      expect(missing, `${specifier} failed otherwise than on a missing peer:\n${result.stderr}`).toBeDefined();
      needs[specifier] = missing!;
    }
    // A transport entry point does need its client: the test would prove nothing otherwise.
    expect(needs).toHaveProperty(["@onex/runtime/jetstream"]);
    for (const [specifier, peer] of Object.entries(needs)) {
      expect(paragraph, `the README's service paragraph does not say ${specifier} needs ${peer}`).toContain(`\`${specifier}\``);
      expect(paragraph).toContain(`\`${peer}\``);
    }
  });

  it("a registry URL whose store client is not installed is ONEX_E_REGISTRY_URL naming what to install, not Node's bare module error", async () => {
    const script = `import { openRegistry } from "@onex/runtime/registry";
const out = [];
for (const url of ["nats://127.0.0.1:1", "etcd://127.0.0.1:1", "consul://127.0.0.1:1"]) {
  out.push(await openRegistry(url).then(() => "opened", (error) => ({ code: error.code, message: error.message })));
}
console.log(JSON.stringify(out));`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: service, encoding: "utf8" });
    expect(result.stderr).toBe("");
    const [nats, etcd, consul] = JSON.parse(result.stdout) as { code: string; message: string }[];
    for (const failure of [nats, etcd, consul]) expect(failure?.code).toBe("ONEX_E_REGISTRY_URL");
    // At the runtime's own ranges: the bare NATS install failed (npm's newest @nats-io/kv asks for a newer @nats-io/jetstream).
    const { peerDependencies: peers } = JSON.parse(await readFile(join(PROJECT_ROOT, "runtime", "package.json"), "utf8")) as { peerDependencies: Record<string, string> };
    const nats3 = ["@nats-io/transport-node", "@nats-io/jetstream", "@nats-io/kv"].map((name) => `${name}@${peers[name]}`).join(" ");
    expect(nats?.message).toContain(`npm install ${nats3}`);
    expect(etcd?.message).toContain(`npm install etcd3@${peers.etcd3}`);
    expect(consul?.message).toContain(`npm install consul@${peers.consul}`);
  });

  it("loads through require() in a CommonJS consumer (Node's require(esm), unflagged from 20.19 and 22.12, as the README says)", async () => {
    await writeFile(
      join(service, "main.cjs"),
      `const { TaskDispatch } = require("@onex/sdk/v0.2");\nconst { ErrorCode } = require("@onex/runtime");\nconsole.log(JSON.stringify({ type: TaskDispatch.type, code: ErrorCode.ValidationFailed }));\n`,
    );
    const result = spawnSync(process.execPath, [join(service, "main.cjs")], { cwd: service, encoding: "utf8" });
    if (!REQUIRE_ESM_UNFLAGGED) {
      expect(result.stderr).toContain("ERR_REQUIRE_ESM");
      return;
    }
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ type: "signal.task.dispatch", code: "ONEX_E_VALIDATION" });
  });

  it("compiles in a TypeScript project that emits CommonJS under module nodenext, not node16, as docs/sdk.md says", async () => {
    const project = join(service, "cjs-project");
    await mkdir(join(project, "src"), { recursive: true });
    await writeFile(join(project, "package.json"), JSON.stringify({ private: true, type: "commonjs" }));
    await writeFile(
      join(project, "src", "main.ts"),
      `import { TaskDispatch } from "@onex/sdk/v0.2";\nimport { ErrorCode } from "@onex/runtime";\nconsole.log(JSON.stringify({ type: TaskDispatch.type, code: ErrorCode.ValidationFailed }));\n`,
    );
    const compile = async (module: string) => {
      await writeFile(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: { ...STRICT_NODENEXT, module, moduleResolution: module }, include: ["src"] }));
      return spawnSync(process.execPath, [TSC, "-p", project], { encoding: "utf8" });
    };
    const node16 = await compile("Node16");
    expect(node16.status).not.toBe(0);
    expect(node16.stdout).toContain("error TS1479");
    const nodenext = await compile("NodeNext");
    expect(nodenext.stdout + nodenext.stderr).toBe("");
    expect(await readFile(join(project, "out", "main.js"), "utf8")).toContain('require("@onex/sdk/v0.2")');
    if (!REQUIRE_ESM_UNFLAGGED) return;
    const run = spawnSync(process.execPath, [join(project, "out", "main.js")], { cwd: project, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ type: "signal.task.dispatch", code: "ONEX_E_VALIDATION" });
  }, 120_000);
});

describe("a platform team that installs the toolchain", () => {
  it("compiles the README's and docs' examples under tsc --strict", () => {
    const result = spawnSync(process.execPath, [TSC, "-p", toolchain], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  }, 120_000);

  it("bundled by esbuild into CommonJS, verifies with the sodium-native installed beside the bundle, as unbundled", async () => {
    const entry = join(toolchain, "verify-bundled.mts");
    await writeFile(
      entry,
      `import { ed25519Library, generateKeyPair, isValidSignature, signBytes } from "@onex/runtime";\nconst pair = generateKeyPair();\nconst m = Buffer.from("m");\nconsole.log(JSON.stringify({ library: ed25519Library(), genuine: isValidSignature(pair.publicKey, m, signBytes(pair, m)) }));\n`,
    );
    const run = (file: string) => spawnSync(process.execPath, [file], { cwd: toolchain, encoding: "utf8" });
    const outfile = join(toolchain, "verify-bundled.cjs");
    await build({ entryPoints: [entry], outfile, bundle: true, platform: "node", format: "cjs", logLevel: "silent" });
    const bundled = run(outfile);
    expect(bundled.stderr).toBe("");
    expect(JSON.parse(bundled.stdout)).toEqual({ library: "libsodium", genuine: true });
  });

  it("generates its own protocol into its own project: the code imports the installed @onex/runtime, compiles under strict options and runs", async () => {
    // A protocol team's project beside the toolchain: its own schemas, grown to a v0.3 the
    // shipped SDK does not have, generated into its own sources.
    const project = join(toolchain, "own-protocol");
    await mkdir(project);
    await writeFile(join(project, "package.json"), JSON.stringify({ private: true, type: "module" }));
    await cp(join(PROJECT_ROOT, "schemas"), join(project, "schemas"), { recursive: true });
    await writeGrownV03(join(project, "schemas"));
    const onex = (...args: string[]) => spawnSync(process.execPath, [join(toolchain, "node_modules", "onex", "bin", "onex.js"), ...args], { cwd: project, encoding: "utf8" });
    const generated = onex("generate", "--out", "src/proto");
    expect(generated.status, generated.stderr).toBe(0);
    expect(onex("generate", "--out", "src/proto", "--check").status).toBe(0);

    // Every import of the generated code is one of its own files or the runtime's codegen contract.
    const files = (await readdir(join(project, "src", "proto"), { recursive: true })).map(String).filter((path) => path.endsWith(".ts"));
    expect(files).toContain(join("v0.3", "index.ts"));
    const specifiers = new Set<string>();
    for (const file of files) {
      const text = await readFile(join(project, "src", "proto", file), "utf8");
      for (const match of text.matchAll(/(?:^import|^export)[^;]*? from "([^"]+)"|import\("([^"]+)"\)/gm)) specifiers.add(match[1] ?? match[2]!);
    }
    expect([...specifiers].filter((specifier) => !specifier.startsWith("./") && !specifier.startsWith("../"))).toEqual(["@onex/runtime/codegen-v1"]);

    await writeFile(
      join(project, "src", "main.ts"),
      `import * as v0_3 from "./proto/v0.3/index.js";
import { migrate } from "./proto/transforms/index.js";
import { ErrorCode, isOnexError } from "@onex/runtime";
const drained = v0_3.NodeDrained.create({
  source: { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" },
  trust: { signer: "k1", level: "verified", zone: "zone.trusted.org", expires_at: "2030-01-01T00:00:00Z" },
  payload: { node_id: "n-1" },
});
let code = "none";
try {
  v0_3.NodeDrained.parse("{}");
} catch (error) {
  if (isOnexError(error, ErrorCode.ValidationFailed)) code = error.code;
}
const down = migrate(v0_3.TaskDispatch.create({
  source: { zone: "zone.trusted.org", entity_type: "task", entity_id: "t-1" },
  trust: { signer: "k1", level: "verified", zone: "zone.trusted.org", expires_at: "2030-01-01T00:00:00Z" },
  payload: { task_id: "t-1", targets: ["n-1"], operation: "render", priority: 5 },
}).toJSON(), "0.3", "0.2");
console.log(JSON.stringify({ type: v0_3.NodeDrained.parse(drained.encode()).type, version: drained.protocol.version, code, down: (down["protocol"] as { version: string }).version }));
`,
    );
    await writeFile(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: { ...STRICT_SERVICE, module: "NodeNext", moduleResolution: "NodeNext", outDir: "out" }, include: ["src"] }));
    const compiled = spawnSync(process.execPath, [TSC, "-p", project], { encoding: "utf8" });
    expect(compiled.stdout + compiled.stderr).toBe("");
    // It runs on the runtime the project installed, the one package every import of it names.
    const loaded = await modulesLoadedBy(project, `await import("./out/main.js");`);
    expect([...new Set(loaded.map(packageOf))]).toEqual(["@onex/runtime"]);
    const run = spawnSync(process.execPath, [join(project, "out", "main.js")], { cwd: project, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ type: DRAINED_TYPE, version: "0.3", code: "ONEX_E_VALIDATION", down: "0.2" });
  }, 180_000);

  it("ships the onex command", () => {
    const result = spawnSync(process.execPath, [join(toolchain, "node_modules", "onex", "bin", "onex.js"), "--help"], { encoding: "utf8" });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("generate");
  });

  it("migrates with the SDK it installed, which it takes as current: the package ships what the freshness check reads", async () => {
    const input = await readFile(join(PROJECT_ROOT, "docs", "examples", "v0.1.ndjson"), "utf8");
    const result = spawnSync(process.execPath, [join(toolchain, "node_modules", "onex", "bin", "onex.js"), "migrate", "v0.1", "v0.2", "-"], { cwd: toolchain, input, encoding: "utf8" });
    const count = input.trim().split("\n").length;
    expect(result.stderr).toMatch(new RegExp(`^migrate v0\\.1 -> v0\\.2: ${count} read, ${count} written`));
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split("\n")).toHaveLength(count);
  });
});
