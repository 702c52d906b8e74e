import { Kvm } from "@nats-io/kv";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { natsKvKey, parseNatsKvKey } from "../../runtime/registry/nats-kv.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { startCli } from "../support/cli-process.js";
import { startNatsProxy } from "../support/nats-proxy.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { registryConformance } from "./conformance.js";
import { registryFaults } from "./faults.js";
import { codeOf, eventually, makeNode, nextMatching, partsOf, resign } from "./fixtures.js";
import { natsKvWriter } from "./store-writer.js";

registryConformance("NATS KV", async () => {
  const server = await startNatsServer();
  return { urlFor: (ns, ttl) => `${server.url}?bucket=${ns}&ttl=${ttl}`, writer: (ns) => natsKvWriter(server.url, ns), close: () => server.stop() };
});

describe("NATS KV registry faults", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());
  registryFaults(() => server, (ns, ttl) => `${server.url}?bucket=${ns}&ttl=${ttl}`);
});

describe("NATS KV watch", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());

  it("a deregistration just after the watch began is reported, with this host's clock ahead of the server's", async () => {
    const url = `${server.url}?bucket=skew${process.pid}&ttl=30s`;
    const r = await openRegistry(url);
    const node = makeNode("zone.trusted.org");
    await r.register(node.entry, node.identity);
    const realNow = Date.now;
    // The server's timestamps then read 3 s earlier than this clock: every write, old or new, looks older than the watch.
    Date.now = () => realNow() + 3_000;
    const watcher = await openRegistry(url);
    try {
      const changes = watcher.watch({ zone: "zone.trusted.org" });
      expect(await nextMatching(changes, (c) => c.address === node.address)).toMatchObject({ kind: "registered", initial: true });
      expect(await r.deregister(node.address)).toBe(true);
      expect((await nextMatching(changes, (c) => c.address === node.address)).kind).toBe("deregistered");
      await changes.return!();
    } finally {
      Date.now = realNow;
      await watcher.close();
      await r.close();
    }
  });

  it("a message whose headers nats.js cannot read, at an entry or a mark, is read as any writer's bytes: the watch goes on, the address is refused as tampered, and the node's heartbeat repairs its mark", async () => {
    const bucket = `badheaders${process.pid}`;
    const url = `${server.url}?bucket=${bucket}&ttl=30s`;
    const [r, watcher] = [await openRegistry(url), await openRegistry(url)];
    const nc = await connect({ servers: server.url });
    try {
      const changes = watcher.watch({});
      const [forged, marked, honest] = [makeNode(), makeNode(), makeNode()];
      await r.register(marked.entry, marked.identity);
      expect(await nextMatching(changes, (c) => c.address === marked.address)).toMatchObject({ kind: "registered" });
      // nats-server stores a header name with a space as published; nats.js refuses to write one, so it goes into the map directly.
      const unreadable = () => {
        const h = headers();
        (h as unknown as { headers: Map<string, string[]> }).headers.set("Bad Name", ["x"]);
        return h;
      };
      const js = jetstream(nc);
      await js.publish(`$KV.${bucket}.${natsKvKey(partsOf(forged))}`, "not a registration", { headers: unreadable() });
      // With no body too: a direct get's answer then looks like a status, whose headers are read first.
      const empty = makeNode();
      await js.publish(`$KV.${bucket}.${natsKvKey(partsOf(empty))}`, new Uint8Array(0), { headers: unreadable() });
      await js.publish(`$KV.${bucket}_marks.${natsKvKey(partsOf(marked))}`, "not a mark", { headers: unreadable() });
      await r.register(honest.entry, honest.identity);
      expect(await nextMatching(changes, (c) => c.address === honest.address)).toMatchObject({ kind: "registered" });
      expect(await codeOf(() => r.resolve(forged.address))).toBe(ErrorCode.EntryTampered);
      expect(await codeOf(() => r.resolve(empty.address))).toBe(ErrorCode.EntryTampered);
      // Its entry is genuine, its mark is not the registration's: a reader new to the address (a CLI run)
      // refuses it as not trusted, until the node's next heartbeat writes its mark again.
      const newReader = async <T>(read: (reader: Awaited<ReturnType<typeof openRegistry>>) => Promise<T>) => {
        const reader = await openRegistry(url);
        try {
          return await read(reader);
        } finally {
          await reader.close();
        }
      };
      expect(await newReader((reader) => codeOf(() => reader.resolve(marked.address)))).toBe(ErrorCode.EntryTampered);
      await r.heartbeat(marked.address);
      expect(await newReader(async (reader) => (await reader.resolve(marked.address)).address)).toBe(marked.address);
      await changes.return!();
    } finally {
      await nc.close();
      await watcher.close();
      await r.close();
    }
  });

  // nats-server 2.9 delivers each new message to a consumer made "last per subject" on an empty
  // bucket more slowly with every key written since; the watch reads its first state with one,
  // then goes on with a consumer that starts after that state, missing nothing written meanwhile.
  it("goes on after its first state with a consumer that starts at a sequence, and misses no registration made while it changes consumers", async () => {
    for (const before of [0, 3]) {
      const bucket = `moving${before}x${process.pid}`;
      const url = `${server.url}?bucket=${bucket}&ttl=30s`;
      const writer = await openRegistry(url);
      const watcher = await openRegistry(url);
      const nc = await connect({ servers: server.url });
      try {
        const nodes = Array.from({ length: before + 30 }, () => makeNode("zone.trusted.org"));
        for (const node of nodes.slice(0, before)) await writer.register(node.entry, node.identity);
        const seen = new Set<string>();
        const changes = watcher.watch({ zone: "zone.trusted.org" });
        const reading = (async () => {
          for await (const change of changes) if (change.kind === "registered") seen.add(change.address);
        })();
        // Written while the watch reads its first state, changes consumers and goes on.
        for (const node of nodes.slice(before)) await writer.register(node.entry, node.identity);
        await eventually(async () => nodes.every((node) => seen.has(node.address)), 15_000, "every registration");
        const jsm = await jetstreamManager(nc);
        // One consumer is left, the one that starts after the first state (the first one is deleted as it is left).
        await eventually(async () => (await jsm.consumers.list(`KV_${bucket}`).next()).length === 1, 5_000, "the first state's consumer deleted");
        const consumers = await jsm.consumers.list(`KV_${bucket}`).next();
        expect(consumers.map((c) => c.config.deliver_policy)).toEqual(["by_start_sequence"]);
        await changes.return!();
        await reading;
      } finally {
        await nc.close();
        await watcher.close();
        await writer.close();
      }
    }
  });

  // The watch's connection hears nothing for three TTLs (as when the node holding its consumer
  // dies and electing another takes that long) while a node heart-beats on the server and
  // another lapses. The watch must not judge the heart-beating node by the last heartbeat it
  // happened to read, and must still report the lapse once it hears the server again.
  it("blind for longer than the TTL: reports no heart-beating node expired, and reports the one that lapsed once it hears again", async () => {
    const query = `?bucket=blind${process.pid}&ttl=2s`;
    const proxy = await startNatsProxy(server.port);
    const writer = await openRegistry(server.url + query);
    const watcher = await openRegistry(proxy.url + query, { logger: { warn() {} } });
    const [alive, lapsing] = [makeNode("zone.trusted.org"), makeNode("zone.trusted.org")];
    await writer.register(alive.entry, alive.identity);
    const beat = setInterval(() => void writer.heartbeat(alive.address).catch(() => undefined), 400);
    const changes = watcher.watch({ zone: "zone.trusted.org" });
    const seen: RegistryChange[] = [];
    const reading = (async () => {
      for await (const change of changes) seen.push(change);
    })();
    try {
      await eventually(async () => seen.some((c) => c.address === alive.address), 10_000, "the heart-beating node");
      await writer.register(lapsing.entry, lapsing.identity);
      await eventually(async () => seen.some((c) => c.address === lapsing.address), 10_000, "the node that will lapse");
      proxy.hold();
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      proxy.release();
      await eventually(async () => seen.some((c) => c.kind === "expired" && c.address === lapsing.address), 30_000, "the lapse reported");
      expect(seen.filter((c) => c.kind === "expired").map((c) => c.address)).toEqual([lapsing.address]);
    } finally {
      clearInterval(beat);
      await changes.return!();
      await reading;
      await watcher.close();
      await writer.close();
      proxy.close();
    }
  }, 60_000);

  it("onex registry register --heartbeat deregisters and exits 0 on SIGINT and SIGTERM, and exits 1 with ONEX_E_REPLAY once the node registered a newer entry elsewhere", async () => {
    const url = `${server.url}?bucket=cli${process.pid}&ttl=3s`;
    const reader = await openRegistry(url, { logger: { warn() {} } });
    const running: ReturnType<typeof startCli>[] = [];
    const heartbeat = (node: ReturnType<typeof makeNode>) => {
      const cli = startCli(["registry", "register", "-", "--heartbeat", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) });
      running.push(cli);
      return cli;
    };
    const ended = (cli: ReturnType<typeof startCli>) => Promise.race([cli.exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 20_000))]);
    try {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const node = makeNode("zone.trusted.org");
        const cli = heartbeat(node);
        await eventually(async () => cli.stdout().includes(node.address) || cli.child.exitCode !== null, 20_000, "the registration");
        expect((await reader.resolve(node.address)).entry).toEqual(node.entry);
        cli.child.kill(signal);
        expect([signal, await ended(cli)]).toEqual([signal, 0]);
        expect(await codeOf(() => reader.resolve(node.address))).toBe(ErrorCode.NotFound);
      }
      const node = makeNode("zone.trusted.org", { registeredAt: new Date(Date.now() - 60_000).toISOString() });
      const cli = heartbeat(node);
      await eventually(async () => cli.stdout().includes(node.address) || cli.child.exitCode !== null, 20_000, "the registration");
      // Another instance of the node registers a newer entry: the next heartbeat (a third of the TTL) finds it.
      const newer = resign(node, { capabilities: ["v2"] });
      await reader.register(newer, node.identity);
      expect(await ended(cli)).toBe(1);
      expect(cli.stderr()).toContain(`error ${ErrorCode.Replay}:`);
      expect((await reader.resolve(node.address)).entry).toEqual(newer);
    } finally {
      for (const cli of running) cli.child.kill("SIGKILL");
      await reader.close();
    }
  }, 90_000);

  // The watching process is busy for 1.5 TTLs (a long collection, a CPU-bound task) while a node
  // heart-beats from another process. When it wakes, its timers run before its socket is read:
  // the heartbeats written meanwhile are waiting there, so the node must be judged by how far
  // the watch has read, not by the clock.
  it("reports no heart-beating node expired after its own event loop was busy for longer than the TTL", async () => {
    const url = `${server.url}?bucket=loop${process.pid}&ttl=3s`;
    const watcher = await openRegistry(url, { logger: { warn() {} } });
    const node = makeNode("zone.trusted.org");
    const cli = startCli(["registry", "register", "-", "--heartbeat", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) });
    const changes = watcher.watch({ zone: "zone.trusted.org" });
    const seen: RegistryChange[] = [];
    const reading = (async () => {
      for await (const change of changes) seen.push(change);
    })();
    try {
      await eventually(async () => seen.some((c) => c.address === node.address), 20_000, "the heart-beating node");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4_500);
      // Heard again (a heartbeat's write arrives within a second), then the node lapses for real: its failure is the barrier.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const killedAt = seen.length;
      cli.child.kill("SIGKILL");
      await cli.exited;
      await eventually(async () => seen.slice(killedAt).some((c) => c.kind === "expired"), 20_000, "the lapse reported");
      expect(seen.filter((c) => c.kind === "expired").map((c) => c.address)).toEqual([node.address]);
    } finally {
      cli.child.kill("SIGKILL");
      await changes.return!();
      await reading;
      await watcher.close();
    }
  }, 60_000);
});

