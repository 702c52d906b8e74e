/**
 * bench:migrate — 1,000,000 NDJSON messages v0.2 -> v0.1 through `onex migrate` (compiled
 * adapters, every input validated, exact JSON reader) on its worker threads (one per core)
 * and on one core (`taskset -c 0`, one worker: transforms never run on the command's own
 * thread, which reads and writes), through jq running the equivalent program
 * (bench/migrate.jq: no validation, no exact integers), and through a Cambria-style run-time
 * lens interpreter (bench/lens-interpreter.ts: the same reader, validators, residue code and
 * writer on one thread, lenses walked per message). Then the conversion alone, compiled
 * adapters against the interpreter, in process on messages already read and validated.
 * Median of BENCH_ROUNDS rounds (commands interleaved; use an odd number), with CPU time over
 * all threads (steadier than wall time on a shared machine) and onex's peak RSS at a tenth of
 * the input to show memory stays flat. Not a test: it never fails on timing.
 *   BENCH_MESSAGES=200000 BENCH_ROUNDS=3 npm run bench:migrate
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { once } from "node:events";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const N = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
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
  /** User + system CPU time over all threads: what the run costs, whatever else the machine is doing. */
  cpuSeconds: number;
  peakMiB: number;
  rate: number;
}

/** Runs a command with stdin from `input` and stdout to /dev/null under GNU time; returns wall time, CPU time and peak RSS. */
function measure(label: string, command: string, args: string[], input: string, count: number): Run {
  const result = spawnSync("/usr/bin/time", ["-f", "%e %U %S %M", "sh", "-c", `"$0" "$@" < '${input}' > /dev/null`, command, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${label} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  const [seconds, user, system, kib] = result.stderr.trim().split("\n").at(-1)!.split(" ").map(Number) as [number, number, number, number];
  return { label, seconds, cpuSeconds: user + system, peakMiB: kib / 1024, rate: count / seconds };
}

const onex = [join(ROOT, "bin/onex.js"), "migrate", "v0.2", "v0.1", "-"];
// One core alone: the one worker and the command's thread share CPU 0.
const onexOneCore = ["-c", "0", process.execPath, ...onex, "--workers", "1"];
const interpreter = ["--import", "tsx", join(ROOT, "bench/lens-interpreter.ts"), join(ROOT, "schemas")];
const jq = ["-c", "-f", join(ROOT, "bench/migrate.jq")];

// The three must agree on the output before their speed means anything.
const sample = join(dir, "sample.ndjson");
await writeInput(sample, 1200);
const canonical = (cmd: string, args: string[]) =>
  execFileSync("sh", ["-c", `"$0" "$@" < '${sample}' | jq -cS .`, cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
const expected = canonical(process.execPath, onex);
for (const [label, cmd, args] of [["jq", "jq", jq], ["lens interpreter", process.execPath, interpreter], ["onex on one core", "taskset", onexOneCore]] as const) {
  if (canonical(cmd, [...args]) !== expected) throw new Error(`${label} does not produce the same v0.1 messages as onex migrate`);
}

const input = join(dir, "v0.2.ndjson");
const small = join(dir, "v0.2-small.ndjson");
await writeInput(input, N);
await writeInput(small, Math.max(1, Math.floor(N / 10)));
console.log(`bench:migrate — ${N.toLocaleString("en")} NDJSON messages v0.2 -> v0.1 (outputs cross-checked on 1,200 messages)\n`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const commands: [string, string, string[]][] = [
  [`onex migrate, ${availableParallelism()} workers`, process.execPath, onex],
  ["onex migrate, one core (taskset)", "taskset", onexOneCore],
  ["jq (bench/migrate.jq)", "jq", jq],
  ["run-time lens interpreter (one thread)", process.execPath, interpreter],
];
// Wall time on a shared machine depends on what else runs there: the load average tells how busy it was
// (a run adds about 1 on one thread, 2 on workers, to the 1-minute figure).
const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(", ");
const perCommand: Run[][] = commands.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [label, cmd, args]] of commands.entries()) perCommand[i]!.push(measure(label, cmd, args, input, N));
}
const runs = perCommand.map((rs) => ({ ...rs[0]!, rate: median(rs.map((r) => r.rate)), seconds: median(rs.map((r) => r.seconds)), cpuSeconds: median(rs.map((r) => r.cpuSeconds)), peakMiB: Math.max(...rs.map((r) => r.peakMiB)) }));
const loadAtEnd = loadavg().map((l) => l.toFixed(2)).join(", ");
const smallRuns = [measure("onex, 1/10 input", process.execPath, onex, small, Math.floor(N / 10)), measure("onex on one core, 1/10 input", "taskset", onexOneCore, small, Math.floor(N / 10))];

const pad = (s: string, n: number) => s.padEnd(n);
console.log(`${availableParallelism()} cores; median of ${ROUNDS} rounds; load average (1, 5, 15 min) ${loadAtStart} before the rounds, ${loadAtEnd} after\n`);
console.log(`${pad("", 42)}${pad("msgs/s", 12)}${pad("seconds", 10)}${pad("CPU s", 9)}${pad("msgs/CPU s", 13)}peak RSS`);
for (const r of runs) console.log(`${pad(r.label, 42)}${pad(Math.round(r.rate).toLocaleString("en"), 12)}${pad(r.seconds.toFixed(2), 10)}${pad(r.cpuSeconds.toFixed(2), 9)}${pad(Math.round(N / r.cpuSeconds).toLocaleString("en"), 13)}${r.peakMiB.toFixed(0)} MiB`);
const [pooled, oneThread, jqRun, interpreted] = runs as [Run, Run, Run, Run];
console.log(`\nonex (${availableParallelism()} workers) vs jq:        ${(pooled.rate / jqRun.rate).toFixed(1)}x the rate of jq (target >= 6x)`);
console.log(`onex (one core) vs jq:          ${(oneThread.rate / jqRun.rate).toFixed(1)}x the rate of jq (what one core reaches)`);
console.log(`workers vs one core:            ${(pooled.rate / oneThread.rate).toFixed(2)}x`);
console.log(`onex (one core) vs interpreter: ${(oneThread.rate / interpreted.rate).toFixed(2)}x the rate of the interpreter (same reader, validators and writer; the interpreter has no CLI start-up or SDK check)`);
console.log(`onex peak RSS: ${smallRuns[0]!.peakMiB.toFixed(0)} MiB at ${Math.floor(N / 10).toLocaleString("en")} messages, ${pooled.peakMiB.toFixed(0)} MiB at ${N.toLocaleString("en")}; one core: ${smallRuns[1]!.peakMiB.toFixed(0)} / ${oneThread.peakMiB.toFixed(0)} MiB (flat = streaming)`);

// The conversion alone: the same messages, read and validated once, converted by each.
const { interpretedPairs } = await import("./lens-interpreter.js");
const { versionGraph } = await import("../generated/transforms/index.js");
const { parseJson } = await import("../runtime/json-text.js");
const { runTransformStep } = await import("../runtime/transform.js");
type Message = import("../runtime/transform.js").JsonObject;
const interpretedByType = await interpretedPairs(join(ROOT, "schemas"));
const messages = readFileSync(sample, "utf8").trim().split("\n").map((line) => parseJson(line, { bigIntegers: "bigint" }) as Message);
const step = versionGraph.steps.find((s) => s.older === "0.1" && s.newer === "0.2")!;
const convertAll = (pairOf: (type: string) => import("../runtime/transform.js").TransformPair, times: number) => {
  const start = performance.now();
  for (let t = 0; t < times; t++) for (const message of messages) runTransformStep(message, pairOf(message.type as string), "down");
  return (messages.length * times) / ((performance.now() - start) / 1_000);
};
const compiledRates: number[] = [];
const interpretedRates: number[] = [];
for (let round = 0; round < 7; round++) {
  compiledRates.push(convertAll((type) => step.pairs[type]!, 50));
  interpretedRates.push(convertAll((type) => interpretedByType.get(type)!, 50));
}
const compiledRate = median(compiledRates);
const interpretedRate = median(interpretedRates);
console.log(`\nconversion alone (${messages.length.toLocaleString("en")} messages x 50, median of 7): compiled ${Math.round(compiledRate).toLocaleString("en")}/s, interpreted ${Math.round(interpretedRate).toLocaleString("en")}/s, ${(compiledRate / interpretedRate).toFixed(2)}x`);
// The field conversion by itself (the adapter's `down`, no residue read or written): the part
// compiling replaces. The residue runtime around it (runTransformStep) is shared by both.
const fieldsAll = (pairOf: (type: string) => import("../runtime/transform.js").TransformPair, times: number) => {
  const start = performance.now();
  for (let t = 0; t < times; t++) for (const message of messages) pairOf(message.type as string).down(message, {}, {});
  return (messages.length * times) / ((performance.now() - start) / 1_000);
};
const compiledFields: number[] = [];
const interpretedFields: number[] = [];
for (let round = 0; round < 7; round++) {
  compiledFields.push(fieldsAll((type) => step.pairs[type]!, 50));
  interpretedFields.push(fieldsAll((type) => interpretedByType.get(type)!, 50));
}
console.log(`field conversion only (the adapter's down, no residue): compiled ${Math.round(median(compiledFields)).toLocaleString("en")}/s, interpreted ${Math.round(median(interpretedFields)).toLocaleString("en")}/s, ${(median(compiledFields) / median(interpretedFields)).toFixed(2)}x`);
rmSync(dir, { recursive: true, force: true });
