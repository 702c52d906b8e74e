/** A client closed twice, used after close, and misused from plain JavaScript, against a real nats-server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, client, makeKeys, stateUpdate } from "./fixtures.js";

let server: NatsServer;
const keys = makeKeys();

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
});

afterAll(async () => {
  await server?.stop();
});

/** What `promise` settles as within `ms`: "resolved", "rejected <code>" or "pending". */
async function within(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("pending"), ms)));
  try {
    return await Promise.race([promise.then(() => "resolved", (error: { code?: string }) => `rejected ${error?.code ?? error}`), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("closing a client", () => {
  it("two close() calls at once (a SIGTERM handler and the shutdown path) both settle", async () => {
    const c = await client(server.url, keys.node, [keys.node]);
    await c.publish(stateUpdate("n-close"));
    const first = c.close();
    const second = c.close();
    expect(await within(Promise.all([first, second]), 5_000)).toBe("resolved");
    expect(await within(c.close(), 1_000)).toBe("resolved");
  });
});
