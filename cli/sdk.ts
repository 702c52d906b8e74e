/**
 * The generated SDK a command runs on: the one generated from the schemas folder it is asked
 * about (`--schemas`), exactly as `onex generate` last wrote it, with no build step.
 *
 * - The schemas folder is `--schemas`, else `./schemas` when the current folder has one (the
 *   project's own), else the schemas onex ships. The SDK is `--generated`, else the
 *   `generated` folder beside the schemas folder (for the schemas onex ships: `@onex/sdk`).
 * - Before anything is loaded, the input hashes the generated headers record are compared with
 *   the schemas' bytes (generator/input-hashes.ts): a missing, added, removed or edited version
 *   or transform is ONEX_E_SDK_STALE, never a silent run on other versions.
 * - The SDK is loaded from `@onex/sdk`'s compiled build when that is what the folder is and the
 *   build is newer than every generated file; otherwise its TypeScript is compiled in memory
 *   (TypeScript's transpileModule, one file at a time, no type check: `onex generate` and the
 *   SDK's own build type-check it) into a per-user cache keyed by the sources' hash, so only the
 *   first run after a generate pays for it (docs/versioning.md gives the cost). Imports of
 *   `@onex/runtime` are bound to this command's own runtime, so errors and classes are one.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { ErrorCode, OnexError, type ProtocolSdk } from "@onex/runtime";
import type { JsonObject, VersionGraph } from "@onex/runtime/codegen-v1";
import { readSchemaIndex, type SchemaIndex } from "@onex/runtime/negotiation";
import { PACKAGE_ROOT } from "../generator/package-root.js";
import { loadAllSdks } from "./all-sdks.js";
import { loadTypeScript } from "../generator/load-typescript.js";
import { compareVersions, requireVersionsIn } from "../generator/protocol-versions.js";
import { loadFailure } from "./transforms-load-failure.js";

/** What a generated `transforms/index` module exports. */
export interface TransformsModule {
  versionGraph: VersionGraph;
  migrate(message: unknown, from: string, to: string): JsonObject;
  migrationPath(from: string, to: string): string[];
}

/** A version's generated SDK module. */
export type VersionSdk = ProtocolSdk & { parseMessage(input: object): object };

/** The generated SDK of one schemas folder, current with it. */
export interface ProjectSdk {
  schemasDir: string;
  generatedDir: string;
  /** `compiled`: @onex/sdk's build; `transpiled`: the generated TypeScript, compiled by this command (cached). */
  via: "compiled" | "transpiled";
  /** The versions of the schemas folder, oldest first. */
  versions: string[];
  /** Normalises `v0.2` / `0.2` to a version of the schemas folder, or throws ONEX_E_UNKNOWN_VERSION. */
  resolveVersion(input: string): string;
  /** The SDK module of a version. */
  load(version: string): Promise<VersionSdk>;
  /** The version graph and migrations between the versions. */
  transforms(): Promise<TransformsModule>;
  /** URL of the transforms module, for worker threads to import. */
  transformsUrl: string;
  /** Every version's schema index (`v<version>/index.json`), checked, oldest first. */
  indexes(): Promise<SchemaIndex[]>;
}

export interface SdkFlags {
  schemas?: string | undefined;
  generated?: string | undefined;
}

/** Where the bundled SDK (`@onex/sdk`) lives: its compiled build is under dist/. */
const SDK_ROOT = realpathSync(dirname(createRequire(import.meta.url).resolve("@onex/sdk/package.json")));
/** The schemas onex ships, which @onex/sdk is generated from. */
const OWN_SCHEMAS = join(PACKAGE_ROOT, "schemas");

/** The schemas folder a command works on: `flag`, else `./schemas` when it holds a version (the project's own), else the schemas onex ships. */
export function schemasDirOf(flag: string | undefined): string {
  return resolve(flag ?? (existsSync("schemas") && holdsVersions("schemas") ? "schemas" : OWN_SCHEMAS));
}

