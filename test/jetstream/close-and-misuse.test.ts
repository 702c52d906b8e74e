/** A client closed twice, used after close, and misused from plain JavaScript, against a real nats-server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import type { ConnectOptions, OnexClient } from "../../runtime/jetstream/client.js";
import { getDeadLetter, listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";
import { settledWithin } from "../support/settled-within.js";
import { startNatsProxy } from "../support/nats-proxy.js";
import { ZONE_ID_RULE } from "../../runtime/zone-id.js";

let server: NatsServer;
const keys = makeKeys();

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
});

afterAll(async () => {
  await server?.stop();
});


/** The ONEX_E_ code `fn` fails with (synchronously or not), or the raw error's name. */
async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? code : `${(error as Error).name}: ${(error as Error).message}`;
  }
  return "no error";
}

/** The code and message `fn` fails with, or "no error". */
async function messageOf(fn: () => unknown): Promise<[string, string] | "no error"> {
  try {
    await fn();
  } catch (error) {
    return [(error as OnexError).code, (error as Error).message];
  }
  return "no error";
}

describe("closing a client", () => {
  it("two close() calls at once (a SIGTERM handler and the shutdown path) both settle", async () => {
    const c = await client(server.url, keys.node, [keys.node]);
    await c.publish(stateUpdate("n-close"));
    const first = c.close();
    const second = c.close();
    expect(await settledWithin(Promise.all([first, second]), 5_000)).toBe("resolved");
    expect(await settledWithin(c.close(), 1_000)).toBe("resolved");
  });
});

describe("closing a client whose server is connected but silent (stalled, or cut off without the socket knowing)", () => {
  it("close() ends, with a publish waiting for its acknowledgement and a subscription pulling, instead of waiting minutes for nats.js to give the connection up", async () => {
    const proxy = await startNatsProxy(server.port);
    try {
      const c = await client(proxy.url, keys.node, [keys.node]);
      await c.publish(stateUpdate("n-silent"));
      const sub = await c.subscribe([v0_1.StateUpdate], { entityId: "n-silent-sub" });
      const consuming = (async () => {
        for await (const d of sub) await d.ack();
      })();
      // From here the server says nothing: the pull in progress never ends, and no acknowledgement comes.
      proxy.hold();
      const unacknowledged = stateUpdate("n-silent");
      const waiting = c.publish(unacknowledged, { timeoutMs: 120_000, retryForMs: 120_000 });
      expect(await settledWithin(c.close(), 25_000)).toBe("resolved");
      expect(await settledWithin(waiting, 1_000)).toBe(`rejected ${ErrorCode.Usage}`);
      // The failure names the message and says its fate is unknown, so the caller publishes it again.
      const failure = (await waiting.catch((error: unknown) => error)) as OnexError;
      expect([failure.details.messageId, failure.details.subject, failure.message]).toEqual([unacknowledged.id, unacknowledged.subject(), expect.stringMatching(/may or may not be stored/)]);
      expect(await settledWithin(consuming, 1_000)).toBe("resolved");
    } finally {
      proxy.close();
    }
  }, 60_000);
});

describe("a closed client", () => {
  it("fails every operation at once with ONEX_E_USAGE, not a retryable timeout after retryForMs", async () => {
    const c = await client(server.url, keys.node, [keys.node]);
    await c.close();
    const message = stateUpdate("n-after-close");
    expect(await settledWithin(c.publish(message), 1_000)).toBe(`rejected ${ErrorCode.Usage}`);
    // With Infinity the publish never settled and kept the process alive.
    expect(await settledWithin(c.publish(message, { retryForMs: Infinity }), 1_000)).toBe(`rejected ${ErrorCode.Usage}`);
    expect(await settledWithin(c.publishMany([message]), 1_000)).toBe(`rejected ${ErrorCode.Usage}`);
    expect(await codeOf(() => c.subscribe([v0_1.StateUpdate]))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => c.subscribeVersioned({ sdk: v0_2, sources: [v0_1], graph: versionGraph }))).toBe(ErrorCode.Usage);
  });
});

describe("a client closed while a subscription opens", () => {
  it("the subscription opening fails with ONEX_E_USAGE, and manager() on a closed client too", async () => {
    const c = await client(server.url, keys.node, [keys.node]);
    const opening = c.subscribe([v0_1.StateUpdate], { deliver: "new" });
    const closing = c.close();
    expect(await settledWithin(opening, 5_000)).toBe(`rejected ${ErrorCode.Usage}`);
    expect(await settledWithin(closing, 5_000)).toBe("resolved");
    expect(await settledWithin(c.manager(), 1_000)).toBe(`rejected ${ErrorCode.Usage}`);
  });
});

