/**
 * Bundles the JavaScript of @onex/sdk: after `tsc -b` has checked and compiled the
 * generated TypeScript file by file, each entry point the package exports (every version's
 * `index.js`, `transforms/index.js`, `versions.js`) is replaced by an esbuild bundle built
 * from the same TypeScript, with the code they share (a version's validators and manifest,
 * which the transforms use too) in chunks, so each module still exists once in a program.
 * `@onex/runtime` stays external, so its classes and registries exist once as well.
 *
 * Why: a service's cold start is mostly module loading; importing a version loaded five
 * files, and now loads its entry point and a chunk or two. The generated header of each
 * entry point (the input hashes `onex` checks an SDK's freshness by) is kept at its top.
 * Every build bundles again, from the sources, and the CLI takes a build as current only
 * when every generated file is older than these bundles (cli/sdk.ts).
 *
 *   node generated/bundle.mjs     (run by `npm run build`, after tsc)
 */
import { build } from "esbuild";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SDK = dirname(fileURLToPath(import.meta.url));
const DIST = join(SDK, "dist");

const entryPoints = { versions: join(SDK, "versions.ts") };
const isVersion = (entry) => entry.isDirectory() && /^v\d/.test(entry.name);
for (const entry of readdirSync(SDK, { withFileTypes: true })) {
  if (isVersion(entry) && existsSync(join(SDK, entry.name, "index.ts"))) entryPoints[`${entry.name}/index`] = join(SDK, entry.name, "index.ts");
}
// The build of a version no longer generated (its schemas folder renamed or removed) would be
// shipped: tsc never removes what it compiled before.
for (const entry of existsSync(DIST) ? readdirSync(DIST, { withFileTypes: true }) : []) {
  if (isVersion(entry) && entryPoints[`${entry.name}/index`] === undefined) rmSync(join(DIST, entry.name), { recursive: true, force: true });
}
if (existsSync(join(SDK, "transforms", "index.ts"))) entryPoints["transforms/index"] = join(SDK, "transforms", "index.ts");

// Chunks of an earlier build would be shipped and never loaded.
rmSync(join(DIST, "chunks"), { recursive: true, force: true });
await build({
  entryPoints,
  outdir: DIST,
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  tsconfig: join(SDK, "tsconfig.build.json"),
  external: ["@onex/runtime", "@onex/runtime/*"],
  legalComments: "none",
  // A class keeps its own name (`TaskDispatch.name`, what console.log and stack traces show):
  // esbuild otherwise renames a class it also binds inside, for its static members, to `_TaskDispatch`.
  keepNames: true,
  logLevel: "warning",
});

// The generated header (every line comment before the first line of code) back on top.
for (const [out, source] of Object.entries(entryPoints)) {
  const text = readFileSync(source, "utf8");
  const header = text.slice(0, text.search(/^(?!\/\/)/m)).trimEnd();
  const file = join(DIST, `${out}.js`);
  writeFileSync(file, `${header}\n${readFileSync(file, "utf8")}`);
}
