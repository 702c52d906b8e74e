/**
 * `onex generate` and `onex docs` stopped by SIGINT, SIGTERM or SIGHUP while they write: the run
 * ends with 128 + the signal's number, and leaves the whole new tree with no temporary beside it.
 * Without a handler the signal killed the process wherever it was, and a signal sent while the
 * files were being written left their marked temporaries (`.<name>.onex-<pid>.tmp`) and a tree
 * of old and new files. The signal is sent by the test the moment the first temporary appears,
 * to the built CLI, with a synthetic manifest of hundreds of types making the writing long
 * (megabytes for generate, a page per type for docs).
 */
import { spawn } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeSyntheticSchemas } from "../../bench/generate-synthetic.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";
import { BIN } from "../cli/cli-harness.js";

const root = mkdtempSync(join(tmpdir(), "onex-signals-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const schemas = join(root, "schemas");

type Tree = Record<string, string | null>;

/** Every entry under `dir`: a file's text, null for a folder. */
function tree(dir: string): Tree {
  const entries = readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name));
  return Object.fromEntries(entries.sort().map((path) => [path.slice(dir.length + 1), textOf(path)]));
}

function textOf(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** When the test sends the signal: as the first temporary appears in `out`, or `afterMs` after the start. */
type SignalAt = { signal: NodeJS.Signals } & ({ out: string } | { afterMs: number });

/** Runs the built CLI to its end; resolves with how it ended. */
function run(args: string[], at?: SignalAt): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const watcher =
      at !== undefined && "out" in at
        ? watch(at.out, { recursive: true }, (_event, name) => {
            if (name === null || !/\.onex-\d+\.tmp$/.test(name)) return;
            watcher!.close();
            child.kill(at.signal);
          })
        : undefined;
    const timer = at !== undefined && "afterMs" in at ? setTimeout(() => child.kill(at.signal), at.afterMs) : undefined;
    child.on("error", reject);
    child.on("close", (code, signal) => {
      watcher?.close();
      clearTimeout(timer);
      resolve({ code, signal, stderr, ms: performance.now() - started });
    });
  });
}

const commands = {
  generate: (out: string) => ["generate", "--schemas", schemas, "--out", out],
  docs: (out: string) => ["docs", "--schemas", schemas, "--out", out],
};
const complete: Record<string, Tree> = {};
const finished: Record<string, string> = {};
const took: Record<string, number> = {};

beforeAll(async () => {
  await writeSyntheticSchemas(join(PROJECT_ROOT, "schemas"), schemas, 300);
  for (const [name, args] of Object.entries(commands)) {
    const out = join(root, `${name}-complete`);
    const done = await run(args(out));
    expect([done.code, done.stderr]).toEqual([0, expect.any(String)]);
    complete[name] = tree(out);
    finished[name] = out;
    took[name] = done.ms;
  }
}, 120_000);

/** A copy of the complete tree every file of which the run changes (each keeps its marker, so docs rewrites it). */
function oldTree(command: keyof typeof commands, name: string): { out: string; old: Tree } {
  const out = join(root, `${command}-${name}`);
  cpSync(finished[command]!, out, { recursive: true });
  for (const [file, text] of Object.entries(tree(out))) if (text !== null) appendFileSync(join(out, file), command === "docs" ? "<!-- old -->\n" : "// old\n");
  return { out, old: tree(out) };
}

const temporaries = (left: Tree) => Object.keys(left).filter((file) => /\.onex-\d+\.tmp$/.test(file));

describe.each(Object.keys(commands) as (keyof typeof commands)[])("onex %s stopped by a signal", (command) => {
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const)("by %s while it writes: exit %i, the new tree whole, no temporary left", async (signal, status) => {
    const { out } = oldTree(command, signal);
    const ended = await run(commands[command](out), { out, signal });
    const left = tree(out);
    expect(temporaries(left)).toEqual([]);
    expect(left).toEqual(complete[command]);
    // Sent as the first temporary appears, the signal is handled once every file is in place; a run
    // that had only its exit left by then ends as it would have (0): the signal was never read.
    expect([[status, null], [0, null]]).toContainEqual([ended.code, ended.signal]);
  }, 60_000);

  it("by SIGTERM half-way through its run (while it generates, on most machines): the old tree or the new one, nothing between", async () => {
    const { out, old } = oldTree(command, "half-way");
    const ended = await run(commands[command](out), { afterMs: took[command]! / 2, signal: "SIGTERM" });
    const left = tree(out);
    expect(temporaries(left)).toEqual([]);
    // Stopped before it wrote, by the signal itself: nothing written. Else it wrote all, then ended.
    if (ended.signal === "SIGTERM") expect(left).toEqual(old);
    else expect([[143, complete[command]], [0, complete[command]]]).toContainEqual([ended.code, left]);
  }, 60_000);
});
