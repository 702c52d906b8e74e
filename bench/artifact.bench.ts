/**
 * bench:artifact — distributes a 256 MB artifact to 4 fetchers (a) through the swarm and
 * (b) with each fetcher downloading the whole file from the seeder over plain HTTP, and
 * prints wall time and the bytes the seeder sent, with ratios. Every peer is its own
 * process, as deployments run them: the seeder is `onex artifact publish`, the swarm
 * fetchers `onex artifact fetch` (seeding to each other until all are done), the plain
 * clients `bench/whole-file-fetch.ts`; only nats-server is shared. Loopback has no uplink
 * limit, so the run is repeated with the seeder's upload capped (ONEX_BENCH_UPLINK_MBS,
 * default 100 MB/s), which is the situation a swarm exists for. Wall time runs from starting
 * the fetch processes to the last one finishing, process start-up and NATS connect included
 * for both. Each figure is the median of ONEX_BENCH_ROUNDS rounds (default 3), the sides
 * interleaved so drift in machine load hits all, and each round's peers start only once the
 * memory the last round freed is in the same state for every side (memoryReported). Beside
 * each, the CPU seconds all the peer processes of the round used (the seeder's start-up
 * hashing included, on both sides): when they come to about the cores times the wall time, the
 * machine's CPU is the limit, not the network or the protocol. And what the work directory's
 * disk wrote meanwhile and how long it was busy (see diskCounters). Timings are printed, never
 * asserted.
 *
 * The peer, (b), is the simplest thing that works: every client streams the whole file from
 * the one origin and verifies it afterwards. It does not share load, resume, or survive the
 * origin going away; its cost is all on the origin's uplink. Its origin is the seeder's own
 * process (`onex artifact publish`, the file through a Node stream, 64 KiB at a time); a server
 * that hands the kernel the file's pages (sendfile) would spend less CPU serving, which on 2
 * cores is CPU the clients get: in the run of 4 December 2026, 1.5 of (b)'s 6.0 CPU s uncapped
 * were the origin's. It also never flushes its file to disk: the bench removes each round's
 * files while the kernel still holds them dirty, so (b)'s bytes never reach the disk at all,
 * where every swarm fetcher syncs its file before it renames it into place (the promise that a
 * crash never leaves a complete-looking file). (c) is (b) with that same flush (fsync before
 * the verification), the same end state on disk as a swarm fetch.
 *
 *   npm run build && npm run bench:artifact       (ONEX_BENCH_SIZE_MB=256, ONEX_BENCH_FETCHERS=4, ONEX_BENCH_ROUNDS=3)
 */
import { spawn, spawnSync } from "node:child_process";
import { build } from "esbuild";
import { existsSync, readFileSync, statSync } from "node:fs";
import { open, rm, writeFile } from "node:fs/promises";
import { availableParallelism, freemem } from "node:os";
import { join } from "node:path";
import { rootHex } from "../runtime/dataplane/descriptor.js";
import { publishProcess, startPeer, waitForOutput, writeKeyFiles, type CliProcess } from "../test/dataplane/cli-peers.js";
import { tempDir, writeRandomFile } from "../test/dataplane/fixtures.js";
import { applyBundledStreams } from "../test/jetstream/fixtures.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { PROJECT_ROOT } from "../test/support/temp-schemas.js";

