/**
 * Makes each version's entry point of @onex/sdk one ES module: after `tsc -b` has checked
 * and compiled the generated TypeScript file by file, `dist/v<version>/index.js` is
 * replaced by an esbuild bundle of that version's modules (messages, validators, subjects,
 * manifest), built from the same TypeScript. `@onex/runtime` stays external, so its classes
 * and registries still exist once.
 *
 * Why: a service's cold start is mostly module loading; one file instead of five takes a
 * version's import from ~14.5 to ~10 ms on the 2-core test machine. The generated header
 * (the input hashes `onex` checks an SDK's freshness by) stays at the top of the bundle. The
 * other compiled files stay beside it: the transforms import a version's validators and
 * manifest (pure functions and constants, harmless to load twice), and the declarations
 * still describe each module. Every build bundles again, from the sources, so a bundle is
 * never older than any module in it.
 *
 *   node generated/bundle.mjs     (run by `npm run build`, after tsc)
 */
import { build } from "esbuild";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SDK = dirname(fileURLToPath(import.meta.url));

for (const entry of readdirSync(SDK, { withFileTypes: true })) {
  if (!entry.isDirectory() || !/^v\d/.test(entry.name)) continue;
  const source = join(SDK, entry.name, "index.ts");
  const text = readFileSync(source, "utf8");
  // The generated header: every line comment before the first line of code.
  const header = text.slice(0, text.search(/^(?!\/\/)/m)).trimEnd();
  await build({
    entryPoints: [source],
    outfile: join(SDK, "dist", entry.name, "index.js"),
    allowOverwrite: true,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    tsconfig: join(SDK, "tsconfig.build.json"),
    external: ["@onex/runtime", "@onex/runtime/*"],
    banner: { js: header },
    legalComments: "none",
    logLevel: "warning",
  });
}
