/**
 * Writes dist/cli/vendor/: one CommonJS file for each third-party package an onex run loads
 * that is made of many small CommonJS modules, built from the installed package by esbuild.
 * bin/onex.js loads the package from that file (see `useVendored` there), so every importer
 * — oclif itself, onex's commands, the runtime — gets the one copy. Node loads a module at a
 * time (resolve, stat, read, wrap, compile), and one file costs a fraction of a hundred:
 * @oclif/core (158 modules) 85 -> 40 ms of CPU, yaml (72) 32 -> 7 ms, paid by every run.
 * The file is named by the package's version: bin/onex.js uses it only while that version is
 * the one installed, and the package's own files otherwise. Run by
 * cli/write-oclif-manifest.mjs, which `npm run build` runs.
 */
import { build } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** The packages bundled, and what to leave out of each. */
const VENDORED = {
  // oclif loads TypeScript tooling only to run TypeScript sources, which onex never does.
  "@oclif/core": { external: ["typescript", "ts-node"] },
  yaml: { external: [] },
};

/** The file bin/onex.js looks for: dist/cli/vendor/<name with + for />@<version>.cjs */
export function vendoredFile(root, name, version) {
  return join(root, "dist", "cli", "vendor", `${name.replace("/", "+")}@${version}.cjs`);
}

export async function writeVendorBundles(root) {
  const require = createRequire(join(root, "package.json"));
  const dir = join(root, "dist", "cli", "vendor");
  mkdirSync(dir, { recursive: true });
  const written = [];
  for (const [name, { external }] of Object.entries(VENDORED)) {
    const { version } = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8"));
    const { outputFiles } = await build({
      entryPoints: [require.resolve(name)],
      bundle: true,
      write: false,
      platform: "node",
      format: "cjs",
      target: "node20",
      external,
      // oclif reads its package.json through __dirname from lib/index.js and lib/cache.js: in
      // the bundle __dirname names the folder of the package's entry module (lib/), as it did there.
      define: { __dirname: "__vendoredDirname" },
      banner: { js: `const __vendoredDirname = require("node:path").dirname(require.resolve(${JSON.stringify(name)}));` },
      logLevel: "warning",
    });
    // Moved into place whole: an onex started meanwhile sees the old file or the new one.
    const file = vendoredFile(root, name, version);
    writeFileSync(`${file}.tmp`, outputFiles[0].contents);
    renameSync(`${file}.tmp`, file);
    written.push(file);
  }
  // Copies of versions no longer installed are never used again.
  for (const file of readdirSync(dir)) if (!written.includes(join(dir, file))) rmSync(join(dir, file));
  return written;
}
