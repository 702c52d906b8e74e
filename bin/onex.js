#!/usr/bin/env node
// The onex command: oclif reads the command list from package.json ("oclif" section).
import { readFileSync, writeSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { installedVersion } from "./installed-version.js";
import { runVendoredFile } from "./vendored-file.js";

const require = createRequire(import.meta.url);
// Before anything imports them: see useVendoredPackages.
useVendoredPackages(fileURLToPath(new URL("../dist/cli/vendor/", import.meta.url)));
const { Config, execute, settings } = await import("@oclif/core");

// onex always runs its built JavaScript; never let oclif swap in TypeScript sources
// (it does by default when NODE_ENV is "test" or "development").
settings.enableAutoTranspile = false;

// A closed pipe (`onex ... | head -1`) ends the command quietly with success, as other Unix tools do.
// Any other failure to write (a full disk, `> /dev/full`) is ONEX_E_WRITE_FAILED, exit 73, not a
// stack trace; temporary output files are removed on the way out, as on every exit.
// Ahead of @oclif/core's own listener, which rethrows.
process.stdout.prependListener("error", (error) => {
  if (error.code === "EPIPE") process.exit(0);
  try {
    process.stderr.write(`error ONEX_E_WRITE_FAILED: cannot write standard output: ${error.code ?? error.message}\n`);
  } catch {
    // stderr is gone too: the exit status alone tells
  }
  process.exit(73);
});
// Standard output redirected to a file (or a device such as /dev/full) is Node's SyncWriteStream,
// whose _write calls fs.writeSync once and ignores how many bytes it wrote: a short write (the file
// reaching `ulimit -f` or its file system's size limit, the disk filling up) dropped the rest, and
// when no later write failed, the command ended with 0. Write the rest as write(2) asks; the retry fails with
// the reason (EFBIG, ENOSPC), which the listener above makes ONEX_E_WRITE_FAILED, exit 73.
// A pipe or terminal is a net.Socket, whose writes libuv finishes itself.
if (process.stdout.constructor.name === "SyncWriteStream") {
  process.stdout._write = function (chunk, _encoding, callback) {
    try {
      for (let done = 0; done < chunk.length; ) {
        const written = writeSync(this.fd, chunk, done, chunk.length - done);
        if (written <= 0) throw new Error(`only ${done} of ${chunk.length} bytes were written`);
        done += written;
      }
    } catch (error) {
      callback(error);
      return;
    }
    callback();
  };
}
// Standard error carries diagnostics, not results: when it cannot be written (its reader gone,
// `2>/dev/full`), what would have gone there is dropped and the command ends with its own status.
// Exiting here made a refused run (a missing input, exit 3) end with 0 as soon as it said why.
// A run still writing an output file fails instead (output-file.ts): nothing would say it was cut short.
process.stderr.on("error", () => {
  process.stderr.write = (_chunk, ...rest) => {
    const callback = rest.find((arg) => typeof arg === "function");
    if (callback !== undefined) process.nextTick(callback);
    return true;
  };
});

// oclif flushes standard output with an empty write as a command ends; a device that refuses
// every write (`> /dev/full`) must not fail a command that printed nothing there.
const writeStdout = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  if (chunk.length > 0) return writeStdout(chunk, ...rest);
  const callback = rest.find((arg) => typeof arg === "function");
  if (callback !== undefined) process.nextTick(callback);
  return true;
};

const config = await Config.load(import.meta.url);
const args = helpArguments(process.argv.slice(2));
const problem = usageProblem(config, args);
if (problem === undefined) {
  await execute({ dir: import.meta.url, args, loadOptions: config });
  await exitWhenDone();
} else {
  process.stderr.write(`error ONEX_E_USAGE: ${problem}\n`);
  process.exitCode = 2;
}

/**
 * The command has returned, so nothing it started is needed any more. Once what it printed is
 * written, the process ends within a second even if something still holds it open: the NATS
 * client leaves the socket of a connection that never completed (a port that accepts and never
 * speaks NATS, a server stopped) open, and it kept a failed command waiting forever.
 */