/**
 * Whether `dir` holds a protocol version (`v<version>/manifest.yaml`), or cannot be read (then the
 * command says so). A `schemas` folder without one is another tool's (JSON Schemas, SQL): taken for
 * a project, it stopped `onex sign` and `verify` in any repository that had one.
 */
function holdsVersions(dir: string): boolean {
  try {
    return readdirSync(dir).some((name) => /^v[0-9]/.test(name) && existsSync(join(dir, name, "manifest.yaml")));
  } catch {
    return true;
  }
}

/** Opens the SDK generated from `flags.schemas` (see the module comment for the defaults); ONEX_E_SDK_STALE when it is not current. */
export async function openProjectSdk(flags: SdkFlags): Promise<ProjectSdk> {
  const schemasDir = schemasDirOf(flags.schemas);
  const own = sameFolder(schemasDir, OWN_SCHEMAS);
  const generatedDir = resolve(flags.generated ?? (own ? SDK_ROOT : join(dirname(schemasDir), "generated")));
  // The code run is the generated SDK: one found in the current folder, not named, must be this user's (or root's).
  if (!own && flags.schemas === undefined && flags.generated === undefined) refuseOthersProject(schemasDir, generatedDir);
  const versions = await requireVersionsIn(schemasDir);
  await assertCurrent(schemasDir, generatedDir, versions, flags);

  const compiled = sameFolder(generatedDir, SDK_ROOT) && (await buildIsCurrent(generatedDir));
  const root = compiled ? join(SDK_ROOT, "dist") : await transpiledSdk(generatedDir);
  const url = (rel: string) => pathToFileURL(join(root, rel)).href;
  const transformsUrl = url("transforms/index.js");
  return {
    schemasDir,
    generatedDir,
    via: compiled ? "compiled" : "transpiled",
    versions,
    resolveVersion: (input) => resolveIn(versions, input, schemasDir),
    load: async (version) => (await import(url(`v${version}/index.js`))) as VersionSdk,
    transforms: async () => (await import(transformsUrl).catch((error: unknown) => Promise.reject(loadFailure(error)))) as TransformsModule,
    transformsUrl,
    indexes: () => Promise.all(versions.map((v) => readSchemaIndex(join(generatedDir, `v${v}`, "index.json")))),
  };
}

/**
 * ONEX_E_USAGE when the ./schemas a command found in the current folder, or the generated SDK
 * beside it, belongs to another user: every command that runs on a generated SDK runs its code,
 * and a folder another user made (in /tmp, say) would have `onex validate` run theirs as this
 * user, as git refuses a repository another user owns. A folder named with --schemas or
 * --generated is taken as the user's choice.
 */
function refuseOthersProject(schemasDir: string, generatedDir: string): void {
  if (typeof process.getuid !== "function") return;
  const me = process.getuid();
  for (const dir of [dirname(schemasDir), schemasDir, generatedDir]) {
    let uid: number;
    try {
      uid = statSync(dir).uid;
    } catch {
      continue; // missing: the checks after this one say so
    }
    if (uid === me || uid === 0) continue;
    throw new OnexError(
      ErrorCode.Usage,
      `${dir} belongs to another user (uid ${uid}), and onex would run the SDK generated there as you: run onex in a folder of your own, or name the folder with --schemas if you trust its owner`,
      { file: dir, uid },
    );
  }
}

function resolveIn(versions: readonly string[], input: string, schemasDir: string): string {
  const wanted = input.replace(/^v/, "");
  const found = versions.find((v) => v === wanted) ?? versions.find((v) => /^\d+(\.\d+)*$/.test(wanted) && compareVersions(v, wanted) === 0);
  if (found === undefined) {
    throw new OnexError(ErrorCode.UnknownVersion, `unknown protocol version "${input}" (${schemasDir} holds ${versions.map((v) => `v${v}`).join(", ")})`, { version: input, schemas: schemasDir });
  }
  return found;
}

