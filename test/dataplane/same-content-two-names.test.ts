/**
 * One content, two names. A fellow peer granted only `datasets/*` announces, under a name of its
 * own, the very file the publisher published as `model@7` (it has the bytes, or only copies the
 * descriptor's piece digests: both make the same root hash). The swarm kept accepted descriptors
 * by root hash alone, so the fellow's announcement replaced the publisher's: `model@7` could no
 * longer be fetched or listed, by a key never granted that name. Every peer here is its own
 * `onex artifact` process on a real nats-server; the test acts as the fellow.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { publishProcess, runCliAsync, sha256File, writeKeyFiles, type CliProcess, type KeyFiles } from "./cli-peers.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

let nats: NatsServer;
let work: { dir: string; remove(): Promise<void> };
const keys: Record<"publisher" | "fellow" | "fetcher", KeyFiles> = {} as never;
let file: string;
const running: CliProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  work = await tempDir();
  for (const name of ["publisher", "fellow", "fetcher"] as const) keys[name] = await writeKeyFiles(work.dir, name);
  file = join(work.dir, "model.bin");
  await writeRandomFile(file, 300_000);
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await nats?.stop();
  await work?.remove();
}, 30_000);

const fetcherFlags = () => ["--key", keys.fetcher.key, "--zone", ZONE, "--server", nats.url, "--publisher", `model=${keys.publisher.pub}`, "--publisher", `datasets/*=${keys.fellow.pub}`];

describe("one content announced under two names", () => {
  it("a fellow peer re-announcing model@7's content as datasets/copy@7 does not take model@7 away: it is fetched, and ls lists both", async () => {
    const publisher = await publishProcess(nats.url, file, { name: "model", version: "7" }, keys.publisher, ZONE);
    running.push(publisher);
    // Announced after the publisher's: read later by every peer, it replaced the publisher's.
    const fellow = await publishProcess(nats.url, file, { name: "datasets/copy", version: "7" }, keys.fellow, ZONE);
    running.push(fellow);
    expect(fellow.descriptor.root_hash).toBe(publisher.descriptor.root_hash);

    const out = join(work.dir, "model-7.bin");
    const fetched = await runCliAsync(["artifact", "fetch", "model@7", "--out", out, "--timeout", "5s", ...fetcherFlags()]);
    expect(fetched.stderr).not.toMatch(/^error/m);
    expect(fetched.status).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(file));

    const listed = await runCliAsync(["artifact", "ls", "--json", "--wait", "2s", ...fetcherFlags()]);
    expect(listed.status).toBe(0);
    const rows = listed.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; version: string; root_hash: string });
    expect(rows.map((r) => `${r.name}@${r.version} ${r.root_hash}`).sort()).toEqual([`datasets/copy@7 ${publisher.descriptor.root_hash}`, `model@7 ${publisher.descriptor.root_hash}`]);
  }, 90_000);
});
