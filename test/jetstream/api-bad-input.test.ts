/**
 * Arguments the types forbid, passed from plain JavaScript, against a real nats-server: each is
 * refused with ONEX_E_USAGE, naming it, before anything is sent. Each of these was something else:
 * a history stream of 5 or "a.b" (or a fromTime past 9999) ONEX_E_CONNECTION; a deliver.fromTime
 * of "2030" a subscription from a time Date's parser made up, one past 9999 the server's "invalid
 * JSON", a deliver of null "all"; a dead-letter query of null a raw TypeError; a publish of
 * Object.create(null) a raw TypeError and of {} ONEX_E_VALIDATION; an identity whose keyId is
 * another key's a client whose every message its receivers dead-lettered.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { getDeadLetter, listDeadLetters, readDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { readHistory } from "../../runtime/jetstream/history.js";
import { jetStreamFailure } from "../../runtime/jetstream/with-retry.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

let server: NatsServer;
let c: OnexClient;
const keys = makeKeys();

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  c = await client(server.url, keys.node, [keys.node]);
});

afterAll(async () => {
  await c?.close();
  await server?.stop();
});

/** The code and message `fn` fails with (synchronously or not), or "no error"; a raw error as its name. */
async function failure(fn: () => unknown): Promise<[string, string] | "no error"> {
  try {
    await fn();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return [typeof code === "string" ? code : (error as Error).name, (error as Error).message];
  }
  return "no error";
}

const loose = <T>(value: unknown) => value as T;

describe("readHistory", () => {
  const read = async (stream: unknown, options: unknown) => {
    for await (const _ of readHistory(c.js, await c.manager(), loose<string>(stream), loose<{}>(options))) break;
  };

  it.each([[5], [null], [undefined], [""], ["a.b"], ["ONEX_*"], ["a b"]])("a stream of %j is ONEX_E_USAGE, naming the stream", async (stream) => {
    const [code, message] = (await failure(() => read(stream, {}))) as [string, string];
    expect(code).toBe(ErrorCode.Usage);
    expect(message).toMatch(/^readHistory: stream must be a stream name/);
  });

  it("a fromTime past the year 9999 is ONEX_E_USAGE (the server refused it as invalid JSON)", async () => {
    expect(await failure(() => read("ONEX_EVENT", { fromTime: new Date("+010000-01-01T00:00:00.000Z") }))).toEqual([
      ErrorCode.Usage,
      "readHistory: fromTime must be a valid Date from the year 0000 to 9999, not +010000-01-01T00:00:00.000Z",
    ]);
    expect(await failure(() => read("ONEX_EVENT", { fromTime: new Date(Number.NaN) }))).toEqual([ErrorCode.Usage, expect.stringMatching(/not an invalid Date$/)]);
  });

  it("a stream name and a time within 0000 to 9999 still read", async () => {
    await c.publish(stateUpdate("n-bad-input"));
    const entries = [];
    for await (const entry of readHistory(c.js, await c.manager(), "ONEX_EVENT", { fromTime: new Date("9999-12-31T23:59:59.999Z") })) entries.push(entry);
    expect(entries).toEqual([]);
    for await (const entry of readHistory(c.js, await c.manager(), "ONEX_EVENT", { fromTime: new Date(0), limit: 1 })) entries.push(entry);
    expect(entries).toHaveLength(1);
  });

  it("a TypeError of a JetStream request is ONEX_E_INTERNAL, not ONEX_E_CONNECTION (no retry mends it)", async () => {
    expect(jetStreamFailure(new TypeError("name.indexOf is not a function"), "reading 5", {}).code).toBe(ErrorCode.Internal);
    expect(jetStreamFailure(new Error("TIMEOUT"), "reading ONEX_EVENT", {}).code).toBe(ErrorCode.ConnectionFailed);
    const broken = loose<Parameters<typeof readHistory>[1]>({ streams: { info: () => Promise.reject(new TypeError("x is not a function")) } });
    const [code] = (await failure(async () => {
      for await (const _ of readHistory(c.js, broken, "ONEX_EVENT", {})) break;
    })) as [string, string];
    expect(code).toBe(ErrorCode.Internal);
  });
});