const MB = 1 << 20;
const SIZE = Number(process.env.ONEX_BENCH_SIZE_MB ?? 256) * MB;
const FETCHERS = Number(process.env.ONEX_BENCH_FETCHERS ?? 4);
const CAP = Number(process.env.ONEX_BENCH_UPLINK_MBS ?? 100) * 1_000_000;
const ROUNDS = Math.max(1, Number(process.env.ONEX_BENCH_ROUNDS ?? 3));
// ONEX_BENCH_CPU_PROF=DIR writes a V8 CPU profile of every peer process into DIR (Node refuses --cpu-prof in NODE_OPTIONS).
const PROFILE_DIR = process.env.ONEX_BENCH_CPU_PROF;
// ONEX_BENCH_NODE_ARGS adds options for node to the swarm fetchers (e.g. --trace-gc; their stdout is shown with ONEX_BENCH_VERBOSE).
const nodeArgs = (role: string) => [
  ...(PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=round${round}-${role}.cpuprofile`] : []),
  ...(role.startsWith("fetcher") ? (process.env.ONEX_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []) : []),
];

interface Outcome {
  wallMs: number;
  seederBytes: number;
  /** CPU seconds of every peer process of the round (seeder and fetchers), from their exit. */
  cpuS: number;
  /** Of which the seeder's, from its start (describing and hashing the file) to its stop. */
  seederCpuS: number;
  /** Of which the seeder's before the fetchers started (describing, hashing, joining). */
  seederStartCpuS: number;
  /** Of which user (not kernel) time, all processes. */
  userS: number;
  /** What the work directory's disk wrote while the peers ran, and how long it was busy; undefined off a block device (tmpfs). */
  disk: DiskWork | undefined;
}

interface DiskWork {
  writtenBytes: number;
  busyS: number;
}

/** Fields of a /proc/PID/stat line after the command name. */
function procStat(pid: number | "self"): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds (user, system) of this process's children that have exited (cutime, cstime; USER_HZ 100). */
function reapedChildrenCpu(): { user: number; sys: number } {
  const fields = procStat("self");
  return { user: Number(fields[13]) / 100, sys: Number(fields[14]) / 100 };
}

/** CPU seconds a running process has used so far (utime + stime). */
function processCpuS(pid: number): number {
  const fields = procStat(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * The work directory's block device's counters (/sys/dev/block/MAJOR:MINOR/stat): bytes written and the time it
 * had I/O in flight. A swarm fetcher syncs its file before it reports, so its round waits for the
 * disk to take 4 × the artifact; (b) removes its files before they are written back, so its
 * disk does nothing. On a VM whose disk is slower than the transfer, that wait is the swarm's
 * floor, and it moves with the disk (here, a 1 GiB file written and flushed took 0.75-3.7 s as a
 * new file, and 0.33 s rewritten in place; each round's files are new): the figures say how
 * much of a round it was.
 */
function diskCounters(): DiskWork | undefined {
  const dev = statSync(work.dir).dev;
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  try {
    const fields = readFileSync(`/sys/dev/block/${major}:${minor}/stat`, "utf8").trim().split(/\s+/).map(Number);
    // Field 7: sectors written (512 bytes each, whatever the device's own size); field 10: ms with I/O in flight.
    return { writtenBytes: fields[6]! * 512, busyS: fields[9]! / 1000 };
  } catch {
    return undefined; // not a block device (tmpfs), or no sysfs
  }
}

function diskSince(before: DiskWork | undefined): DiskWork | undefined {
  const after = diskCounters();
  return before && after && { writtenBytes: after.writtenBytes - before.writtenBytes, busyS: after.busyS - before.busyS };
}

const nats = await startNatsServer();
await applyBundledStreams(nats.url);
const work = await tempDir("onex-bench-artifact-");
const seederKey = await writeKeyFiles(work.dir, "seeder");
const fetcherKeys = await Promise.all(Array.from({ length: FETCHERS }, (_, i) => writeKeyFiles(work.dir, `fetcher-${i}`)));
const file = join(work.dir, "artifact.bin");
// The plain client runs as bundled JavaScript, as the swarm fetchers run the built onex:
// through tsx it paid about a quarter of a CPU second per process transpiling at start-up.
const plainClient = join(work.dir, "whole-file-fetch.mjs");
await build({ entryPoints: [join(PROJECT_ROOT, "bench", "whole-file-fetch.ts")], outfile: plainClient, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "warning" });
let round = 0;

/** Stops the seeder and reads what it served from its last words. */
async function seederBytes(seeder: CliProcess, cpu: { seederS: number }): Promise<number> {
  cpu.seederS = processCpuS(seeder.child.pid!);
  await seeder.stop();
  const served = /served (\{.*\})/.exec(seeder.stderr());
  if (!served) throw new Error(`the seeder did not say what it served:\n${seeder.stderr()}`);
  return (JSON.parse(served[1]!) as { bytes: number }).bytes;
}

function seed(uplink: number | undefined, name: string) {
  return publishProcess(nats.url, file, { name, version: "1" }, seederKey, zoneOf(round), ["--piece-size", String(Number(process.env.ONEX_BENCH_PIECE_KB ?? 1024) * 1024), ...(uplink ? ["--upload-limit", String(uplink)] : [])], nodeArgs("seeder"));
}

/**
 * Each round's peers meet in a zone of their own, so each round starts from the same state: a
 * swarm reads its zone's stream from the start and checks every earlier announcement before
 * it decides, and in one zone the fetchers of the tenth round replayed (verified, judged) the
 * nine rounds before theirs, about 120 signed messages a round. (The streams refuse purges.)
 */
const zoneOf = (r: number) => `zone.round${r}.org`;

/** (a) One seeder, FETCHERS fetch processes through the swarm at once, each seeding until all are done. */
async function swarm(uplink?: number): Promise<Outcome> {
  round++;
  const cpuBefore = reapedChildrenCpu();
  const cpu = { seederS: 0, seederStartS: 0 };
  const seeder = await seed(uplink, `bench/artifact-${round}`);
  const trust = ["--publisher", seederKey.pub, "--trust", seederKey.pub, ...fetcherKeys.flatMap((k) => ["--trust", k.pub])];
  cpu.seederStartS = processCpuS(seeder.child.pid!);
  await memoryReported();
  const disk = diskCounters();
  const started = performance.now();
  const fetchers = fetcherKeys.map((k, i) =>
    startPeer(["artifact", "fetch", `bench/artifact-${round}@1`, "--out", join(work.dir, `swarm-${round}-${i}.bin`), "--key", k.key, "--zone", zoneOf(round), "--server", nats.url, "--stall", "120s", "--seed-for", "10m", ...trust], nodeArgs(`fetcher${i}`)),
  );
  if (process.env.ONEX_BENCH_VERBOSE) console.error(`round ${round}: seeder ${seeder.child.pid}, fetchers ${fetchers.map((f) => f.child.pid).join(" ")}`);
  // Done when every fetcher printed its summary (it then keeps seeding for the others).
  await Promise.all(fetchers.map((f) => waitForOutput(f, (out) => out.includes('"root_hash"'), 600_000)));
  const wallMs = performance.now() - started;
  const written = diskSince(disk);
  await Promise.all(fetchers.map((f) => f.stop()));
  if (process.env.ONEX_BENCH_VERBOSE) for (const f of fetchers) console.error(f.stdout().trim());
  const bytes = await seederBytes(seeder, cpu);
  for (let i = 0; i < FETCHERS; i++) await rm(join(work.dir, `swarm-${round}-${i}.bin`));
  return outcome(wallMs, bytes, cpuBefore, cpu, written);
}

/** (b) FETCHERS processes each GET the whole file from the seeder over plain HTTP, at once, then verify it; (c) with `sync`, flush it to disk first. */
async function plainHttp(uplink: number | undefined, sync: boolean): Promise<Outcome> {
  round++;
  const cpuBefore = reapedChildrenCpu();
  const cpu = { seederS: 0, seederStartS: 0 };
  const seeder = await seed(uplink, `bench/plain-${round}`);
  const descriptorFile = join(work.dir, `descriptor-${round}.json`);
  const descriptor = JSON.parse(seeder.stdout().trim().split("\n")[0]!) as { root_hash: string };
  await writeFile(descriptorFile, JSON.stringify(descriptor));
  const url = `${/at (http:\/\/\S+)/.exec(seeder.stderr())![1]}/v1/artifacts/${rootHex(descriptor.root_hash)}/file`;
  cpu.seederStartS = processCpuS(seeder.child.pid!);
  await memoryReported();
  const disk = diskCounters();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: FETCHERS }, (_, i) => {
      const child = spawn(process.execPath, [...nodeArgs(`plain${i}`), plainClient, url, join(work.dir, `plain-${round}-${i}.bin`), descriptorFile, ...(sync ? ["--sync"] : [])], { stdio: "inherit" });
      return new Promise<void>((resolve, reject) => child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`plain client exited ${code}`)))));
    }),
  );
  const wallMs = performance.now() - started;
  const written = diskSince(disk);
  const bytes = await seederBytes(seeder, cpu);
  for (let i = 0; i < FETCHERS; i++) await rm(join(work.dir, `plain-${round}-${i}.bin`));
  return outcome(wallMs, bytes, cpuBefore, cpu, written);
}

function outcome(wallMs: number, seederBytes: number, before: { user: number; sys: number }, seeder: { seederS: number; seederStartS: number }, disk: DiskWork | undefined): Outcome {
  const after = reapedChildrenCpu();
  return { wallMs, seederBytes, cpuS: after.user + after.sys - before.user - before.sys, userS: after.user - before.user, seederCpuS: seeder.seederS, seederStartCpuS: seeder.seederStartS, disk };
}

function line(label: string, o: Outcome): string {
  return `  ${label.padEnd(34)} ${(o.wallMs / 1000).toFixed(2).padStart(7)} s   seeder sent ${(o.seederBytes / MB).toFixed(0).padStart(5)} MiB = ${(o.seederBytes / SIZE).toFixed(2)}x the artifact   peers' CPU ${o.cpuS.toFixed(1)} s (seeder ${o.seederStartCpuS.toFixed(1)} starting + ${(o.seederCpuS - o.seederStartCpuS).toFixed(1)} serving, user ${o.userS.toFixed(1)}, kernel ${(o.cpuS - o.userS).toFixed(1)})${diskText(o.disk)}`;
}

const diskText = (d: DiskWork | undefined) => (d === undefined ? "" : `   disk wrote ${(d.writtenBytes / MB).toFixed(0)} MiB, busy ${d.busyS.toFixed(1)} s`);

const brief = (o: Outcome) => `${(o.wallMs / 1000).toFixed(1)}/${(o.seederBytes / SIZE).toFixed(2)}/${o.cpuS.toFixed(1)}${o.disk ? `/${o.disk.busyS.toFixed(1)}` : ""}`;

/**
 * Touches as much memory as a round uses, and frees it. On a VM, memory the guest has not
 * touched lately costs several times reused memory when first touched (here about 3 s of CPU a
 * GiB against 0.6), and only the first side of a run met it: the swarm, first in the first round,
 * had its median taken from its two other rounds where the other sides had three. Of no use
 * where the kernel gives freed memory back to its host (memoryReported).
 */
function warmMemory(bytes: number): void {
  // No more than half of what is free: the warm-up must not push the artifact out of the page cache.
  const touched = Math.min(bytes, Math.floor(freemem() / 2));
  const run = spawnSync(process.execPath, ["-e", `const kept = []; for (let left = ${touched}; left > 0; left -= 1 << 28) kept.push(Buffer.alloc(Math.min(left, 1 << 28), 1));`], { stdio: "inherit" });
  if (run.status !== 0) throw new Error(`the memory warm-up failed (${run.error?.message ?? `exit ${run.status}, signal ${run.signal}`})`);
}

/**
 * Free page reporting (Linux `page_reporting`): a VM whose kernel has it gives memory the guest
 * frees back to its host, and the first touch of such a page afterwards costs a fault on the
 * host. Measured on the 2-core test VM: 256 MiB written into a new file took 54-62 ms of kernel
 * time right after 1.5 GiB was freed and 160-560 ms a few seconds later, and four such writers
 * at once about 400 ms each; the kernel reported what a round freed at about 100 MiB every 2 s,
 * so for 15-20 s after it. With rounds back to back, each side met a different mix of memory
 * already reported and memory not yet: whichever side wrote soonest after the last round (the
 * plain clients start in tens of milliseconds, the swarm's CLI processes in about 0.4 s) reused
 * more of the warm part, and the uncapped ratio read 0.8-1.5x from run to run with nothing else
 * changed. Each round's peers therefore start once the kernel has reported nearly all it will
 * (less than REPORT_SETTLED_KIB in the last REPORT_WINDOW_MS), so every side meets the same
 * memory: what a fetch on an idle VM meets. Where the kernel reports nothing, at once.
 */
const REPORTED_KIB = "/sys/module/page_reporting/parameters/reported_kib";
const REPORT_WINDOW_MS = 2_500;
const REPORT_SETTLED_KIB = 32 * 1024;
const REPORT_PATIENCE_MS = 30_000;
const pageReporting = existsSync(REPORTED_KIB);
let unsettledRounds = 0;

async function memoryReported(): Promise<void> {
  if (!pageReporting) return;
  const start = performance.now();
  const samples: { at: number; kib: number }[] = [];
  for (;;) {
    const now = performance.now();
    samples.push({ at: now, kib: Number(readFileSync(REPORTED_KIB, "utf8")) });
    while (samples[1] !== undefined && samples[1].at <= now - REPORT_WINDOW_MS) samples.shift();
    if (now - start >= REPORT_WINDOW_MS && samples.at(-1)!.kib - samples[0]!.kib < REPORT_SETTLED_KIB) return;
    if (now - start > REPORT_PATIENCE_MS) {
      unsettledRounds++;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The outcome with the median wall time. */
function median(outcomes: Outcome[]): Outcome {
  return [...outcomes].sort((x, y) => x.wallMs - y.wallMs)[Math.floor(outcomes.length / 2)]!;
}

try {
  await writeRandomFile(file, SIZE);
  // On the disk before the rounds: left dirty, the kernel wrote it back 30 s later, into whichever round ran then.
  const artifact = await open(file, "r+");
  await artifact.sync();
  await artifact.close();
  // A round holds the artifact's copies in the page cache and the peers' processes: no side's
  // first round meets untouched memory. A kernel that gives freed memory back would undo it.
  if (!pageReporting) warmMemory((FETCHERS + 2) * SIZE);
  console.log(
    `artifact ${SIZE / MB} MiB, ${FETCHERS} fetchers, loopback, one process per peer, ${availableParallelism()} cores, ${process.platform} ${process.arch}, node ${process.version}; median of ${ROUNDS} rounds`,
  );
  if (pageReporting) console.log(`this kernel gives freed memory back to its host (page_reporting): each round's peers start once it has given back nearly all the last round freed (under ${REPORT_SETTLED_KIB / 1024} MiB in ${REPORT_WINDOW_MS / 1000} s)`);
  // ONEX_BENCH_CASES=uncapped or capped runs one case only (while exploring).
  const cases = (process.env.ONEX_BENCH_CASES ?? "uncapped,capped").split(",");
  for (const uplink of [cases.includes("uncapped") ? undefined : null, cases.includes("capped") ? CAP : null].filter((u) => u !== null)) {
    const name = uplink ? `seeder uplink capped at ${uplink / 1_000_000} MB/s` : "no uplink cap";
    const sides = [() => swarm(uplink), () => plainHttp(uplink, false), () => plainHttp(uplink, true)];
    const runs: Outcome[][] = sides.map(() => []);
    // The sides take turns going first: whichever writes its 1 GiB of copies first gets memory
    // the machine has not used yet (on a VM, the first touch of a page costs several times a
    // reused one: about 2 s of kernel time per GiB here), and going first always was a handicap.
    for (let i = 0; i < ROUNDS; i++) {
      for (let k = 0; k < sides.length; k++) {
        const side = (i + k) % sides.length;
        runs[side]!.push(await sides[side]!());
      }
    }
    const [a, b, c] = runs.map(median) as [Outcome, Outcome, Outcome];
    const [swarmRuns, plainRuns, syncedRuns] = runs as [Outcome[], Outcome[], Outcome[]];
    console.log(`\n${name}`);
    console.log(`  rounds (wall s / seeder x / CPU s${diskCounters() ? " / disk busy s" : ""}): swarm ${swarmRuns.map(brief).join(", ")}; HTTP ${plainRuns.map(brief).join(", ")}; HTTP + fsync ${syncedRuns.map(brief).join(", ")}`);
    console.log(line("(a) swarm", a));
    console.log(line("(b) each from the seeder over HTTP", b));
    console.log(line("(c) as (b), then fsync", c));
    console.log(`  ratios (a)/(b): wall time ${(a.wallMs / b.wallMs).toFixed(2)}x, seeder bytes ${(a.seederBytes / b.seederBytes).toFixed(2)}x, peers' CPU ${(a.cpuS / b.cpuS).toFixed(2)}x`);
    console.log(`  ratios (a)/(c): wall time ${(a.wallMs / c.wallMs).toFixed(2)}x, seeder bytes ${(a.seederBytes / c.seederBytes).toFixed(2)}x, peers' CPU ${(a.cpuS / c.cpuS).toFixed(2)}x`);
    if (unsettledRounds > 0) console.log(`  ${unsettledRounds} round(s) so far started while the kernel was still reporting freed memory after ${REPORT_PATIENCE_MS / 1000} s: their sides did not meet the same memory`);
  }
} finally {
  await work.remove();
  await nats.stop();
}