async function exitWhenDone() {
  // Polled: "drain" comes only after a write that filled the buffer (on Linux, writes to a pipe or file are synchronous and nothing waits here).
  for (const stream of [process.stdout, process.stderr]) while (stream.writableLength > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  setTimeout(() => process.exit(), 1_000).unref();
}

/** What is wrong with the command words, in the ONEX_E_USAGE format oclif's own messages lack. */
function usageProblem(config, argv) {
  const unknown = unknownCommand(config, argv);
  if (typeof unknown === "object") return `onex ${unknown.command} takes no arguments; unexpected "${unknown.extra}" (see \`onex help ${unknown.command}\`)`;
  if (unknown === undefined) return undefined;
  const suggestion = closestCommand(config, unknown);
  return `unknown command "${unknown}"${suggestion ? `; did you mean "${suggestion}"?` : ""} (see \`onex help\`)`;
}

/** `onex help [command]` and `-h` mean `--help`, as users of other tools expect. */
function helpArguments(argv) {
  if (argv[0] === "help") return [...argv.slice(1), "--help"];
  return argv.map((arg) => (arg === "-h" ? "--help" : arg));
}

/** The words naming a command or topic that does not exist, an argument to a command that takes none, or undefined. */
function unknownCommand(config, argv) {
  const words = [];
  for (const arg of argv) {
    if (arg.startsWith("-")) break;
    words.push(arg);
  }
  if (words.length === 0) return undefined;
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(":");
    // A command may take further words as arguments; a topic alone shows its commands.
    const command = config.findCommand(id);
    if (command && n < words.length && Object.keys(command.args ?? {}).length === 0) return { command: words.slice(0, n).join(" "), extra: words[n] };
    if (command || (n === words.length && config.findTopic(id))) return undefined;
  }
  // The first word, or a topic and the word after it.
  return config.findTopic(words[0]) && words.length > 1 ? `${words[0]} ${words[1]}` : words[0];
}

function closestCommand(config, typed) {
  const names = [...config.commandIDs, ...config.topics.map((t) => t.name)].map((id) => id.replace(/:/g, " "));
  let best;
  let bestDistance = Infinity;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(typed.length / 3)) ? best : undefined;
}

function editDistance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

/**
 * Loads @oclif/core, yaml and the NATS client from the build's one-file copies of them
 * (dist/cli/vendor, see cli/vendor-bundles.mjs): a module at a time, @oclif/core took 85 ms
 * of CPU to load, yaml 32 and the NATS client 36; as one file each, 40, 7 and 17; and run
 * with the code caches the build made of them (bin/vendored-file.js), an `artifact fetch` up
 * to its connection took 133 ms of CPU instead of 162 (median of 15 each, interleaved). Each
 * package's copy goes into require.cache under the package's own entry module, which
 * `import` of a CommonJS package reads too, so every importer gets this one copy; it loads
 * when something first imports the package (not every command reads YAML or speaks NATS).
 * A file is used only when every package in it is the version installed, and only if it
 * loads: a missing or broken copy leaves the package to load from its own modules.
 */
function useVendoredPackages(dir) {
  let vendored;
  try {
    vendored = JSON.parse(readFileSync(join(dir, "vendored.json"), "utf8"));
  } catch {
    return; // not built: every package loads as usual
  }
  for (const [file, { packages }] of Object.entries(vendored)) {
    const entries = {};
    try {
      for (const [name, version] of Object.entries(packages)) {
        entries[name] = require.resolve(name);
        if (installedVersion(entries[name], name) !== version) throw new Error(`${name} is not ${version}`);
      }
    } catch {
      continue; // another version (or none) installed: its own modules load
    }
    for (const [name, entry] of Object.entries(entries)) {
      const settle = (module) => Object.defineProperty(require.cache, entry, { value: module, writable: true, configurable: true, enumerable: true });
      const load = () => {
        let exports;
        try {
          const path = join(dir, file);
          exports = (require.cache[path] ?? runVendoredFile(path).module).exports[name];
        } catch {
          // A copy that is missing, cut short or broken: the package's own modules load instead.
        }
        if (exports === undefined) {
          delete require.cache[entry];
          return undefined;
        }
        const module = new Module(entry);
        module.filename = entry;
        module.exports = exports;
        module.loaded = true;
        settle(module);
        return module;
      };
      Object.defineProperty(require.cache, entry, { get: load, set: settle, configurable: true, enumerable: true });
    }
  }
}
