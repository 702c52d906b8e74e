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
 * for both. Each figure is the median of ONEX_BENCH_ROUNDS rounds (default 3), the two sides
 * interleaved so drift in machine load hits both. Beside each, the CPU seconds all the peer
 * processes of the round used (the seeder's start-up hashing included, on both sides): when
 * they come to about the cores times the wall time, the machine's CPU is the limit, not the
 * network or the protocol. Timings are printed, never asserted.
 *
 * The peer, (b), is the simplest thing that works: every client streams the whole file from
 * the one origin and verifies it afterwards. It does not share load, resume, or survive the
 * origin going away; its cost is all on the origin's uplink.
 *
 *   npm run build && npm run bench:artifact       (ONEX_BENCH_SIZE_MB=256, ONEX_BENCH_FETCHERS=4, ONEX_BENCH_ROUNDS=3)
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { rootHex } from "../runtime/dataplane/descriptor.js";
import { publishProcess, startCli, waitForOutput, writeKeyFiles, type CliProcess } from "../test/dataplane/cli-peers.js";
import { tempDir, writeRandomFile } from "../test/dataplane/fixtures.js";
import { applyBundledStreams, ZONE } from "../test/jetstream/fixtures.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { PROJECT_ROOT } from "../test/support/temp-schemas.js";

const MB = 1 << 20;
const SIZE = Number(process.env.ONEX_BENCH_SIZE_MB ?? 256) * MB;
const FETCHERS = Number(process.env.ONEX_BENCH_FETCHERS ?? 4);
const CAP = Number(process.env.ONEX_BENCH_UPLINK_MBS ?? 100) * 1_000_000;
const ROUNDS = Math.max(1, Number(process.env.ONEX_BENCH_ROUNDS ?? 3));

interface Outcome {
  wallMs: number;
  seederBytes: number;
  /** CPU seconds of every peer process of the round (seeder and fetchers), from their exit. */
  cpuS: number;
}

/** CPU seconds of this process's children that have exited (Linux /proc: cutime + cstime, USER_HZ 100). */
function reapedChildrenCpuS(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

const nats = await startNatsServer();
await applyBundledStreams(nats.url);
const work = await tempDir("onex-bench-artifact-");
const seederKey = await writeKeyFiles(work.dir, "seeder");
const fetcherKeys = await Promise.all(Array.from({ length: FETCHERS }, (_, i) => writeKeyFiles(work.dir, `fetcher-${i}`)));
const file = join(work.dir, "artifact.bin");
let round = 0;

/** Stops the seeder and reads what it served from its last words. */
async function seederBytes(seeder: CliProcess): Promise<number> {
  await seeder.stop();
  const served = /served (\{.*\})/.exec(seeder.stderr());
  if (!served) throw new Error(`the seeder did not say what it served:\n${seeder.stderr()}`);
  return (JSON.parse(served[1]!) as { bytes: number }).bytes;
}

function seed(uplink: number | undefined, name: string) {
  return publishProcess(nats.url, file, { name, version: "1" }, seederKey, ZONE, ["--piece-size", String(MB), ...(uplink ? ["--upload-limit", String(uplink)] : [])]);
}

/** (a) One seeder, FETCHERS fetch processes through the swarm at once, each seeding until all are done. */
async function swarm(uplink?: number): Promise<Outcome> {
  round++;
  const cpuBefore = reapedChildrenCpuS();
  const seeder = await seed(uplink, `bench/artifact-${round}`);
  const trust = ["--publisher", seederKey.pub, "--trust", seederKey.pub, ...fetcherKeys.flatMap((k) => ["--trust", k.pub])];
  const started = performance.now();
  const fetchers = fetcherKeys.map((k, i) =>
    startCli(["artifact", "fetch", `bench/artifact-${round}@1`, "--out", join(work.dir, `swarm-${round}-${i}.bin`), "--key", k.key, "--zone", ZONE, "--server", nats.url, "--stall", "120s", "--seed-for", "10m", ...trust]),
  );
  // Done when every fetcher printed its summary (it then keeps seeding for the others).
  await Promise.all(fetchers.map((f) => waitForOutput(f, (out) => out.includes('"root_hash"'), 600_000)));
  const wallMs = performance.now() - started;
  await Promise.all(fetchers.map((f) => f.stop()));
  const bytes = await seederBytes(seeder);
  for (let i = 0; i < FETCHERS; i++) await rm(join(work.dir, `swarm-${round}-${i}.bin`));
  return { wallMs, seederBytes: bytes, cpuS: reapedChildrenCpuS() - cpuBefore };
}

/** (b) FETCHERS processes each GET the whole file from the seeder over plain HTTP, at once, then verify it. */
async function plainHttp(uplink?: number): Promise<Outcome> {
  round++;
  const cpuBefore = reapedChildrenCpuS();
  const seeder = await seed(uplink, `bench/plain-${round}`);
  const descriptorFile = join(work.dir, `descriptor-${round}.json`);
  const descriptor = JSON.parse(seeder.stdout().trim().split("\n")[0]!) as { root_hash: string };
  await writeFile(descriptorFile, JSON.stringify(descriptor));
  const url = `${/at (http:\/\/\S+)/.exec(seeder.stderr())![1]}/v1/artifacts/${rootHex(descriptor.root_hash)}/file`;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: FETCHERS }, (_, i) => {
      const child = spawn(process.execPath, ["--import", "tsx", join(PROJECT_ROOT, "bench", "whole-file-fetch.ts"), url, join(work.dir, `plain-${round}-${i}.bin`), descriptorFile], { stdio: "inherit" });
      return new Promise<void>((resolve, reject) => child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`plain client exited ${code}`)))));
    }),
  );
  const wallMs = performance.now() - started;
  const bytes = await seederBytes(seeder);
  for (let i = 0; i < FETCHERS; i++) await rm(join(work.dir, `plain-${round}-${i}.bin`));
  return { wallMs, seederBytes: bytes, cpuS: reapedChildrenCpuS() - cpuBefore };
}

