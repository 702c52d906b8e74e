/**
 * The swarm with every peer as its own `onex artifact` process on a real nats-server, as
 * deployments run it: one publisher and four fetchers (byte-identical files, pieces flowing
 * between fetchers), a fetcher killed with SIGKILL that resumes in a new process without
 * fetching a verified piece twice, fetchers signalled as they print their summary that stop
 * rather than seed on, one stopped with SIGTERM that says it was interrupted, and one stopped with
 * SIGINT while it waits for an announcement that never comes.
 * Bounded in time, never timed.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { publishProcess, runCliAsync, sha256File, startCli, waitForOutput, writeKeyFiles, type CliProcess, type KeyFiles } from "./cli-peers.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

const MB = 1 << 20;
let nats: NatsServer;
let work: { dir: string; remove(): Promise<void> };
let source: string;
let sourceHash: string;
let publisher: KeyFiles;
const running: CliProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  work = await tempDir();
  publisher = await writeKeyFiles(work.dir, "publisher");
  source = join(work.dir, "model.bin");
  await writeRandomFile(source, 16 * MB - 1);
  sourceHash = await sha256File(source);
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await nats?.stop();
  await work?.remove();
}, 30_000);

/** Fetch flags of a peer trusting the publisher (for `models/*`) and the other fetchers as piece servers. */
function fetchArgs(ref: string, out: string, key: KeyFiles, peers: KeyFiles[]): string[] {
  return ["artifact", "fetch", ref, "--out", out, "--key", key.key, "--zone", ZONE, "--server", nats.url, "--publisher", `models/*=${publisher.pub}`, ...peers.flatMap((p) => ["--trust", p.pub])];
}

/**
 * A seeder of `name`@1 at 2 MB/s and a fetcher of it into `<label>.bin`, left running until its
 * first verified piece is on disk (the piece record is written after the piece's bytes).
 */