function sameFolder(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * The text of a generated file: its TypeScript where the folder holds the generated sources (a
 * checkout), else its compiled JavaScript (an installed @onex/sdk ships no TypeScript). Never the
 * one for the other: a module `onex generate` removed may still have a build left behind.
 */
async function generatedText(generatedDir: string, rel: string, sources: boolean): Promise<string | undefined> {
  return readFile(sources ? join(generatedDir, `${rel}.ts`) : join(generatedDir, "dist", `${rel}.js`), "utf8").catch(() => undefined);
}

/** ONEX_E_SDK_STALE unless every version, the version list and every transform of `generatedDir` were generated from `schemasDir` as it is now. */
async function assertCurrent(schemasDir: string, generatedDir: string, versions: readonly string[], flags: SdkFlags): Promise<void> {
  const { headerHash, inputHashes } = await import("../generator/input-hashes.js");
  const hops = versions.slice(1).map((v, i) => `v${versions[i]}-v${v}`);
  const texts = new Map<string, string | undefined>();
  const sources = ["versions", ...versions.map((v) => `v${v}/index`)].some((rel) => existsSync(join(generatedDir, `${rel}.ts`)));
  for (const rel of [...versions.map((v) => `v${v}/index`), "versions", ...hops.map((hop) => `transforms/${hop}`)]) texts.set(rel, await generatedText(generatedDir, rel, sources));
  const recorded = (rel: string) => {
    const text = texts.get(rel);
    return text === undefined ? undefined : headerHash(text);
  };
  const expected = await inputHashes(schemasDir, versions, {
    versions: new Map(versions.map((v) => [`v${v}`, recorded(`v${v}/index`)])),
    transforms: new Map(hops.map((hop) => [hop, recorded(`transforms/${hop}`)])),
  });
  const stale: string[] = [];
  for (const v of versions) {
    const id = `v${v}`;
    const text = texts.get(`${id}/index`);
    if (text === undefined) stale.push(`${id} is not generated`);
    else if (headerHash(text) !== expected.versions.get(id)) stale.push(`${id} was generated from other schemas (edited since)`);
  }
  const listed = texts.get("versions");
  const extra = (await readdir(generatedDir, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory() && /^v\d/.test(e.name) && !versions.includes(e.name.slice(1)) && existsSync(join(generatedDir, e.name, "index.json")))
    .map((e) => e.name);
  for (const id of extra) stale.push(`${id} is generated but has no version folder in the schemas`);
  if (listed === undefined) stale.push("versions.ts is not generated");
  else if (stale.length === 0 && headerHash(listed) !== expected.combined) stale.push("versions.ts lists other versions");
  for (const [i, hop] of hops.entries()) {
    const text = texts.get(`transforms/${hop}`);
    const hash = expected.transforms.get(hop);
    // A hop without a transform file is a gap in the version graph (migrate says ONEX_E_NO_PATH), not staleness.
    if (hash === undefined) {
      if (text !== undefined) stale.push(`the transform ${hop} is generated but v${versions[i + 1]} has no transform file from v${versions[i]} now`);
    } else if (text === undefined) stale.push(`the transform ${hop} is not generated`);
    else if (headerHash(text) !== hash) stale.push(`the transform ${hop} is not current (its transform file, or a version it connects, changed)`);
  }
  if (stale.length === 0) return;
  // The schemas folder this run compared with, named whenever it is not the one `onex generate`
  // reads by default (./schemas): with --generated alone, this run read onex's bundled schemas.
  const bundled = flags.schemas === undefined && !existsSync("schemas");
  const schemasFlag = flags.schemas ?? (bundled ? schemasDir : undefined);
  // --out whenever the SDK compared is not where `onex generate` writes by default (./generated):
  // the advice without it wrote a fresh SDK there, and left this one stale (or overwrote another).
  const out = flags.generated ?? (resolve(generatedDir) === resolve("generated") ? undefined : generatedDir);
  const again = ["onex generate", ...(schemasFlag === undefined ? [] : [`--schemas ${schemasFlag}`]), ...(out === undefined ? [] : [`--out ${out}`])].join(" ");
  throw new OnexError(
    ErrorCode.SdkStale,
    `the generated SDK in ${generatedDir} is not current with ${schemasDir}${bundled ? " (no --schemas given and no ./schemas here: the schemas onex ships)" : ""}: ${stale.join("; ")}. Run \`${again}\`${bundled ? ", or give --schemas the SDK's own schemas" : ""}; nothing needs building`,
    { schemas: schemasDir, generated: generatedDir, stale },
  );
}

/** The generated TypeScript files of `generatedDir` (relative paths, `/`-separated), its build and dependencies left out. */
async function typescriptFiles(generatedDir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (entry.name !== "dist" && entry.name !== "node_modules" && !entry.name.startsWith(".")) await walk(join(dir, entry.name));
      } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        out.push(relative(generatedDir, join(dir, entry.name)).split(sep).join("/"));
      }
    }
  };
  await walk(generatedDir);
  return out.sort();
}