function line(label: string, o: Outcome): string {
  return `  ${label.padEnd(34)} ${(o.wallMs / 1000).toFixed(2).padStart(7)} s   seeder sent ${(o.seederBytes / MB).toFixed(0).padStart(5)} MiB = ${(o.seederBytes / SIZE).toFixed(2)}x the artifact   peers' CPU ${o.cpuS.toFixed(1)} s`;
}

const brief = (o: Outcome) => `${(o.wallMs / 1000).toFixed(1)}/${(o.seederBytes / SIZE).toFixed(2)}`;

/** The outcome with the median wall time. */
function median(outcomes: Outcome[]): Outcome {
  return [...outcomes].sort((x, y) => x.wallMs - y.wallMs)[Math.floor(outcomes.length / 2)]!;
}

try {
  await writeRandomFile(file, SIZE);
  console.log(
    `artifact ${SIZE / MB} MiB, ${FETCHERS} fetchers, loopback, one process per peer, ${availableParallelism()} cores, ${process.platform} ${process.arch}, node ${process.version}; median of ${ROUNDS} rounds`,
  );
  for (const uplink of [undefined, CAP]) {
    const name = uplink ? `seeder uplink capped at ${uplink / 1_000_000} MB/s` : "no uplink cap";
    const swarmRuns: Outcome[] = [];
    const plainRuns: Outcome[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      swarmRuns.push(await swarm(uplink));
      plainRuns.push(await plainHttp(uplink));
    }
    const a = median(swarmRuns);
    const b = median(plainRuns);
    console.log(`\n${name}`);
    console.log(`  rounds (wall s / seeder x): swarm ${swarmRuns.map(brief).join(", ")}; HTTP ${plainRuns.map(brief).join(", ")}`);
    console.log(line("(a) swarm", a));
    console.log(line("(b) each from the seeder over HTTP", b));
    console.log(`  ratios (a)/(b): wall time ${(a.wallMs / b.wallMs).toFixed(2)}x, seeder bytes ${(a.seederBytes / b.seederBytes).toFixed(2)}x, peers' CPU ${(a.cpuS / b.cpuS).toFixed(2)}x`);
  }
} finally {
  await work.remove();
  await nats.stop();
}
