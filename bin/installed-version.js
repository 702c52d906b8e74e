// Shared by bin/onex.js (which loads a vendored copy only while its package is the installed
// version) and cli/vendor-bundles.mjs (which records the version each copy was built from).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The version of the installed package whose entry module is `entry` (its nearest package.json naming it). */
export function installedVersion(entry, name) {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (pkg.name === name) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
  }
  return undefined;
}
