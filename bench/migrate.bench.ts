/**
 * bench:migrate — 1,000,000 NDJSON messages v0.2 -> v0.1 through `onex migrate` (compiled
 * adapters, every input validated), through jq running the equivalent program
 * (bench/migrate.jq, no validation), and through a Cambria-style run-time lens interpreter
 * (bench/lens-interpreter.ts, same validation and residue code, lenses walked per message).
 * Prints messages/s, peak RSS and ratios, and onex's peak RSS at a tenth of the input to
 * show memory stays flat. Not a test: it never fails on timing.
 *   BENCH_MESSAGES=200000 npm run bench:migrate
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const N = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), "onex-bench-migrate-"));

async function writeInput(file: string, count: number): Promise<void> {
  const examples = readFileSync(join(ROOT, "docs/examples/v0.2.ndjson"), "utf8")
    .trim()
    .split("\n")
    .filter((l) => !/agent\.stopped|artifact\./.test(l));
  const out = createWriteStream(file);
  let chunk = "";
  for (let i = 0; i < count; i++) {
    // A distinct id per message, so no run can profit from identical lines.
    chunk += examples[i % examples.length]!.replace(/"id":"([0-9a-f-]{24})[0-9]{12}"/, `"id":"$1${String(i).padStart(12, "0")}"`) + "\n";
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end(chunk);
  await once(out, "finish");
}

interface Run {
  label: string;
  seconds: number;
  peakMiB: number;
  rate: number;
}

/** Runs a command with stdin from `input` and stdout to /dev/null under GNU time; returns wall time and peak RSS. */
function measure(label: string, command: string, args: string[], input: string, count: number): Run {
  const result = spawnSync("/usr/bin/time", ["-f", "%e %M", "sh", "-c", `"$0" "$@" < '${input}' > /dev/null`, command, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${label} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  const [seconds, kib] = result.stderr.trim().split("\n").at(-1)!.split(" ").map(Number) as [number, number];
  return { label, seconds, peakMiB: kib / 1024, rate: count / seconds };
}

const onex = [join(ROOT, "bin/onex.js"), "migrate", "v0.2", "v0.1", "-"];
const interpreter = ["--import", "tsx", join(ROOT, "bench/lens-interpreter.ts"), join(ROOT, "schemas")];
const jq = ["-c", "-f", join(ROOT, "bench/migrate.jq")];

// The three must agree on the output before their speed means anything.
const sample = join(dir, "sample.ndjson");
await writeInput(sample, 1200);
const canonical = (cmd: string, args: string[]) =>
  execFileSync("sh", ["-c", `"$0" "$@" < '${sample}' | jq -cS .`, cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
const expected = canonical(process.execPath, onex);
for (const [label, cmd, args] of [["jq", "jq", jq], ["lens interpreter", process.execPath, interpreter]] as const) {
  if (canonical(cmd, [...args]) !== expected) throw new Error(`${label} does not produce the same v0.1 messages as onex migrate`);
}

const input = join(dir, "v0.2.ndjson");
const small = join(dir, "v0.2-small.ndjson");
await writeInput(input, N);
await writeInput(small, Math.max(1, Math.floor(N / 10)));
console.log(`bench:migrate — ${N.toLocaleString("en")} NDJSON messages v0.2 -> v0.1 (outputs cross-checked on 1,200 messages)\n`);

const runs = [
  measure("onex migrate (compiled adapters)", process.execPath, onex, input, N),
  measure("jq (bench/migrate.jq)", "jq", jq, input, N),
  measure("run-time lens interpreter", process.execPath, interpreter, input, N),
];
const smallRun = measure("onex migrate, 1/10 input", process.execPath, onex, small, Math.floor(N / 10));

const pad = (s: string, n: number) => s.padEnd(n);
console.log(`${pad("", 36)}${pad("msgs/s", 12)}${pad("seconds", 10)}peak RSS`);
for (const r of runs) console.log(`${pad(r.label, 36)}${pad(Math.round(r.rate).toLocaleString("en"), 12)}${pad(r.seconds.toFixed(2), 10)}${r.peakMiB.toFixed(0)} MiB`);
const [compiled, jqRun, interpreted] = runs as [Run, Run, Run];
console.log(`\nonex vs jq:               ${(compiled.rate / jqRun.rate).toFixed(1)}x faster (target >= 5x)`);
console.log(`onex vs lens interpreter: ${(compiled.rate / interpreted.rate).toFixed(2)}x faster`);
console.log(`onex peak RSS: ${smallRun.peakMiB.toFixed(0)} MiB at ${Math.floor(N / 10).toLocaleString("en")} messages, ${compiled.peakMiB.toFixed(0)} MiB at ${N.toLocaleString("en")} (flat = streaming)`);
rmSync(dir, { recursive: true, force: true });
