/**
 * Every flag of `onex artifact publish|fetch|ls` is checked before any work: a bad one is
 * refused with its documented code, and nothing is connected, announced or written. Run
 * against a real nats-server with a publisher seeding `model@1`, so a fetch that went ahead
 * would succeed; the server's count of connections ever made shows that none was.
 */
import { mkdir, readdir } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { freePort, startNatsServer, type NatsServer } from "../support/nats-server.js";
import { publishProcess, runCliAsync, writeKeyFiles, type CliProcess, type KeyFiles } from "../dataplane/cli-peers.js";
import { tempDir, writeRandomFile, ZONE } from "../dataplane/fixtures.js";

let nats: NatsServer;
let monitorPort: number;
let work: { dir: string; remove(): Promise<void> };
let publisherKey: KeyFiles;
let fetcherKey: KeyFiles;
let file: string;
let publisher: CliProcess | undefined;
let busy: Server; // holds a port, for --port in use
let busyPort: number;

beforeAll(async () => {
  monitorPort = await freePort();
  nats = await startNatsServer({ config: `http: "127.0.0.1:${monitorPort}"` });
  await applyBundledStreams(nats.url);
  work = await tempDir("onex-artifact-flags-");
  publisherKey = await writeKeyFiles(work.dir, "publisher");
  fetcherKey = await writeKeyFiles(work.dir, "fetcher");
  file = join(work.dir, "model.bin");
  await writeRandomFile(file, 100_000);
  publisher = await publishProcess(nats.url, file, { name: "model", version: "1" }, publisherKey, ZONE);
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  busyPort = (busy.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  await publisher?.stop();
  await new Promise((resolve) => busy?.close(resolve));
  await nats?.stop();
  await work?.remove();
}, 30_000);

/** Connections the NATS server has accepted since it started (its monitoring endpoint). */
async function connectionsMade(): Promise<number> {
  const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as { total_connections: number };
  return varz.total_connections;
}

let folders = 0;
/** An empty folder of its own, so anything a command leaves in it shows. */
async function emptyFolder(): Promise<string> {
  const dir = join(work.dir, `case-${++folders}`);
  await mkdir(dir);
  return dir;
}

/** Runs `onex artifact ...args` and checks it was refused as `code`/`status`, naming `named`, having connected to nothing. */
async function expectRefusedUpFront(args: string[], status: number, code: string, named: string | RegExp) {
  const before = await connectionsMade();
  const run = await runCliAsync(["artifact", ...args]);
  expect(run.stderr).toMatch(new RegExp(`^error ${code}: `));
  expect(run.stderr).toMatch(named);
  expect(run.status).toBe(status);
  // No descriptor or summary printed, and no connection made: nothing announced or requested.
  expect(run.stdout).toBe("");
  expect(await connectionsMade()).toBe(before);
}

/** `command` with `defaults` (`--flag value` pairs) and `extra`; a flag `extra` gives replaces its default (oclif refuses one given twice). */
function withDefaults(command: string[], defaults: string[], extra: string[]): string[] {
  const given = (flag: string) => extra.some((e) => e === flag || e.startsWith(`${flag}=`));
  const kept: string[] = [];
  for (let i = 0; i < defaults.length; i += 2) if (!given(defaults[i]!)) kept.push(defaults[i]!, defaults[i + 1]!);
  return [...command, ...kept, ...extra];
}

function fetchArgs(out: string, ...extra: string[]): string[] {
  return withDefaults(["fetch", "model@1"], ["--out", out, "--key", fetcherKey.key, "--publisher", publisherKey.pub, "--zone", ZONE, "--server", nats.url, "--timeout", "5s"], extra);
}

let versions = 0;
function publishArgs(...extra: string[]): string[] {
  return withDefaults(["publish", file], ["--name", "model", "--version", `flags-${++versions}`, "--key", publisherKey.key, "--zone", ZONE, "--server", nats.url, "--piece-size", "16384"], extra);
}

describe("artifact fetch refuses a bad flag before fetching anything", () => {
  const cases: [string, string[], number, string, string | RegExp][] = [
    ["a --seed-for that is no duration (was found after the file was in place)", ["--seed-for=-5m"], 2, "ONEX_E_USAGE", "--seed-for"],
    ["a --timeout that is no duration", ["--timeout=soon"], 2, "ONEX_E_USAGE", "--timeout"],
    ["a --stall that is no duration", ["--stall=later"], 2, "ONEX_E_USAGE", "--stall"],
    ["a --stall of 0 (gave up before the first piece)", ["--stall=0s"], 2, "ONEX_E_USAGE", "--stall must be longer than 0"],
    ["a --timeout of 0 (gave up before any announcement)", ["--timeout=0s"], 2, "ONEX_E_USAGE", "--timeout must be longer than 0"],
    ["a --timeout without a unit (seconds or milliseconds?)", ["--timeout=5000"], 2, "ONEX_E_USAGE", /--timeout: "5000" is not a duration \(add a unit/],
    // Node's timers hold at most 2^31 - 1 ms: a longer seeding stopped at once.
    ["a --seed-for longer than a timer can wait (stopped seeding at once)", ["--seed-for=600h"], 2, "ONEX_E_USAGE", /--seed-for: 600h is longer than the 24\.8 days it can be/],
    ["a --port above 65535 (was ONEX_E_INTERNAL)", ["--port=99999"], 2, "ONEX_E_USAGE", "--port"],
    ["a negative --port (was ONEX_E_INTERNAL)", ["--port=-1"], 2, "ONEX_E_USAGE", "--port"],
    ["a --host that is no address of this machine (was ONEX_E_WRITE_FAILED)", ["--host=192.0.2.1"], 2, "ONEX_E_USAGE", /--host 192\.0\.2\.1: not an address of this machine/],
    ["a --public-url that is no URL (was ONEX_E_VALIDATION on a message field)", ["--public-url=notaurl"], 2, "ONEX_E_USAGE", "--public-url"],
    ["a --public-url that is not http:", ["--public-url=ftp://peer.example/x"], 2, "ONEX_E_USAGE", "--public-url"],
    ["a --zone no message can carry (was ONEX_E_VALIDATION)", ["--zone=Not A Zone"], 2, "ONEX_E_USAGE", "--zone"],
    ["an empty --peer-id (was ONEX_E_VALIDATION)", ["--peer-id="], 2, "ONEX_E_USAGE", "--peer-id"],
  ];
  for (const [title, extra, status, code, named] of cases) {
    it(title, async () => {
      const dir = await emptyFolder();
      await expectRefusedUpFront(fetchArgs(join(dir, "model.bin"), ...extra), status, code, named);
      expect(await readdir(dir)).toEqual([]); // no OUT, OUT.partial, OUT.pieces or OUT.lock
    });
  }

  it("a --port in use is ONEX_E_USAGE naming the port and address (was ONEX_E_WRITE_FAILED)", async () => {
    const dir = await emptyFolder();
    await expectRefusedUpFront(fetchArgs(join(dir, "model.bin"), "--port", String(busyPort)), 2, "ONEX_E_USAGE", `--port ${busyPort}: 127.0.0.1:${busyPort}`);
    expect(await readdir(dir)).toEqual([]);
  });

  it("a NAME@VERSION no descriptor can have is ONEX_E_USAGE, not a wait for --timeout", async () => {
    const dir = await emptyFolder();
    const args = fetchArgs(join(dir, "model.bin")).map((a) => (a === "model@1" ? "my model@1" : a));
    await expectRefusedUpFront(args, 2, "ONEX_E_USAGE", /NAME "my model"/);
    expect(await readdir(dir)).toEqual([]);
  });

  it("an --out that is a folder is ONEX_E_WRITE_FAILED before connecting", async () => {
    const dir = await emptyFolder();
    await expectRefusedUpFront(fetchArgs(dir), 73, "ONEX_E_WRITE_FAILED", dir);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("artifact publish refuses a bad flag before announcing anything", () => {
  const cases: [string, string[], number, string, string | RegExp][] = [
    ["a --seed-for that is no duration (was found after announcing)", ["--seed-for=-5m"], 2, "ONEX_E_USAGE", "--seed-for"],
    ["a --seed-for longer than a timer can wait (stopped seeding at once)", ["--seed-for=30d"], 2, "ONEX_E_USAGE", "--seed-for"],
    ["a --port above 65535 (was ONEX_E_INTERNAL)", ["--port=99999"], 2, "ONEX_E_USAGE", "--port"],
    ["a negative --port (was ONEX_E_INTERNAL)", ["--port=-1"], 2, "ONEX_E_USAGE", "--port"],
    ["a --host that is no address of this machine (was ONEX_E_WRITE_FAILED)", ["--host=192.0.2.1"], 2, "ONEX_E_USAGE", /--host 192\.0\.2\.1: not an address of this machine/],
    ["a --public-url that is no URL (was ONEX_E_VALIDATION)", ["--public-url=notaurl"], 2, "ONEX_E_USAGE", "--public-url"],
    ["a --name no descriptor can have (was ONEX_E_VALIDATION after hashing)", ["--name", "my model"], 2, "ONEX_E_USAGE", "--name"],
    ["a --version no descriptor can have (was ONEX_E_VALIDATION after hashing)", ["--version", "1 0"], 2, "ONEX_E_USAGE", "--version"],
    ["a --media-type no descriptor can have (was ONEX_E_VALIDATION after hashing)", ["--media-type", "x"], 2, "ONEX_E_USAGE", "--media-type"],
  ];
  for (const [title, extra, status, code, named] of cases) {
    it(title, async () => {
      await expectRefusedUpFront(publishArgs(...extra), status, code, named);
    });
  }

  it("a --port in use is ONEX_E_USAGE naming the port and address (was ONEX_E_WRITE_FAILED)", async () => {
    await expectRefusedUpFront(publishArgs("--port", String(busyPort)), 2, "ONEX_E_USAGE", `--port ${busyPort}: 127.0.0.1:${busyPort}`);
  });
});

describe("artifact ls refuses a bad flag before connecting", () => {
  it("a --wait that is no duration", async () => {
    await expectRefusedUpFront(["ls", "--wait=awhile", "--key", fetcherKey.key, "--zone", ZONE, "--server", nats.url], 2, "ONEX_E_USAGE", "--wait");
  });

  it("a --wait longer than a timer can wait (returned at once, with a warning from Node)", async () => {
    await expectRefusedUpFront(["ls", "--wait=30d", "--key", fetcherKey.key, "--zone", ZONE, "--server", nats.url], 2, "ONEX_E_USAGE", /--wait: 30d is longer than/);
  });
});