describe("NATS KV list", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());

  it("ends while entries are rewritten all the time, each listed once, and a view of the zone lists the same", async () => {
    const url = `${server.url}?bucket=busy${process.pid}&ttl=30s`;
    const r = await openRegistry(url);
    const nodes = Array.from({ length: 5 }, () => makeNode("zone.trusted.org"));
    for (const node of nodes) await r.register(node.entry, node.identity);
    // Heartbeats rewrite every entry every 20 ms: a listing that waited for a quiet moment might never end.
    let beating = true;
    const beats = nodes.map(async (node) => {
      while (beating) {
        await r.heartbeat(node.address).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    const view = await r.view("zone.trusted.org");
    try {
      const expected = nodes.map((n) => n.address).sort();
      for (let i = 0; i < 30; i++) {
        const listed = await Promise.race([r.list({ zone: "zone.trusted.org" }), new Promise<"unfinished">((resolve) => setTimeout(() => resolve("unfinished"), 10_000))]);
        expect(listed === "unfinished" ? listed : listed.map((e) => e.address)).toEqual(expected);
      }
      expect((await view.list()).map((e) => e.address)).toEqual(expected);
    } finally {
      beating = false;
      await Promise.all(beats);
      await view.close();
      await r.close();
    }
  }, 120_000);

  it("a view of a registry whose server is down fails with ONEX_E_REGISTRY_UNAVAILABLE, not a wait for ever", async () => {
    const own = await startNatsServer();
    const r = await openRegistry(`${own.url}?bucket=down${process.pid}&ttl=30s`, { logger: { warn() {} } });
    try {
      await own.kill();
      expect(await codeOf(() => r.view("zone.trusted.org"))).toBe(ErrorCode.RegistryUnavailable);
    } finally {
      await r.close();
      await own.stop();
    }
  }, 60_000);
});

describe("NATS KV buckets", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => server?.stop());

  it("refuse a ?ttl= (or ?replicas=) that differs from an existing bucket's, rather than ignore it", async () => {
    const bucket = `ttl${process.pid}`;
    await (await openRegistry(`${server.url}?bucket=${bucket}&ttl=5s`)).close();
    const error = (await openRegistry(`${server.url}?bucket=${bucket}&ttl=2s`).catch((e: unknown) => e)) as OnexError;
    expect(error.code).toBe(ErrorCode.RegistryUrl);
    expect(error.message).toMatch(/max age of 5000 ms.*ttl=2000 ms/);
    expect(await codeOf(() => openRegistry(`${server.url}?bucket=${bucket}&replicas=3`))).toBe(ErrorCode.RegistryUrl);
    expect(await codeOf(() => openRegistry(`${server.url}?bucket=${bucket}&replicas=2`))).toBe(ErrorCode.RegistryUrl);
    // A new bucket of 3 replicas on a server outside any cluster: a setting to change, not an outage to wait out.
    const single = (await openRegistry(`${server.url}?bucket=r3${process.pid}&replicas=3`).catch((e: unknown) => e)) as OnexError;
    expect(single.code).toBe(ErrorCode.RegistryUrl);
    expect(single.message).toContain("not in a cluster");
    // Without ?ttl= the bucket's own max age applies, and so does the same one.
    for (const url of [`${server.url}?bucket=${bucket}`, `${server.url}?bucket=${bucket}&ttl=5s`]) {
      const r = await openRegistry(url);
      expect(r.ttlMs).toBe(5_000);
      await r.close();
    }
  });

  it("refuse a bucket whose max age a registry user moved outside 1 s to 24 h (at 30 days, every reader opened without ?ttl= showed a node dead for a month as alive)", async () => {
    const bucket = `aged${process.pid}`;
    await (await openRegistry(`${server.url}?bucket=${bucket}&ttl=10s`)).close();
    // Any registry user may update the bucket's stream: its user needs `$JS.API.>`.
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const setMaxAge = async (ms: number) => {
        const { config } = await jsm.streams.info(`KV_${bucket}`);
        // The server holds the duplicate window within a max age (0: none).
        await jsm.streams.update(`KV_${bucket}`, { ...config, max_age: ms * 1_000_000, duplicate_window: ms === 0 ? config.duplicate_window : Math.min(config.duplicate_window, ms * 1_000_000) });
      };
      // None at all had every reader judge by the default 10 s: a node heart-beating for a TTL of hours reported failed.
      for (const ms of [30 * 86_400_000, 86_400_001, 999, 0]) {
        await setMaxAge(ms);
        const error = (await openRegistry(`${server.url}?bucket=${bucket}`).catch((e: unknown) => e)) as OnexError;
        expect([ms, error.code, error.message]).toEqual([ms, ErrorCode.RegistryUrl, expect.stringContaining(`has a max age of ${ms} ms, outside the 1s to 24h`)]);
      }
      // Within the bounds, a reader that asks for its TTL, by the URL or by the option, is refused one the bucket was moved from.
      await setMaxAge(86_400_000);
      for (const [url, options] of [[`${server.url}?bucket=${bucket}&ttl=10s`, {}], [`${server.url}?bucket=${bucket}`, { ttlMs: 10_000 }]] as const) {
        const error = (await openRegistry(url, options).catch((e: unknown) => e)) as OnexError;
        expect([error.code, error.message]).toEqual([ErrorCode.RegistryUrl, expect.stringContaining("exists with a max age of 86400000 ms, but ttl=10000 ms was asked for")]);
      }
      // Set back, the bucket serves again, by its own max age.
      await setMaxAge(10_000);
      const r = await openRegistry(`${server.url}?bucket=${bucket}`);
      expect(r.ttlMs).toBe(10_000);
      await r.close();
    } finally {
      await nc.close();
    }
  });

  it("refuse a ttlMs option that is no whole number of milliseconds from 1 s to 24 h as ONEX_E_USAGE before a bucket is made (a fraction reached the server as invalid JSON, ONEX_E_REGISTRY_UNAVAILABLE)", async () => {
    const bucket = `ttlopt${process.pid}`;
    for (const ttlMs of [1_000.3333333333, 1_500.5, Number.NaN, Infinity, 999, 86_400_001]) {
      await expect(openRegistry(`${server.url}?bucket=${bucket}`, { ttlMs })).rejects.toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining("ttlMs") });
    }
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      expect(await jsm.streams.info(`KV_${bucket}`).then(() => "made", () => "none")).toBe("none");
    } finally {
      await nc.close();
    }
    const r = await openRegistry(`${server.url}?bucket=${bucket}`, { ttlMs: 1_001 });
    expect(r.ttlMs).toBe(1_001);
    await r.close();
  });

  it("refuse a mirror, or a stream holding other subjects, rather than read every key as missing", async () => {
    const origin = `orig${process.pid}`;
    const registry = await openRegistry(`${server.url}?bucket=${origin}`);
    const nc = await connect({ servers: server.url });
    try {
      const kvm = new Kvm(nc);
      await kvm.create(`mirror${process.pid}`, { mirror: { name: origin } });
      const mirror = (await openRegistry(`${server.url}?bucket=mirror${process.pid}`).catch((e: unknown) => e)) as OnexError;
      expect(mirror.code).toBe(ErrorCode.RegistryUrl);
      expect(mirror.message).toContain(`a mirror of ${origin}`);
      // The entries' bucket is plain but its marks are a mirror: refused as well.
      await kvm.create(`plain${process.pid}`, { history: 1 });
      await kvm.create(`plain${process.pid}_marks`, { mirror: { name: `${origin}_marks` } });
      expect(await codeOf(() => openRegistry(`${server.url}?bucket=plain${process.pid}`))).toBe(ErrorCode.RegistryUrl);
      // A stream named as a bucket's but holding more than the bucket's own subjects.
      await jetstreamManager(nc).then((jsm) => jsm.streams.add({ name: `KV_wide${process.pid}`, subjects: [`$KV.wide${process.pid}.>`, `elsewhere${process.pid}.>`], max_msgs_per_subject: 1 }));
      const wide = (await openRegistry(`${server.url}?bucket=wide${process.pid}`).catch((e: unknown) => e)) as OnexError;
      expect(wide.code).toBe(ErrorCode.RegistryUrl);
      expect(wide.message).toContain("not a plain bucket");
    } finally {
      await nc.close();
      await registry.close();
    }
  });
});

describe("NATS KV keys", () => {
  it("spell addresses as valid KV keys and read back exactly", () => {
    const key = { zone: "zone.trusted.org", entityType: "node" as const, id: "n 1/ü.x" };
    const k = natsKvKey(key);
    expect(k).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
    expect(k.split(".")).toHaveLength(3);
    expect(parseNatsKvKey(k)).toEqual(key);
    expect(parseNatsKvKey("a.robot.b")).toBeUndefined();
  });
});
