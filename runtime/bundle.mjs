/**
 * Builds the JavaScript of @onex/runtime: one ES module per entry point of package.json's
 * `exports`, with the code they share in chunks (so every class and registry exists once,
 * whichever entry points a program imports). `tsc -b` writes only the declarations.
 *
 * Why bundle: a service's cold start is mostly module loading. Unbundled, importing a
 * version's SDK loaded 16 runtime modules and four CommonJS packages (ajv's standalone
 * helpers and ajv-formats) through Node's CommonJS translator; bundled, it loads two files.
 * ajv's helpers and ajv-formats are inlined, so a service installs neither; their licences
 * go into dist/THIRD-PARTY-LICENSES.txt. The transports and registry stores stay external:
 * they are optional peers, loaded only by the entry points that need them.
 *
 *   node runtime/bundle.mjs     (run by `npm run build`, after tsc)
 */
import { build } from "esbuild";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const RUNTIME = dirname(fileURLToPath(import.meta.url));
const DIST = join(RUNTIME, "dist");
const pkg = JSON.parse(readFileSync(join(RUNTIME, "package.json"), "utf8"));

// Every export's JavaScript file, built from the TypeScript source of the same name.
const entryPoints = {};
for (const target of Object.values(pkg.exports)) {
  if (typeof target !== "object" || typeof target.default !== "string") continue;
  const out = target.default.replace(/^\.\/dist\//, "").replace(/\.js$/, "");
  entryPoints[out] = join(RUNTIME, `${out}.ts`);
}

// tsc writes declarations only; JavaScript left from an earlier build would be shipped and never used.
for (const file of readdirSync(DIST, { recursive: true, encoding: "utf8" })) {
  if (file.endsWith(".js")) rmSync(join(DIST, file));
}

const peers = Object.keys(pkg.peerDependencies ?? {});
const result = await build({
  absWorkingDir: RUNTIME,
  entryPoints,
  outdir: DIST,
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  external: peers.flatMap((name) => [name, `${name}/*`]),
  // The code every generated SDK links against, in one chunk (see codegen-core.ts).
  inject: [join(RUNTIME, "codegen-core.ts")],
  metafile: true,
  // No keepNames here, unlike the SDK's bundle (generated/bundle.mjs), whose names are set once
  // as a module loads: in the runtime it names every closure as it is made, and a subscription
  // makes several per delivery (onAck, onNak, ...), each a defineProperty: subscribe measured 5%
  // slower. The cost is a few runtime classes named as esbuild binds them (`_RegistryView`).
  logLevel: "warning",
});

// Which runtime sources ended up in which file: the package test maps loaded files back to them.
const sources = {};
for (const [output, { inputs }] of Object.entries(result.metafile.outputs)) {
  sources[relative("dist", output)] = Object.keys(inputs);
}
writeFileSync(join(DIST, "bundle-sources.json"), `${JSON.stringify(sources, null, 2)}\n`);

// The licence of every third-party package whose code is inlined.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (match) packages.set(match[1], input.slice(0, match.index + match[0].length));
}
const notices = [...packages].sort(([a], [b]) => a.localeCompare(b)).map(([name, dir]) => {
  const root = join(RUNTIME, dir);
  const licence = readdirSync(root).find((file) => /^licen[cs]e/i.test(file));
  if (licence === undefined) throw new Error(`${name} is bundled into @onex/runtime but has no licence file in ${root}`);
  const { version, license } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  return `${name}@${version} (${license})\n\n${readFileSync(join(root, licence), "utf8").trim()}\n`;
});
writeFileSync(
  join(DIST, "THIRD-PARTY-LICENSES.txt"),
  `@onex/runtime's JavaScript includes code of the following packages, under these licences.\n\n${notices.join("\n---\n\n")}`,
);
