/**
 * Writes oclif.manifest.json, the list of onex's commands with their flags, arguments and
 * help, as oclif reads it at start-up (run by `npm run build`, after tsc). With it, a run
 * loads only the module of the command it runs; without it, oclif loads every command
 * module (and all they import) to learn the same facts, which was most of a short command's
 * start-up (`onex --version` 0.32 s). Any earlier manifest is removed first, since oclif
 * would read it instead of the commands. It also writes the one-file copies of the packages
 * every run loads (cli/vendor-bundles.mjs).
 *
 *   node cli/write-oclif-manifest.mjs
 */
import { Config } from "@oclif/core";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeVendorBundles } from "./vendor-bundles.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FILE = join(ROOT, "oclif.manifest.json");
const BUILT = join(ROOT, "dist", "cli", "commands");

// oclif takes every module under dist/cli/commands for a command, and tsc never removes the
// output of a source that was deleted or renamed: such leftovers go, not into the manifest.
for (const file of readdirSync(BUILT, { recursive: true, encoding: "utf8" })) {
  const source = file.replace(/\.d\.ts$|\.js$/, ".ts");
  if (source !== file && !existsSync(join(ROOT, "cli", "commands", source))) rmSync(join(BUILT, file));
}
rmSync(FILE, { force: true });
const config = await Config.load(ROOT);
const manifest = config.getPluginsList().find((plugin) => plugin.root === config.root)?.manifest;
if (manifest === undefined || Object.keys(manifest.commands).length === 0) throw new Error("oclif found no onex commands: build first (tsc writes dist/cli/commands)");
writeFileSync(FILE, `${JSON.stringify(manifest, null, 2)}\n`);
await writeVendorBundles(ROOT);
