/** Closing a registry, against a real nats-server and etcd: once, twice at once, and what a closed registry does. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { keepAlive } from "../../runtime/registry/keep-alive.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { codeOf, makeNode } from "./fixtures.js";
import { settledWithin } from "../support/settled-within.js";

describe("closing a NATS KV registry", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());

  it("two close() calls at once (a SIGTERM handler and the shutdown path) both settle", async () => {
    const registry = await openRegistry(`${server.url}?bucket=close2${process.pid}&ttl=3s`);
    const node = makeNode();
    await registry.register(node.entry, node.identity);
    const first = registry.close();
    const second = registry.close();
    expect(await settledWithin(Promise.all([first, second]), 5_000)).toBe("resolved");
    expect(await settledWithin(registry.close(), 1_000)).toBe("resolved");
  });

  it("keepAlive ends (resolves) when its registry is closed, without retrying the closed connection", async () => {
    const registry = await openRegistry(`${server.url}?bucket=closeka${process.pid}&ttl=3s`);
    const node = makeNode();
    await registry.register(node.entry, node.identity);
    const warnings: string[] = [];
    const loop = keepAlive(registry, node, { intervalMs: 200, logger: { warn: (message) => warnings.push(message) } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await registry.close();
    expect(await settledWithin(loop, 2_000)).toBe("resolved");
    expect(warnings).toEqual([]);
  });

  it("calls on a closed registry fail at once with ONEX_E_USAGE, not as an outage to retry", async () => {
    const registry = await openRegistry(`${server.url}?bucket=closeuse${process.pid}&ttl=3s`);
    const node = makeNode();
    await registry.register(node.entry, node.identity);
    await registry.close();
    expect(await codeOf(() => registry.heartbeat(node.address))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => registry.resolve(node.address))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => registry.list())).toBe(ErrorCode.Usage);
    expect(await codeOf(() => registry.register(node.entry, node.identity))).toBe(ErrorCode.Usage);
    // A watch began after close() threw a raw ClosedConnectionError from inside the adapter.
    expect(await codeOf(async () => registry.watch({}))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => registry.view())).toBe(ErrorCode.Usage);
  });
});

describe("plain-JavaScript misuse of the registry", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());

  // Each failed as a raw TypeError.
  it("openRegistry(url, null), keepAlive(registry, null), keepAlive with a signal that is no AbortSignal and watch({}, { signal: \"x\" }) fail with ONEX_E_USAGE", async () => {
    const url = `${server.url}?bucket=misuse${process.pid}&ttl=3s`;
    const untyped = openRegistry as unknown as (...args: unknown[]) => Promise<unknown>;
    expect(await codeOf(() => untyped(url, null))).toBe(ErrorCode.Usage);
    const registry = await openRegistry(url);
    try {
      const node = makeNode();
      const looseKeepAlive = keepAlive as unknown as (...args: unknown[]) => Promise<void>;
      expect(await codeOf(() => looseKeepAlive(registry, null))).toBe(ErrorCode.Usage);
      expect(await codeOf(() => looseKeepAlive(registry, node, { signal: "x" }))).toBe(ErrorCode.Usage);
      expect(await codeOf(async () => registry.watch({}, { signal: "x" as unknown as AbortSignal }))).toBe(ErrorCode.Usage);
      expect(await codeOf(async () => registry.watch(null as unknown as object))).toBe(ErrorCode.Usage);
    } finally {
      await registry.close();
    }
  });
});

describe("closing an etcd registry", () => {
  let server: EtcdServer;
  beforeAll(async () => {
    server = await startEtcdServer();
  });
  afterAll(async () => server?.stop());

  it("two close() calls at once settle, keepAlive ends, and calls after it fail with ONEX_E_USAGE", async () => {
    const registry = await openRegistry(`${server.url}?prefix=/close${process.pid}/&ttl=3s`);
    const node = makeNode();
    await registry.register(node.entry, node.identity);
    const warnings: string[] = [];
    const loop = keepAlive(registry, node, { intervalMs: 200, logger: { warn: (message) => warnings.push(message) } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await settledWithin(Promise.all([registry.close(), registry.close()]), 5_000)).toBe("resolved");
    expect(await settledWithin(loop, 2_000)).toBe("resolved");
    expect(warnings).toEqual([]);
    expect(await codeOf(() => registry.heartbeat(node.address))).toBe(ErrorCode.Usage);
    // A watch begun after close() retried the closed client every 250 ms for ever, and a view waited 15 s for it.
    expect(await codeOf(async () => registry.watch({}))).toBe(ErrorCode.Usage);
    expect(await settledWithin(codeOf(() => registry.view()), 1_000)).toBe("resolved");
    expect(await codeOf(() => registry.view())).toBe(ErrorCode.Usage);
  });
});
