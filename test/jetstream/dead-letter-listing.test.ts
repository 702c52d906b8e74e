/**
 * Listing a long dead-letter stream: letters come out as they are read (a listing holds a few,
 * not the stream), and `--reason` with `--limit` lists that many letters of the reason, however
 * far into the stream they lie.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { readDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";
import { runCli } from "../support/run-cli.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, stateUpdate } from "./fixtures.js";

const LETTERS = 600;
/** The first LETTERS - LATE letters are of one reason, the last LATE of another. */
const LATE = 20;

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  nc = await natsConnect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const body = new TextEncoder().encode(JSON.stringify(stateUpdate("n-letters").toJSON()));
  const written: Promise<unknown>[] = [];
  for (let i = 0; i < LETTERS; i++) {
    const h = headers();
    h.set(OnexHeader.DlqReason, i < LETTERS - LATE ? ErrorCode.SignatureInvalid : ErrorCode.SignerUnknown);
    h.set(OnexHeader.DlqStream, "ONEX_EVENT");
    h.set(OnexHeader.DlqSequence, String(i + 1));
    written.push(js.publish("onex.dlq.~.ONEX_EVENT.listing", body, { headers: h }));
  }
  await Promise.all(written);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("dead letters of a long stream", () => {
  it("are yielded as they are read: the first comes before the stream is read through", async () => {
    const before = nc.stats().inMsgs;
    const letters = readDeadLetters(jsm);
    const first = await letters.next();
    const read = nc.stats().inMsgs - before;
    await letters.return(undefined);
    expect(first.value?.sequence).toBe(1);
    // The stream's names and info, and the letters asked for ahead of the first: gathered into an
    // array first, the listing read all LETTERS before it gave one.
    expect(read).toBeLessThan(LETTERS / 4);
  });

  it("read in order and each once, with reads in flight ahead of the one in hand", async () => {
    const sequences: number[] = [];
    for await (const letter of readDeadLetters(jsm, { stream: "ONEX_DLQ" })) sequences.push(letter.sequence);
    expect(sequences).toEqual(Array.from({ length: LETTERS }, (_, i) => i + 1));
  });

  it("onex dlq list --reason --limit lists that many of the reason, past the first --limit letters", () => {
    const listed = runCli(["dlq", "list", "--server", server.url, "--reason", ErrorCode.SignerUnknown, "--limit", "5", "--json"]);
    expect(listed.status, listed.stderr).toBe(0);
    const letters = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { sequence: number; reason: string });
    // The limit used to be applied before the reason: the first 5 letters were read, none of them of this reason.
    expect(letters.map((l) => l.sequence)).toEqual([581, 582, 583, 584, 585]);
    expect(new Set(letters.map((l) => l.reason))).toEqual(new Set([ErrorCode.SignerUnknown]));
  });

  it("a reason that is no string is ONEX_E_USAGE", async () => {
    await expect(readDeadLetters(jsm, { reason: 5 as unknown as string }).next()).rejects.toMatchObject({ code: ErrorCode.Usage });
  });
});