async function fetchUntilAPieceIsOnDisk(name: string, label: string): Promise<{ fetcher: CliProcess; out: string; key: KeyFiles }> {
  running.push(await publishProcess(nats.url, source, { name, version: "1" }, publisher, ZONE, ["--upload-limit", String(2 * MB)]));
  const key = await writeKeyFiles(work.dir, `fetcher-${label}`);
  const out = join(work.dir, `${label}.bin`);
  const fetcher = startCli(fetchArgs(`${name}@1`, out, key, [publisher]));
  running.push(fetcher);
  const deadline = Date.now() + 60_000;
  while (!existsSync(PieceStore.recordPathOf(out)) && Date.now() < deadline && fetcher.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  expect(existsSync(PieceStore.recordPathOf(out))).toBe(true);
  return { fetcher, out, key };
}

describe("peers as processes", () => {
  it("one publisher and four fetchers: byte-identical files, and pieces flow between the fetchers", async () => {
    // A slow seeder uplink, so the fetchers have reason to ask each other.
    const seeder = await publishProcess(nats.url, source, { name: "models/llm", version: "1" }, publisher, ZONE, ["--upload-limit", String(4 * MB)]);
    running.push(seeder);
    const keys = await Promise.all([0, 1, 2, 3].map((i) => writeKeyFiles(work.dir, `fetcher-a${i}`)));
    const fetchers = keys.map((k, i) => startCli([...fetchArgs("models/llm@1", join(work.dir, `a-${i}.bin`), k, [publisher, ...keys]), "--seed-for", "5m", "--stall", "60s"]));
    running.push(...fetchers);
    await Promise.all(fetchers.map((f) => waitForOutput(f, (out) => out.includes('"root_hash"'), 110_000)));
    const summaries = fetchers.map((f) => JSON.parse(f.stdout().trim().split("\n")[0]!) as { root_hash: string; fetched_pieces: number; bytes_by_peer: Record<string, number> });
    for (let i = 0; i < 4; i++) {
      expect(await sha256File(join(work.dir, `a-${i}.bin`))).toBe(sourceHash);
      expect(summaries[i]!.root_hash).toBe(seeder.descriptor.root_hash);
    }
    const seederId = `peer-${publisher.pair.keyId.slice(4, 16)}`;
    const fromFetchers = summaries.flatMap((s) => Object.entries(s.bytes_by_peer).filter(([id]) => id !== seederId).map(([, bytes]) => bytes));
    expect(fromFetchers.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  }, 120_000);

  it("a fetcher killed with SIGKILL resumes in a new process from the pieces it verified", async () => {
    const { fetcher: first, out, key } = await fetchUntilAPieceIsOnDisk("models/resume", "b");
    first.child.kill("SIGKILL");
    await first.exited;
    expect(existsSync(out)).toBe(false);

    const second = await runCliAsync(fetchArgs("models/resume@1", out, key, [publisher]));
    expect(second.status).toBe(0);
    const summary = JSON.parse(second.stdout) as { pieces: number; fetched_pieces: number; resumed_pieces: number };
    expect(summary.resumed_pieces).toBeGreaterThan(0);
    expect(summary.resumed_pieces + summary.fetched_pieces).toBe(summary.pieces);
    expect(await sha256File(out)).toBe(sourceHash);
  }, 120_000);

  it("a fetcher told to stop as it prints its summary stops: no signal is lost between the fetch and the seeding", async () => {
    // The signal goes out from the summary's own output event, as close to the fetch's end as a
    // caller can send it: the fetch's listener once gave way to the seeding's there, and a signal
    // sent in between was dropped, leaving the process to seed for all of --seed-for.
    const small = join(work.dir, "small.bin");
    await writeRandomFile(small, MB);
    running.push(await publishProcess(nats.url, small, { name: "models/stop", version: "1" }, publisher, ZONE));
    for (let i = 0; i < 8; i++) {
      const key = await writeKeyFiles(work.dir, `fetcher-d${i}`);
      const fetcher = startCli([...fetchArgs("models/stop@1", join(work.dir, `d-${i}.bin`), key, [publisher]), "--seed-for", "10m"]);
      running.push(fetcher);
      fetcher.child.stdout!.on("data", () => {
        if (fetcher.stdout().includes('"root_hash"')) fetcher.child.kill("SIGINT");
      });
      const exit = await Promise.race([fetcher.exited, new Promise((resolve) => setTimeout(resolve, 15_000, "still running"))]);
      expect(exit, `fetch ${i}: ${fetcher.stdout()}${fetcher.stderr()}`).toBe(0);
    }
  }, 200_000);

  it("a fetcher stopped with SIGTERM says so (ONEX_E_ARTIFACT_INCOMPLETE, exit 69) and leaves its verified pieces to resume", async () => {
    const { fetcher, out } = await fetchUntilAPieceIsOnDisk("models/interrupt", "c");
    fetcher.child.kill("SIGTERM");
    expect(await fetcher.exited).toBe(69);
    expect(fetcher.stderr()).toMatch(/error ONEX_E_ARTIFACT_INCOMPLETE: fetch of models\/interrupt@1 interrupted with \d+ pieces missing; run it again to resume/);
    expect([existsSync(out), existsSync(PieceStore.partialPathOf(out))]).toEqual([false, true]);
  }, 120_000);

  it("a fetcher stopped with SIGINT while it waits for an announcement that never comes stops at once, with nothing written", async () => {
    // Signalled once its request for the artifact is on the control plane: the wait has begun.
    const nc = await natsConnect({ servers: nats.url });
    const requests = nc.subscribe("jetstream.onex.zone.>");
    const key = await writeKeyFiles(work.dir, "fetcher-e");
    const out = join(work.dir, "never.bin");
    try {
      // A --timeout far longer than the test: the wait polled only its deadline and ignored Ctrl-C.
      const fetcher = startCli([...fetchArgs("models/never@1", out, key, [publisher]), "--timeout", "20d"]);
      running.push(fetcher);
      for await (const m of requests) {
        if (m.string().includes("signal.artifact.request") && m.string().includes("models/never")) break;
      }
      fetcher.child.kill("SIGINT");
      expect(await fetcher.exited).toBe(69);
      expect(fetcher.stderr()).toMatch(/error ONEX_E_ARTIFACT_INCOMPLETE: fetch of models\/never@1 interrupted while waiting for its announcement; nothing was written/);
      expect([existsSync(out), existsSync(PieceStore.partialPathOf(out))]).toEqual([false, false]);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