/**
 * True when @onex/sdk's build is at least as new as every generated file (or there is no
 * TypeScript: an installed package). Its entry points (`versions.js`, `transforms/index.js`,
 * each version's `index.js`) are bundles of many generated files (generated/bundle.mjs), so
 * every file is compared with the oldest of them: a file compiled again on its own (`tsc`
 * without the bundling) leaves the bundles stale, and the build is not taken.
 */
export async function buildIsCurrent(generatedDir: string): Promise<boolean> {
  const sources = await typescriptFiles(generatedDir);
  const entries = sources.filter((rel) => rel === "versions.ts" || /^[^/]+\/index\.ts$/.test(rel));
  let built = Infinity;
  for (const rel of entries) {
    const entry = await stat(join(generatedDir, "dist", rel.replace(/\.ts$/, ".js"))).catch(() => undefined);
    if (entry === undefined) return false;
    built = Math.min(built, entry.mtimeMs);
  }
  for (const rel of sources) {
    if ((await stat(join(generatedDir, rel))).mtimeMs > built) return false;
  }
  return true;
}

/** The module an import or export statement of generated code names (one statement per line, as the templates write them). */
const IMPORT_FROM = /^((?:import|export)\b[^\n]*?\bfrom\s*)(["'])([^"'\n]+)\2/gm;

/**
 * Where a bare specifier of generated code leads: the runtime (`@onex/runtime...`) is this
 * command's own, so errors and classes are one; anything else (a `--runtime-import` of your own)
 * is resolved from the generated folder, as Node would resolve it there.
 */
function resolveBare(specifier: string, generatedDir: string): string {
  try {
    if (/^@onex\/runtime(\/|$)/.test(specifier)) return import.meta.resolve(specifier);
    return pathToFileURL(createRequire(join(generatedDir, "package.json")).resolve(specifier)).href;
  } catch (cause) {
    throw new OnexError(ErrorCode.FileNotFound, `the generated SDK in ${generatedDir} imports "${specifier}", which cannot be found from there`, { file: generatedDir, module: specifier }, { cause });
  }
}

const isBare = (specifier: string) => !/^(\.|\/|[a-z][a-z0-9+.-]*:)/i.test(specifier);

/** How many compiled SDKs the cache keeps (the most recently made); older ones and the files only they used are removed. */
const CACHE_KEEP = 8;

/**
 * Compiles the generated TypeScript of `generatedDir` into the cache and returns the folder.
 * Each distinct set of sources is one folder; each distinct file is compiled once, so after an
 * edit of one version only that version's files (and the transforms next to it) are compiled again.
 */
async function transpiledSdk(generatedDir: string): Promise<string> {
  const files = await typescriptFiles(generatedDir);
  const sources = new Map<string, string>();
  for (const rel of files) sources.set(rel, await readFile(join(generatedDir, rel), "utf8"));
  const runtimeUrls = new Map<string, string>();
  for (const text of sources.values()) {
    for (const m of text.matchAll(IMPORT_FROM)) if (isBare(m[3]!) && !runtimeUrls.has(m[3]!)) runtimeUrls.set(m[3]!, resolveBare(m[3]!, generatedDir));
  }
  const salt = `onex-sdk-cache/3\0${process.version}\0${typescriptVersion()}\0${JSON.stringify([...runtimeUrls].sort())}\0`;
  const fileKeys = new Map([...sources].map(([rel, text]) => [rel, createHash("sha256").update(salt).update(text).digest("hex")]));
  const digest = createHash("sha256").update(salt).update(JSON.stringify([...fileKeys])).digest("hex");

  const cacheRoot = await userCacheRoot();
  const target = cacheRoot === undefined ? undefined : join(cacheRoot, digest);
  if (target !== undefined && existsSync(join(target, ".complete"))) {
    // Its time is its last use: pruning removes the least recently used.
    await utimes(target, new Date(), new Date()).catch(() => undefined);
    return target;
  }

  let ts: typeof import("typescript") | undefined;
  const building = cacheRoot === undefined ? await mkdtemp(join(tmpdir(), "onex-sdk-")) : await mkdtemp(join(cacheRoot, `${digest}.tmp-`));
  // Without a cache the compiled SDK lives as long as the command.
  if (cacheRoot === undefined) process.once("exit", () => rmSync(building, { recursive: true, force: true }));
  for (const [rel, text] of sources) {
    const cached = cacheRoot === undefined ? undefined : join(cacheRoot, "files", `${fileKeys.get(rel)}.js`);
    let js = cached === undefined ? undefined : await readFile(cached, "utf8").catch(() => undefined);
    if (js === undefined) {
      ts ??= await loadTypeScript("load a generated SDK");
      const { outputText } = ts.transpileModule(text, {
        fileName: rel,
        reportDiagnostics: false,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, isolatedModules: true, sourceMap: false, removeComments: false },
      });
      js = outputText.replace(IMPORT_FROM, (all, before: string, quote: string, spec: string) => (isBare(spec) ? `${before}${quote}${runtimeUrls.get(spec) ?? resolveBare(spec, generatedDir)}${quote}` : all));
      if (cached !== undefined) await writeAtomically(cached, js);
    }
    const out = join(building, rel.replace(/\.ts$/, ".js"));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, js);
  }
  await writeFile(join(building, ".files"), [...fileKeys.values()].join("\n"));
  await writeFile(join(building, ".complete"), "");
  if (target === undefined) return building;
  try {
    await rename(building, target);
  } catch {
    // Another run filled the same entry first: its output is the same.
    await rm(building, { recursive: true, force: true });
    if (!existsSync(join(target, ".complete"))) throw new OnexError(ErrorCode.WriteFailed, `cannot write the compiled SDK to ${target}`, { file: target });
  }
  await pruneCache(cacheRoot!, target).catch(() => undefined);
  return target;
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

/** Keeps the CACHE_KEEP most recent compiled SDKs (and `keep`), and the compiled files they use. */
async function pruneCache(cacheRoot: string, keep: string): Promise<void> {
  const all = await readdir(cacheRoot, { withFileTypes: true });
  // Folders a run that crashed while compiling left behind, an hour on.
  for (const e of all.filter((e) => e.isDirectory() && /^[0-9a-f]{64}\.tmp-/.test(e.name))) {
    const dir = join(cacheRoot, e.name);
    if (Date.now() - (await stat(dir)).mtimeMs > 3_600_000) await rm(dir, { recursive: true, force: true });
  }
  const entries = all.filter((e) => e.isDirectory() && /^[0-9a-f]{64}$/.test(e.name));
  if (entries.length <= CACHE_KEEP) return;
  const dated = await Promise.all(entries.map(async (e) => ({ dir: join(cacheRoot, e.name), mtime: (await stat(join(cacheRoot, e.name))).mtimeMs })));
  dated.sort((a, b) => b.mtime - a.mtime);
  const kept = dated.slice(0, CACHE_KEEP).map((d) => d.dir);
  if (!kept.includes(keep)) kept.push(keep);
  for (const { dir } of dated) if (!kept.includes(dir)) await rm(dir, { recursive: true, force: true });
  const used = new Set<string>();
  for (const dir of kept) for (const key of (await readFile(join(dir, ".files"), "utf8").catch(() => "")).split("\n")) used.add(`${key}.js`);
  for (const name of await readdir(join(cacheRoot, "files")).catch(() => [] as string[])) {
    if (name.endsWith(".js") && !used.has(name)) await rm(join(cacheRoot, "files", name), { force: true });
  }
}

/** The installed TypeScript's version (part of the cache key), without loading the compiler. */
function typescriptVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve("typescript/package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "none";
  }
}

