/**
 * bench:artifact — distributes a 256 MB artifact to 4 fetchers (a) through the swarm and
 * (b) with each fetcher downloading the whole file from the seeder over plain HTTP, and
 * prints wall time and the bytes the seeder sent, with ratios. Everything runs on loopback
 * in one process against a real nats-server. Loopback has no uplink limit, so the run is
 * repeated with the seeder's upload capped (ONEX_BENCH_UPLINK_MBS, default 100 MB/s), which is
 * the situation a swarm exists for. Timings are printed, never asserted.
 *
 *   npm run bench:artifact            (ONEX_BENCH_SIZE_MB=256, ONEX_BENCH_FETCHERS=4)
 */
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import * as v0_2 from "../generated/v0.2/index.js";
import { rootHex } from "../runtime/dataplane/descriptor.js";
import { DataPlanePeer } from "../runtime/dataplane/peer.js";
import { verifyWholeFile } from "../runtime/dataplane/piece-store.js";
import { generateKeyPair, keyRing } from "../runtime/trust/keys.js";
import { applyBundledStreams, client, ZONE } from "../test/jetstream/fixtures.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { tempDir, writeRandomFile } from "../test/dataplane/fixtures.js";

const MB = 1 << 20;
const SIZE = Number(process.env.ONEX_BENCH_SIZE_MB ?? 256) * MB;
const FETCHERS = Number(process.env.ONEX_BENCH_FETCHERS ?? 4);
const CAP = Number(process.env.ONEX_BENCH_UPLINK_MBS ?? 100) * 1_000_000;

interface Outcome {
  wallMs: number;
  seederBytes: number;
}

const nats = await startNatsServer();
await applyBundledStreams(nats.url);
const work = await tempDir("onex-bench-artifact-");
const keys = Array.from({ length: FETCHERS + 1 }, () => generateKeyPair());
const publicKeys = keyRing(keys.map((k) => k.publicKey));
const file = join(work.dir, "artifact.bin");
let round = 0;

async function startPeer(index: number, uplink?: number) {
  const c = await client(nats.url, keys[index]!, keys);
  const peer = await DataPlanePeer.start({
    client: c,
    messages: v0_2,
    key: keys[index]!,
    peerId: `bench-${round}-${index}`,
    zone: ZONE,
    publisherKeys: publicKeys,
    logger: { warn() {} },
    ...(uplink ? { server: { uploadBytesPerSecond: uplink } } : {}),
  });
  return {
    peer,
    async close() {
      await peer.stop();
      await c.close();
    },
  };
}

/** (a) One seeder, FETCHERS peers fetching through the swarm at once. */
async function swarm(uplink?: number): Promise<Outcome> {
  round++;
  const seeder = await startPeer(0, uplink);
  const descriptor = await seeder.peer.publish(file, { name: `bench/artifact-${round}`, version: "1" });
  const fetchers = await Promise.all(Array.from({ length: FETCHERS }, (_, i) => startPeer(i + 1)));
  const started = performance.now();
  await Promise.all(fetchers.map((f, i) => f.peer.fetch(descriptor, join(work.dir, `swarm-${round}-${i}.bin`), { stallTimeoutMs: 120_000 })));
  const wallMs = performance.now() - started;
  const seederBytes = seeder.peer.server.stats.bytesSent;
  await Promise.all([seeder.close(), ...fetchers.map((f) => f.close())]);
  for (let i = 0; i < FETCHERS; i++) await rm(join(work.dir, `swarm-${round}-${i}.bin`));
  return { wallMs, seederBytes };
}

/** (b) FETCHERS clients each GET the whole file from the seeder over plain HTTP, at once; then verify it. */
async function plainHttp(uplink?: number): Promise<Outcome> {
  round++;
  const seeder = await startPeer(0, uplink);
  const descriptor = await seeder.peer.publish(file, { name: `bench/plain-${round}`, version: "1" });
  const url = `${seeder.peer.url}/v1/artifacts/${rootHex(descriptor.root_hash)}/file`;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: FETCHERS }, async (_, i) => {
      const out = join(work.dir, `plain-${round}-${i}.bin`);
      await new Promise<void>((resolve, reject) => {
        get(url, (res) => pipeline(res, createWriteStream(out)).then(resolve, reject)).on("error", reject);
      });
      // Same end state as the swarm: a file known to be the artifact.
      await verifyWholeFile(descriptor, out);
    }),
  );
  const wallMs = performance.now() - started;
  const seederBytes = seeder.peer.server.stats.bytesSent;
  await seeder.close();
  for (let i = 0; i < FETCHERS; i++) await rm(join(work.dir, `plain-${round}-${i}.bin`));
  return { wallMs, seederBytes };
}

function line(label: string, o: Outcome): string {
  return `  ${label.padEnd(34)} ${(o.wallMs / 1000).toFixed(2).padStart(7)} s   seeder sent ${(o.seederBytes / MB).toFixed(0).padStart(5)} MiB = ${(o.seederBytes / SIZE).toFixed(2)}x the artifact`;
}

try {
  await writeRandomFile(file, SIZE);
  console.log(`artifact ${SIZE / MB} MiB, ${FETCHERS} fetchers, loopback, one process, ${process.platform} ${process.arch}, node ${process.version}`);
  for (const uplink of [undefined, CAP]) {
    const name = uplink ? `seeder uplink capped at ${uplink / 1_000_000} MB/s` : "no uplink cap";
    const a = await swarm(uplink);
    const b = await plainHttp(uplink);
    console.log(`\n${name}`);
    console.log(line("(a) swarm", a));
    console.log(line("(b) each from the seeder over HTTP", b));
    console.log(`  ratios (a)/(b): wall time ${(a.wallMs / b.wallMs).toFixed(2)}x, seeder bytes ${(a.seederBytes / b.seederBytes).toFixed(2)}x`);
  }
} finally {
  await work.remove();
  await nats.stop();
}