describe("plain-JavaScript misuse", () => {
  let c: OnexClient;
  beforeAll(async () => {
    c = await client(server.url, keys.node, [keys.node]);
  });
  afterAll(async () => c?.close());

  // Each of these failed as a raw TypeError (or reached the server), not ONEX_E_USAGE.
  const anyClient = () => c as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  it.each([
    ["publish(null)", () => anyClient().publish!.call(c, null)],
    ["publish(message, null)", () => anyClient().publish!.call(c, stateUpdate("n-misuse"), null)],
    ["publishMany(null)", () => anyClient().publishMany!.call(c, null)],
    ["publishMany([null])", () => anyClient().publishMany!.call(c, [null])],
    ["subscribe(a class, not an array)", () => anyClient().subscribe!.call(c, v0_1.StateUpdate)],
    ["subscribe(null)", () => anyClient().subscribe!.call(c, null)],
    ["subscribe(type names)", () => anyClient().subscribe!.call(c, ["signal.state.update"])],
    ["subscribe([C], null)", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], null)],
    ['deliver: "bogus"', () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { deliver: "bogus" })],
    ["deliver: {}", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { deliver: {} })],
    ["deliver: { fromTime: 12345 }", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { deliver: { fromTime: 12345 } })],
    ["deliver: { fromSequence: -1 }", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { deliver: { fromSequence: -1 } })],
    ['deliver: { fromSequence: "10" }', () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { deliver: { fromSequence: "10" } })],
    ["deliver: { fromSequence: 1.5 }", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { deliver: { fromSequence: 1.5 } })],
    ['durable: ""', () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { durable: "" })],
    ["durable: 5", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { durable: 5 })],
    ["rememberAcked: NaN", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { rememberAcked: NaN })],
    ["rememberAcked: -1", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { rememberAcked: -1 })],
    ["rememberRefusals: NaN", () => anyClient().subscribeVersioned!.call(c, { sdk: v0_2, sources: [v0_1], graph: versionGraph }, { rememberRefusals: NaN })],
    // A wrong type was ONEX_E_SUBJECT_TOKEN (a string was spread into params "0", "1", ...; null subscribed to every source).
    ["zone: 5", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { zone: 5 })],
    ["entityId: 42", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { entityId: 42 })],
    ['entityType: ["node"]', () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { entityType: ["node"] })],
    ["filter: { entity_id: 7 }", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { filter: { entity_id: 7 } })],
    ['filter: "n-1"', () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { filter: "n-1" })],
    ["filter: null", () => anyClient().subscribe!.call(c, [v0_1.StateUpdate], { filter: null })],
    ["subscribeVersioned zone: 5", () => anyClient().subscribeVersioned!.call(c, { sdk: v0_2, sources: [v0_1], graph: versionGraph }, { zone: 5 })],
  ])("%s fails with ONEX_E_USAGE", async (_label, call) => {
    expect(await codeOf(call)).toBe(ErrorCode.Usage);
  });

  it("a dead-letter zone or stream that is no string is ONEX_E_USAGE (a zone of 5 was ONEX_E_SUBJECT_TOKEN), and so is a zone no message can name", async () => {
    const jsm = await c.manager();
    expect(await codeOf(() => getDeadLetter(jsm, 1, 5 as never))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => listDeadLetters(jsm, { zone: 5 as never }))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => listDeadLetters(jsm, { stream: 5 as never }))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => getDeadLetter(jsm, 1, ""))).toBe(ErrorCode.Usage);
  });

  it("a string that is no subject token is still ONEX_E_SUBJECT_TOKEN", async () => {
    expect(await codeOf(() => c.subscribe([v0_1.StateUpdate], { filter: { entity_id: "" } }))).toBe(ErrorCode.SubjectToken);
  });

  it("a zone no message can name is ONEX_E_USAGE, given as zone or as the filter's zone part, naming which and the rule", async () => {
    // Each opened a subscription that received nothing: no message's zone is such a string.
    for (const zone of ["Zone.A", "zone_a", "*", ""]) {
      const given = `zone ${JSON.stringify(zone)} is no zone a message can name: a zone id is ${ZONE_ID_RULE}`;
      expect(await messageOf(() => c.subscribe([v0_1.StateUpdate], { zone }))).toEqual([ErrorCode.Usage, `subscribe: zone: ${given}`]);
      expect(await messageOf(() => c.subscribe([v0_1.StateUpdate], { filter: { zone_id: zone } }))).toEqual([ErrorCode.Usage, `subscribe: filter.zone_id: ${given}`]);
      expect(await messageOf(() => c.subscribeVersioned({ sdk: v0_2, sources: [v0_1], graph: versionGraph }, { zone }))).toEqual([ErrorCode.Usage, `subscribe: zone: ${given}`]);
    }
    // A zone id opens its subscription, on the shared stream of a deployment without zones.
    const sub = await c.subscribe([v0_1.StateUpdate], { zone: "zone.a" });
    expect(sub.stream).toBe("ONEX_EVENT");
    await sub.stop();
  });

  it("a valid fromSequence and fromTime still open a subscription", async () => {
    for (const deliver of [{ fromSequence: 1 }, { fromTime: new Date(0) }, { fromTime: "2020-01-01T00:00:00Z" }]) {
      const sub = await c.subscribe([v0_1.StateUpdate], { deliver });
      await sub.stop();
    }
  });
});