/**
 * The folder compiled SDKs are cached in: `$ONEX_CACHE_DIR`, else `$XDG_CACHE_HOME/onex/sdk` or
 * `~/.cache/onex/sdk`, created for this user only (the cache holds code this command runs). None
 * when it cannot be created: then every run compiles into a fresh private temporary folder.
 */
async function userCacheRoot(): Promise<string | undefined> {
  const base = process.env.ONEX_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "onex", "sdk");
  try {
    await makeFolder(base);
    // Not a symlink, and ours alone; and no folder above it that another user could swap it
    // out of (writable by others without the sticky bit), as ssh's StrictModes checks.
    const own = await lstat(base);
    if (!own.isDirectory() || !ownedByMeOrRoot(own) || (own.mode & 0o022) !== 0) return undefined;
    for (let dir = dirname(await realpath(base)); ; dir = dirname(dir)) {
      const info = await stat(dir);
      if (!ownedByMeOrRoot(info) || ((info.mode & 0o022) !== 0 && (info.mode & 0o1000) === 0)) return undefined;
      if (dirname(dir) === dir) break;
    }
    return base;
  } catch {
    return undefined;
  }
}

/** How many missing folders makeFolder makes above (and with) the one asked for, at most. */
const MAX_MISSING_FOLDERS = 16;

