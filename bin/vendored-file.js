// Shared by bin/onex.js (which runs the one-file copies of packages in dist/cli/vendor) and
// cli/vendor-bundles.mjs (which writes them and, with these same functions, their code caches).
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

const DIGEST_BYTES = 32;

/**
 * Runs the CommonJS file `file` as Node's require would, compiled with V8's code cache from
 * `file.cache` when it was made from this very source: a cache saves compiling the file's
 * functions (parsing them, making their bytecode) at every start. Node 20 can neither make nor
 * use a code cache for what it loads itself, hence this loader. The cache begins with the
 * SHA-256 of the source it was made from, since V8 checks only a source's length before it
 * trusts a cache; one made from another source is not used, and one V8 refuses (another V8
 * version or other flags) costs only the compile it would have saved.
 *
 * Code compiled this way cannot use `import()` (Node 20 wants --experimental-vm-modules for
 * it): the copies call `__onexImport`, given here and bound to this ES module's `import()`.
 * Their specifiers are absolute file URLs, so where it resolves from does not matter
 * (cli/vendor-bundles.mjs rewrites the calls and refuses a copy with any left).
 *
 * Returns the module (in require.cache under `file`, as require leaves it) and what
 * writeCodeCache needs.
 */
export function runVendoredFile(file) {
  const bytes = readFileSync(file);
  const digest = createHash("sha256").update(bytes).digest();
  let cachedData;
  try {
    const cache = readFileSync(`${file}.cache`);
    if (digest.equals(cache.subarray(0, DIGEST_BYTES))) cachedData = cache.subarray(DIGEST_BYTES);
  } catch {
    // no cache: compile from the source
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __onexImport) {${bytes.toString("utf8")}\n})`, { filename: file, cachedData });
  const module = new Module(file);
  module.filename = file;
  const require = createRequire(file);
  require.cache[file] = module;
  try {
    script.runInThisContext().call(module.exports, module.exports, require, module, file, dirname(file), (specifier) => import(specifier));
  } catch (error) {
    delete require.cache[file];
    throw error;
  }
  module.loaded = true;
  return { module, file, digest, script };
}

/** Writes the code cache of a file runVendoredFile ran (with the functions its run compiled), moved into place whole. */
export function writeCodeCache({ file, digest, script }) {
  writeFileSync(`${file}.cache.tmp`, Buffer.concat([digest, script.createCachedData()]));
  renameSync(`${file}.cache.tmp`, `${file}.cache`);
}
