/**
 * A fetch requests its first pieces while its announcement is on the way to the stream, and a
 * failed announcement still fails the fetch with its own error (saying so when the file is
 * already in place, as does a failed last announcement of the whole file). The fetcher's control plane
 * is the real JetStream client with its announcements held back or refused.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ControlPlane } from "../../runtime/control-plane.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { generateKeyPair, type KeyPair } from "../../runtime/trust/keys.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { applyBundledStreams, client } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { sha256File, startPeer, tempDir, writeRandomFile, type TestPeer } from "./fixtures.js";

const MB = 1 << 20;

let nats: NatsServer;
let work: { dir: string; remove(): Promise<void> };
let source: string;
const keys = { seeder: generateKeyPair(), fetcher: generateKeyPair() };
const trusted: KeyPair[] = [keys.seeder, keys.fetcher];
const peers: TestPeer[] = [];
const clients: OnexClient[] = [];

/** The fetcher's client, with its `event.artifact.announced` publishes passed to `announce` (and `signal.artifact.have` to `have`). */
type Passed = (publish: () => Promise<unknown>, message: { type?: string; payload?: { complete?: boolean } }) => Promise<unknown>;
async function fetcher(id: string, announce: Passed, have: Passed = (publish) => publish()): Promise<TestPeer> {
  const real: ControlPlane = await client(nats.url, keys.fetcher, trusted);
  clients.push(real as OnexClient);
  const passedTo: Record<string, Passed | undefined> = { "event.artifact.announced": announce, "signal.artifact.have": have };
  const wrapped: ControlPlane = {
    publish: (message, options) => {
      const m = message as Parameters<Passed>[1];
      return (passedTo[m.type ?? ""] ?? ((publish) => publish()))(() => real.publish(message, options), m) as ReturnType<ControlPlane["publish"]>;
    },
    subscribe: (types, options) => real.subscribe(types, options),
    subscribeVersioned: (receiver, options) => real.subscribeVersioned(receiver, options),
  };
  const p = await startPeer(nats.url, id, keys.fetcher, trusted, { client: wrapped });
  peers.push(p);
  return p;
}

beforeAll(async () => {
  nats = await startNatsServer();
  await applyBundledStreams(nats.url);
  work = await tempDir();
  source = join(work.dir, "model.bin");
  await writeRandomFile(source, 8 * MB);
  const seeder = await startPeer(nats.url, "seeder", keys.seeder, trusted);
  peers.push(seeder);
  await seeder.peer.publish(source, { name: "models/small", version: "1.0.0", pieceSize: MB });
}, 60_000);

afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  await Promise.all(clients.map((c) => c.close()));
  await nats?.stop();
  await work?.remove();
});

describe("announcing while fetching", () => {
  it("pieces arrive before the announcement is stored, and the fetch returns once it is", async () => {
    let announcedAt = 0;
    const f = await fetcher("held", async (publish) => {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const receipt = await publish();
      announcedAt = Date.now();
      return receipt;
    });
    let firstPieceAt = 0;
    const out = join(work.dir, "held.bin");
    const { result } = await f.peer.fetch({ name: "models/small", version: "1.0.0" }, out, { onPiece: () => (firstPieceAt ||= Date.now()), stallTimeoutMs: 30_000 });
    expect(result.fetchedPieces).toBe(8);
    expect(await sha256File(out)).toBe(await sha256File(source));
    expect(firstPieceAt).toBeGreaterThan(0);
    expect(firstPieceAt).toBeLessThan(announcedAt);
  }, 30_000);

  it("a refused announcement fails the fetch with its own error, and no file is left at the output", async () => {
    const f = await fetcher("refused", async () => {
      throw new OnexError(ErrorCode.ConnectionFailed, "the stream did not take the announcement");
    });
    const out = join(work.dir, "refused.bin");
    await expect(f.peer.fetch({ name: "models/small", version: "1.0.0" }, out, { stallTimeoutMs: 30_000 })).rejects.toMatchObject({ code: ErrorCode.ConnectionFailed, message: "the stream did not take the announcement" });
    expect(existsSync(out)).toBe(false);
  }, 30_000);

  it("an announcement refused after every piece arrived fails the fetch saying the file is in place, and leaves it there verified", async () => {
    let allIn!: () => void;
    const complete = new Promise<void>((resolve) => (allIn = resolve));
    const f = await fetcher("late", async () => {
      await complete;
      throw new OnexError(ErrorCode.ConnectionFailed, "the stream did not take the announcement");
    });
    const out = join(work.dir, "late.bin");
    const onPiece = (_index: number, have: { complete: boolean }) => have.complete && allIn();
    const fetching = f.peer.fetch({ name: "models/small", version: "1.0.0" }, out, { stallTimeoutMs: 30_000, onPiece });
    await expect(fetching).rejects.toMatchObject({ code: ErrorCode.ConnectionFailed, message: `${out} was fetched and verified, but announcing this peer failed: the stream did not take the announcement` });
    expect(await sha256File(out)).toBe(await sha256File(source));
  }, 30_000);

  it("the last word of a fetch (it holds every piece) refused fails it the same way, saying the file is in place", async () => {
    const f = await fetcher(
      "last-word",
      (publish) => publish(),
      async (publish, message) => {
        // Words of pieces still missing go out; those of the whole file do not.
        if (!message.payload?.complete) return publish();
        throw new OnexError(ErrorCode.PublishTimeout, "no acknowledgement");
      },
    );
    const out = join(work.dir, "last-word.bin");
    await expect(f.peer.fetch({ name: "models/small", version: "1.0.0" }, out, { stallTimeoutMs: 30_000 })).rejects.toMatchObject({ code: ErrorCode.PublishTimeout, message: `${out} was fetched and verified, but announcing this peer failed: no acknowledgement` });
    expect(await sha256File(out)).toBe(await sha256File(source));
  }, 30_000);
});