describe("subscribe's deliver", () => {
  const open = (deliver: unknown) => c.subscribe([v0_1.StateUpdate], { deliver: loose<"all">(deliver) });

  it.each([
    ["1", '"1"'],
    ["2030", '"2030"'],
    ["Tue, 01 Jan 2030 00:00:00 GMT", '"Tue, 01 Jan 2030 00:00:00 GMT"'],
    ["2030-01-01T00:00:00", '"2030-01-01T00:00:00"'],
    ["+010000-01-01T00:00:00Z", '"+010000-01-01T00:00:00Z"'],
  ])("a fromTime of %j (no strict RFC 3339 time) is ONEX_E_USAGE", async (fromTime, shown) => {
    expect(await failure(() => open({ fromTime }))).toEqual([ErrorCode.Usage, `subscribe: deliver.fromTime must be a Date or an RFC 3339 time from the year 0000 to 9999, not ${shown}`]);
  });

  it("a Date past 9999 is ONEX_E_USAGE (it was the server's invalid JSON), and an invalid Date is called one (it was \"not null\")", async () => {
    expect(await failure(() => open({ fromTime: new Date("+010000-01-01T00:00:00Z") }))).toEqual([ErrorCode.Usage, expect.stringMatching(/, not \+010000-01-01T00:00:00\.000Z$/)]);
    expect(await failure(() => open({ fromTime: new Date(Number.NaN) }))).toEqual([ErrorCode.Usage, expect.stringMatching(/, not an invalid Date$/)]);
  });

  it("a deliver of null is ONEX_E_USAGE, not the default", async () => {
    expect(await failure(() => open(null))).toEqual([ErrorCode.Usage, expect.stringMatching(/^subscribe: deliver must be .*, not null$/)]);
  });

  it("a strict RFC 3339 time with an offset, and the last time RFC 3339 writes, open a subscription from that time", async () => {
    const jsm = await c.manager();
    for (const [fromTime, start] of [
      ["2030-01-01T01:00:00+01:00", "2030-01-01T00:00:00Z"],
      [new Date("9999-12-31T23:59:59.999Z"), "9999-12-31T23:59:59.999Z"],
    ] as const) {
      const sub = await open({ fromTime });
      const info = await jsm.consumers.info(sub.stream, sub.consumer);
      expect(new Date(info.config.opt_start_time!).getTime()).toBe(new Date(start).getTime());
      await sub.stop();
    }
  });
});

describe("dead-letter readers", () => {
  it("a query of null is ONEX_E_USAGE (a raw TypeError)", async () => {
    const jsm = await c.manager();
    expect(await failure(() => listDeadLetters(jsm, loose(null)))).toEqual([ErrorCode.Usage, "listDeadLetters: query must be an object, not null"]);
    expect(await failure(() => readDeadLetters(jsm, loose(null)).next())).toEqual([ErrorCode.Usage, "listDeadLetters: query must be an object, not null"]);
  });

  it("a stream that is no stream name is ONEX_E_USAGE (nats.js refused it, reported as ONEX_E_CONNECTION)", async () => {
    const jsm = await c.manager();
    expect(await failure(() => listDeadLetters(jsm, { stream: "a.b" }))).toEqual([ErrorCode.Usage, expect.stringMatching(/^listDeadLetters: stream must be a stream name/)]);
  });

  it("a sequence that is an object is shown as one, not as [object Object]", async () => {
    expect(await failure(async () => getDeadLetter(await c.manager(), loose({})))).toEqual([ErrorCode.Usage, "getDeadLetter: sequence must be a whole number from 1 to 9007199254740991, not {}"]);
  });
});

describe("publish of something that is no message instance", () => {
  it.each([
    ["Object.create(null)", () => Object.create(null) as unknown],
    ["{}", () => ({})],
    ["plain message data", () => stateUpdate("n-plain").toJSON()],
  ])("publish(%s) and publishMany([it]) are ONEX_E_USAGE", async (_label, make) => {
    const [code, message] = (await failure(() => c.publish(loose(make())))) as [string, string];
    expect(code).toBe(ErrorCode.Usage);
    expect(message).toMatch(/^publish\(\) takes a generated message instance/);
    const [manyCode, manyMessage] = (await failure(() => c.publishMany([loose(make())]))) as [string, string];
    expect(manyCode).toBe(ErrorCode.Usage);
    expect(manyMessage).toMatch(/^publish\(\) takes a generated message instance.*\(publishMany: message 0;/);
  });
});

describe("connect", () => {
  it("an identity whose keyId is not its private key's is ONEX_E_USAGE, naming both ids (every message it signed was dead-lettered)", async () => {
    const other = generateKeyPair();
    const [code, message] = (await failure(() => client(server.url, { ...keys.agent, keyId: other.keyId }, [keys.agent, other]))) as [string, string];
    expect(code).toBe(ErrorCode.Usage);
    expect(message).toContain(other.keyId);
    expect(message).toContain(keys.agent.keyId);
  });
});
