/**
 * `onex dlq replay` run as operators run it on a day with trouble: a sequence given twice, two
 * operators replaying the same letters at once, a run again after the server restarted (the
 * first run's acknowledgement may have been lost, and the command says to run again). Each
 * letter's original is stored once, and the stream holds exactly the messages it did plus one
 * copy per letter. Each replay used to be published under a random id, so every run stored
 * another copy, delivered again to every subscription without a replay guard.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { connect as natsConnect, headers as natsHeaders } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { exportPublicKey } from "../../runtime/trust/keys.js";
import { runCliAsync } from "../support/cli-process.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { eventually } from "../registry/fixtures.js";
import { client, makeKeys, stateUpdate } from "./fixtures.js";

const keys = makeKeys();
let server: NatsServer;
let nodeKey: string;
/** The dead letters' sequences, one per message the node published. */
let letters: number[] = [];
const LETTERS = 8;

const cli = (...args: string[]) => runCli([...args, "--server", server.url]);
const replay = (...sequences: number[]) => cli("dlq", "replay", ...sequences.map(String), "--key", nodeKey);

/** What ONEX_EVENT holds: its message count, and the stored messages' ids. */
async function events(): Promise<{ count: number; ids: string[] }> {
  const nc = await natsConnect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const count = (await jsm.streams.info("ONEX_EVENT")).state.messages;
    const ids: string[] = [];
    for (let seq = 1; seq <= count; seq++) ids.push((JSON.parse(new TextDecoder().decode((await jsm.streams.getMessage("ONEX_EVENT", { seq }))!.data)) as { id: string }).id);
    return { count, ids };
  } finally {
    await nc.close();
  }
}

/** The message id of dead letter `sequence`'s original. */
function originalOf(sequence: number): string {
  return (JSON.parse(cli("dlq", "show", String(sequence)).stdout) as { body: { id: string } }).body.id;
}

beforeAll(async () => {
  server = await startNatsServer();
  expect(cli("streams", "apply").status).toBe(0);
  nodeKey = join(await tempDir(), "node.pub");
  await writeFile(nodeKey, exportPublicKey(keys.node.publicKey));
  const publisher = await client(server.url, keys.node, [keys.node]);
  for (let i = 0; i < LETTERS; i++) await publisher.publish(stateUpdate(`n-${i}`, "idle"));
  await publisher.close();
  // A receiver that trusts only a stranger's key dead-letters each of them.
  const receiver = await client(server.url, keys.agent, [keys.stranger]);
  const sub = await receiver.subscribe([v0_1.StateUpdate], { durable: "replay-once" });
  const consuming = (async () => {
    for await (const d of sub) await d.ack();
  })();
  await eventually(async () => sub.stats.deadLettered === LETTERS, 20_000, "the letters");
  await sub.stop();
  await consuming;
  await receiver.close();
  const list = cli("dlq", "list", "--json");
  letters = list.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { sequence: number }).sequence);
  expect(letters).toHaveLength(LETTERS);
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

describe("dlq replay stores each letter once", () => {
  it("a sequence given twice in one run is replayed once, and said", async () => {
    const before = await events();
    const [a, b] = letters as [number, number];
    const run = replay(a, a, b);
    expect([run.status, run.stderr]).toEqual([0, ""]);
    const lines = run.stdout.trim().split("\n");
    expect(lines.map((l) => l.split(" -> ")[0])).toEqual([`replayed ${a}`, `already replayed ${a}`, `replayed ${b}`]);
    // The second line names where the first stored it.
    expect(lines[1]!.split(" -> ")[1]).toBe(lines[0]!.split(" -> ")[1]);
    const after = await events();
    expect(after.count).toBe(before.count + 2);
    expect(after.ids.slice(before.count).sort()).toEqual([originalOf(a), originalOf(b)].sort());
  });

  it("two operators replaying the same letters at once store each once", async () => {
    const before = await events();
    const [, , c, d] = letters as [number, number, number, number];
    const runs = await Promise.all([runCliAsync(["dlq", "replay", String(c), String(d), "--key", nodeKey, "--server", server.url]), runCliAsync(["dlq", "replay", String(c), String(d), "--key", nodeKey, "--server", server.url])]);
    for (const run of runs) expect([run.status, run.stderr]).toEqual([0, ""]);
    // Each letter is replayed by one run and found replayed by the other, whichever came first.
    for (const sequence of [c, d]) {
      const said = runs.map((run) => run.stdout.split("\n").find((l) => l.split(" -> ")[0]!.endsWith(` ${sequence}`))!.split(" -> ")[0]).sort();
      expect(said).toEqual([`already replayed ${sequence}`, `replayed ${sequence}`]);
    }
    expect((await events()).count).toBe(before.count + 2);
  }, 60_000);

  it("run again after the server restarted, a replay stores nothing twice", async () => {
    const [, , , , e] = letters as number[];
    const first = replay(e!);
    expect(first.stdout).toMatch(new RegExp(`^replayed ${e} -> `));
    const before = await events();
    await server.kill();
    await server.restart();
    const again = replay(e!);
    expect([again.status, again.stderr]).toEqual([0, ""]);
    expect(again.stdout.split(" -> ")).toEqual([`already replayed ${e}`, first.stdout.split(" -> ")[1]]);
    expect((await events()).count).toBe(before.count);
  }, 60_000);

  it("a message stored ahead of time under a letter's id does not stand in for the replay", async () => {
    const f = letters[5]!;
    const before = await events();
    // The letter's id can be foreseen: another message, published under it first.
    const nc = await natsConnect({ servers: server.url });
    try {
      const h = natsHeaders();
      h.set("Onex-Type", "signal.state.update");
      h.set("Onex-Version", "0.1");
      const decoy = stateUpdate("decoy", "busy");
      await jetstream(nc).publish(decoy.subject(), decoy.encode(), { headers: h, msgID: `replay:ONEX_DLQ:${f}` });
    } finally {
      await nc.close();
    }
    const run = replay(f);
    expect([run.status, run.stderr]).toEqual([0, ""]);
    expect(run.stdout).toMatch(new RegExp(`^replayed ${f} -> ONEX_EVENT#${before.count + 2} `));
    const after = await events();
    expect(after.count).toBe(before.count + 2);
    expect(after.ids[before.count + 1]).toBe(originalOf(f));
  }, 60_000);

  it("a sequence with no letter among others is said, and the letters after it are replayed all the same", async () => {
    const before = await events();
    const [g, h] = [letters[6]!, letters[7]!];
    const run = replay(g, 999_999, h);
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split("\n").map((l) => l.split(" -> ")[0])).toEqual([`replayed ${g}`, `replayed ${h}`]);
    expect(run.stderr).toBe("missing  999999: no dead letter with sequence 999999 in ONEX_DLQ\nerror ONEX_E_NOT_FOUND: 1 of 3 dead letter(s) not found (999999); the others were replayed\n");
    expect((await events()).count).toBe(before.count + 2);
  });
});
