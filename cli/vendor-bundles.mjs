/**
 * Writes dist/cli/vendor/: the third-party packages an onex run loads that are made of many
 * small CommonJS modules, each built by esbuild into one CommonJS file, and vendored.json,
 * which names the packages each file holds and their versions. bin/onex.js loads a package
 * from its file (see `useVendoredPackages` there) while that version is the one installed,
 * so every importer — oclif itself, onex's commands, the runtime — gets the one copy. Node
 * loads a module at a time (resolve, stat, read, wrap, compile), and one file costs a
 * fraction of a hundred: @oclif/core (158 modules) 85 -> 40 ms of CPU, yaml (72) 32 -> 7,
 * the NATS client (70) 36 -> 17. Like @onex/runtime's bundles, the files hold the code of
 * the packages' own dependencies too (THIRD-PARTY-LICENSES.txt lists them). Beside each file,
 * FILE.cache: V8's code cache of it, which bin/vendored-file.js compiles it with (its calls
 * of `import()` rewritten for that). Run by cli/write-oclif-manifest.mjs, which `npm run
 * build` runs.
 */
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installedVersion } from "../bin/installed-version.js";

/** Each file and the packages it holds (they share what they import, as one copy). */
const VENDORED = {
  // oclif loads TypeScript tooling only to run TypeScript sources, which onex never does.
  "oclif-core.cjs": { packages: ["@oclif/core"], external: ["typescript", "ts-node"] },
  "yaml.cjs": { packages: ["yaml"], external: [] },
  // Every NATS entry point onex imports, in one file: two files would hold two nats-cores.
  "nats.cjs": { packages: ["@nats-io/transport-node", "@nats-io/jetstream", "@nats-io/kv"], external: [] },
};


export async function writeVendorBundles(root) {
  const require = createRequire(join(root, "package.json"));
  const dir = join(root, "dist", "cli", "vendor");
  mkdirSync(dir, { recursive: true });
  const index = {};
  const inlined = new Map();
  for (const [file, { packages, external }] of Object.entries(VENDORED)) {
    const { outputFiles, metafile } = await build({
      // The file's exports: each package's, by name.
      stdin: { contents: `module.exports = {${packages.map((name) => `${JSON.stringify(name)}: require(${JSON.stringify(name)})`).join(", ")}};`, resolveDir: root, sourcefile: file },
      bundle: true,
      write: false,
      metafile: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      external,
      // oclif reads its package.json through __dirname from lib/index.js and lib/cache.js: in the
      // file, __dirname names the folder of the first package's entry module (lib/), as it did there.
      define: { __dirname: "__vendoredDirname" },
      banner: { js: `const __vendoredDirname = require("node:path").dirname(require.resolve(${JSON.stringify(packages[0])}));` },
      logLevel: "warning",
    });
    // Moved into place whole: an onex started meanwhile sees the old file or the new one.
    writeFileSync(join(dir, `${file}.tmp`), withoutImportCalls(file, outputFiles[0].text));
    renameSync(join(dir, `${file}.tmp`), join(dir, file));
    makeCodeCache(root, join(dir, file));
    index[file] = { packages: Object.fromEntries(packages.map((name) => [name, installedVersion(require.resolve(name), name)])) };
    for (const input of Object.keys(metafile.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (match) inlined.set(match[1], join(root, input.slice(0, match.index + match[0].length)));
    }
  }
  writeFileSync(join(dir, "vendored.json.tmp"), `${JSON.stringify(index, null, 2)}\n`);
  renameSync(join(dir, "vendored.json.tmp"), join(dir, "vendored.json"));
  writeFileSync(join(dir, "THIRD-PARTY-LICENSES.txt"), `The files of onex's dist/cli/vendor include code of the following packages, under these licences.\n\n${notices(inlined).join("\n---\n\n")}`);
  // Files no longer written (an older layout) are never loaded again.
  const kept = new Set([...Object.keys(VENDORED).flatMap((file) => [file, `${file}.cache`]), "vendored.json", "THIRD-PARTY-LICENSES.txt"]);
  for (const file of readdirSync(dir)) if (!kept.has(file)) rmSync(join(dir, file));
}

/**
 * The file's `import()` calls made `__onexImport()` calls, which bin/vendored-file.js gives
 * it: code compiled with a code cache cannot use `import()` on Node 20. The packages import
 * only by `await import(url)`; a copy with any other call left is refused, here, rather than
 * failing when a command first reaches it.
 */
export function withoutImportCalls(file, code) {
  const rewritten = code.replace(/\bawait import\(/g, "await __onexImport(");
  const left = /(?<![\w$."'`])import\(/.exec(rewritten);
  if (left) throw new Error(`${file} calls import() other than as \`await import(\`: ${rewritten.slice(Math.max(0, left.index - 80), left.index + 40)}`);
  return rewritten;
}

/**
 * Writes FILE.cache, the copy's code cache for bin/vendored-file.js: taken in a fresh node
 * process once the file has run, so it holds the functions its loading compiled too.
 */
function makeCodeCache(root, file) {
  const make = `const { runVendoredFile, writeCodeCache } = await import(process.argv[1]); writeCodeCache(runVendoredFile(process.argv[2]));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", make, pathToFileURL(join(root, "bin", "vendored-file.js")).href, file], { stdio: "inherit" });
  if (run.status !== 0) throw new Error(`the code cache of ${file} was not written (exit ${run.status})`);
}

/** The licence of every package inlined, as @onex/runtime's bundle lists them. */
function notices(packages) {
  return [...packages].sort(([a], [b]) => a.localeCompare(b)).map(([name, root]) => {
    const licence = readdirSync(root).find((file) => /^licen[cs]e/i.test(file));
    const { version, license } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    return `${name}@${version} (${license})\n\n${licence === undefined ? `(no licence file; package.json says ${license})` : readFileSync(join(root, licence), "utf8").trim()}\n`;
  });
}