describe("subscribeVersioned's receiver, checked as the subscription opens", () => {
  let c: OnexClient;
  beforeAll(async () => {
    c = await client(server.url, keys.node, [keys.node]);
  });
  afterAll(async () => c?.close());

  const loose = (receiver: unknown, options?: unknown) => (c.subscribeVersioned as unknown as (r: unknown, o?: unknown) => Promise<unknown>).call(c, receiver, options);
  // Without graph every message of another version was consumed as ONEX_E_INTERNAL; the others were raw TypeErrors or a TypeError at the first refusal.
  it.each([
    ["no graph", () => loose({ sdk: v0_2, sources: [v0_1] })],
    ["{}", () => loose({})],
    ["null", () => loose(null)],
    ["no sources", () => loose({ sdk: v0_2, graph: versionGraph })],
    ["an sdk that is a string", () => loose({ sdk: "v0.2", sources: [v0_1], graph: versionGraph })],
    ["a source that is no SDK", () => loose({ sdk: v0_2, sources: [v0_1.StateUpdate], graph: versionGraph })],
    ["onRefusal: 5", () => loose({ sdk: v0_2, sources: [v0_1], graph: versionGraph }, { onRefusal: 5 })],
  ])("%s fails with ONEX_E_USAGE", async (_label, call) => {
    expect(await codeOf(call)).toBe(ErrorCode.Usage);
  });

  it("a whole receiver still opens", async () => {
    const sub = await c.subscribeVersioned({ sdk: v0_2, sources: [v0_1], graph: versionGraph }, { onRefusal: () => undefined });
    await sub.stop();
  });
});

describe("connect's string options", () => {
  // name: 5 and token: {} timed out after 20 s as ONEX_E_CONNECTION (the server refuses the CONNECT
  // line without a word); a wildcard or number inboxPrefix failed at once, but as ONEX_E_CONNECTION.
  it.each([
    ["name: 5", { name: 5 }],
    ["token: {}", { token: {} }],
    ["user: 5", { user: 5, pass: "x" }],
    ['inboxPrefix: "_INBOX.>"', { inboxPrefix: "_INBOX.>" }],
    ["inboxPrefix: 5", { inboxPrefix: 5 }],
    ['inboxPrefix: "a..b"', { inboxPrefix: "a..b" }],
  ])("%s fails at once with ONEX_E_USAGE", async (_label, extra) => {
    const attempt = client(server.url, keys.node, [keys.node], extra as Partial<ConnectOptions>);
    void attempt.then((c) => c.close(), () => undefined);
    expect(await settledWithin(attempt, 2_000)).toBe(`rejected ${ErrorCode.Usage}`);
  });

  it("a plain inboxPrefix and name still connect", async () => {
    const c = await client(server.url, keys.node, [keys.node], { inboxPrefix: "_INBOX_alice", name: "alice" });
    await c.publish(stateUpdate("n-prefix"));
    await c.close();
  });
});

describe("connect's trust policy", () => {
  // Both were accepted, and the first delivery ended the iteration with ONEX_E_POLICY_INVALID.
  it("a misspelt mode or an unknown policy fails at connect with ONEX_E_POLICY_INVALID", async () => {
    for (const policy of [
      { signature: "STRICT", zone_match: "advisory", token_valid: "strict", origin_check: "advisory" },
      { signature: "strict", zone_matc: "off" },
      { signature: 5 },
    ]) {
      const attempt = client(server.url, keys.agent, [keys.node], { policy: policy as unknown as ConnectOptions["policy"] });
      void attempt.then((c) => c.close(), () => undefined);
      expect(await settledWithin(attempt, 2_000)).toBe(`rejected ${ErrorCode.PolicyInvalid}`);
    }
    expect(await settledWithin(client(server.url, keys.agent, [keys.node], { policy: "strict" as unknown as ConnectOptions["policy"] }), 2_000)).toBe(`rejected ${ErrorCode.Usage}`);
  });

  it("a partial policy is completed with the defaults: a subscription under { signature: \"off\" } delivers", async () => {
    const publisher = await client(server.url, keys.node, [keys.node]);
    const receiver = await client(server.url, keys.agent, [keys.node], { policy: { signature: "off" } as unknown as ConnectOptions["policy"] });
    try {
      const message = stateUpdate(`n-partial-${process.pid}`);
      await publisher.publish(message);
      const sub = await receiver.subscribe([v0_1.StateUpdate], { entityId: message.source.entity_id, deliver: "all" });
      const first = (async () => {
        for await (const delivery of sub) {
          await delivery.ack();
          return delivery.message.id;
        }
        return "ended";
      })();
      const outcome = await settledWithin(first.then((id) => expect(id).toBe(message.id)), 5_000);
      await sub.stop();
      expect(outcome).toBe("resolved");
    } finally {
      await publisher.close();
      await receiver.close();
    }
  });
});
