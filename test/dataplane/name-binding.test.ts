/**
 * Artifact names bind to publishers, not to whoever speaks first. Every peer here is its own
 * `onex artifact` process on a real nats-server: a publisher, a second publisher of the same
 * name, a fellow swarm peer (trusted to serve pieces, not to publish that name), a stranger
 * nobody trusts, and the fetcher. The tests act as the fellow peer and the stranger:
 * announcing first, announcing a conflicting descriptor, announcing with an untrusted key, and
 * a peer id made of terminal controls.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { publishProcess, runCliAsync, sha256File, writeKeyFiles, type CliProcess, type KeyFiles } from "./cli-peers.js";
import { tempDir, writeRandomFile, ZONE } from "./fixtures.js";

let nats: NatsServer;
let work: { dir: string; remove(): Promise<void> };
const keys: Record<"publisher" | "rival" | "fellow" | "stranger" | "fetcher", KeyFiles> = {} as never;
let real: string;
let fake: string;
const running: CliProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  work = await tempDir();
  for (const name of ["publisher", "rival", "fellow", "stranger", "fetcher"] as const) keys[name] = await writeKeyFiles(work.dir, name);
  real = join(work.dir, "real.bin");
  fake = join(work.dir, "fake.bin");
  await writeRandomFile(real, 300_000);
  await writeRandomFile(fake, 300_000);
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await nats?.stop();
  await work?.remove();
}, 30_000);

async function publish(file: string, name: string, version: string, key: KeyFiles, extra: string[] = []) {
  const p = await publishProcess(nats.url, file, { name, version }, key, ZONE, extra);
  running.push(p);
  return p;
}

/** The fetcher's trust: the fellow peer may serve pieces; the publisher (and, where given, others) may publish `model`; the fellow may publish datasets only. */
function fetcherFlags(extra: string[] = []): string[] {
  return [
    "--key", keys.fetcher.key,
    "--zone", ZONE,
    "--server", nats.url,
    "--trust", keys.fellow.pub,
    "--publisher", `model=${keys.publisher.pub}`,
    "--publisher", `datasets/*=${keys.fellow.pub}`,
    ...extra,
  ];
}

describe("artifact names bind to publishers", () => {
  it("a fellow peer announcing its own model@5 first does not replace it: the publisher's bytes are fetched, and ls shows one model@5", async () => {
    const fellow = await publish(fake, "model", "5", keys.fellow);
    const publisher = await publish(real, "model", "5", keys.publisher);
    expect(fellow.descriptor.root_hash).not.toBe(publisher.descriptor.root_hash);

    const out = join(work.dir, "model-5.bin");
    const fetched = await runCliAsync(["artifact", "fetch", "model@5", "--out", out, "--timeout", "5s", ...fetcherFlags()]);
    expect(fetched.stderr).not.toMatch(/^error/m);
    expect(fetched.status).toBe(0);
    expect(JSON.parse(fetched.stdout).root_hash).toBe(publisher.descriptor.root_hash);
    expect(await sha256File(out)).toBe(await sha256File(real));

    const listed = await runCliAsync(["artifact", "ls", "--json", "--wait", "2s", ...fetcherFlags()]);
    expect(listed.status).toBe(0);
    const rows = listed.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; version: string; root_hash: string; conflicts_with: string[] });
    expect(rows.filter((r) => r.name === "model" && r.version === "5").map((r) => [r.root_hash, r.conflicts_with])).toEqual([[publisher.descriptor.root_hash, []]]);
  }, 90_000);

  it("two publishers of one name disagreeing on model@6 is a refusal naming both root hashes, never a silent choice", async () => {
    const a = await publish(real, "model", "6", keys.publisher);
    const b = await publish(fake, "model", "6", keys.rival);
    const flags = fetcherFlags(["--publisher", `model=${keys.rival.pub}`]);
    const fetched = await runCliAsync(["artifact", "fetch", "model@6", "--out", join(work.dir, "model-6.bin"), "--timeout", "5s", ...flags]);
    expect(fetched.status).toBe(1);
    expect(fetched.stderr).toMatch(/^error ONEX_E_DESCRIPTOR_INVALID: conflicting descriptors for model@6/m);
    expect(fetched.stderr).toContain(a.descriptor.root_hash);
    expect(fetched.stderr).toContain(b.descriptor.root_hash);

    const listed = await runCliAsync(["artifact", "ls", "--wait", "2s", ...flags]);
    const lines = listed.stdout.split("\n").filter((l) => l.startsWith("model@6"));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toContain("CONFLICT with");
  }, 90_000);

  it("a refused announcement says what was refused and why, and does not block the valid one announced after it", async () => {
    await publish(fake, "model", "7", keys.fellow);
    const refused = await runCliAsync(["artifact", "fetch", "model@7", "--out", join(work.dir, "model-7.bin"), "--timeout", "3s", ...fetcherFlags()]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^error ONEX_E_DESCRIPTOR_INVALID: every descriptor announced for model@7 was refused: sha256:[0-9a-f]{64} signed by key-/m);
    expect(refused.stderr).toMatch(/may publish datasets\/\*, not model/);

    await publish(real, "model", "7", keys.publisher);
    const out = join(work.dir, "model-7.bin");
    const fetched = await runCliAsync(["artifact", "fetch", "model@7", "--out", out, "--timeout", "5s", ...fetcherFlags()]);
    expect(fetched.status).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(real));
  }, 90_000);

  it("a fellow peer whose peer id carries terminal controls has them printed escaped: its refusal warning, the listing and the fetch summary", async () => {
    // An OSC that retitles the terminal, a new line that starts a fake line, an 8-bit CSI and a bidi override.
    const peerId = "fellow\u001b]0;owned\u0007\nerror: none\u009b2J\u202e";
    await publish(fake, "model", "9", keys.fellow, ["--peer-id", `${peerId}-refused`]);
    await publish(real, "datasets/clean", "1", keys.fellow, ["--peer-id", peerId]);
    const out = join(work.dir, "clean.bin");
    const fetched = await runCliAsync(["artifact", "fetch", "datasets/clean@1", "--out", out, "--timeout", "5s", ...fetcherFlags()]);
    expect(fetched.status).toBe(0);
    const listed = await runCliAsync(["artifact", "ls", "--json", "--wait", "2s", ...fetcherFlags()]);
    expect(listed.status).toBe(0);
    // The refused model@9 is warned about on stderr by both, with the peer id in it.
    expect(fetched.stderr + listed.stderr).toMatch(/model@9.*from peer fellow/);
    for (const text of [fetched.stdout, fetched.stderr, listed.stdout, listed.stderr]) {
      expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      expect(text).not.toMatch(/^error: none/m);
    }
    // Still the peer's id, escaped in JSON: a reader parsing the summary gets it back whole.
    expect(Object.keys(JSON.parse(fetched.stdout).bytes_by_peer)).toContain(peerId);
  }, 90_000);

  it("an announcement signed by a key nobody trusts is reported as refused (exit 1), not as no peers (exit 69)", async () => {
    await publish(real, "model", "8", keys.stranger);
    const fetched = await runCliAsync(["artifact", "fetch", "model@8", "--out", join(work.dir, "model-8.bin"), "--timeout", "3s", ...fetcherFlags()]);
    expect(fetched.stderr).toMatch(/^error ONEX_E_SIGNER_UNKNOWN: the announcement of model@8 by peer .* was refused by this peer's trust policy .*--publisher/m);
    expect(fetched.status).toBe(1);
  }, 90_000);
});