/**
 * Makes `dir` and the folders missing above it (at most MAX_MISSING_FOLDERS), each for this user
 * alone, with one plain mkdir each. Not mkdir's `recursive`: Node's loops for ever where a folder
 * cannot be made although its parent is there (`/proc/1/x` is ENOENT every time), and the command
 * hung. Throws whatever stops it; a folder another run made meanwhile is taken as made.
 */
async function makeFolder(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); !existsSync(at); at = dirname(at)) {
    if (missing.length === MAX_MISSING_FOLDERS || dirname(at) === at) throw new Error(`too many folders missing above ${dir}`);
    missing.push(at);
  }
  for (const folder of missing.reverse()) {
    await mkdir(folder, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  }
}

function ownedByMeOrRoot(info: { uid: number }): boolean {
  return typeof process.getuid !== "function" || info.uid === process.getuid() || info.uid === 0;
}

/**
 * Every version's SDK generated from the schemas folder the command is asked about (the
 * defaults of openProjectSdk), oldest first: what a deployment's streams and permissions are
 * made from. A version a project grew, with subject templates of its own, must be in them, or
 * its members are refused on its subjects and no stream stores them.
 */
export async function loadProjectSdks(flags: SdkFlags): Promise<ProtocolSdk[]> {
  // No project here and none named: onex's own versions, as bundled. An admin's `onex dlq list`
  // in any folder reads no schemas folder, and an install laid out without one still works.
  if (flags.generated === undefined && schemasDirOf(flags.schemas) === OWN_SCHEMAS) return loadAllSdks();
  const project = await openProjectSdk(flags);
  return Promise.all(project.versions.map((version) => project.load(version)));
}
