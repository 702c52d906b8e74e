// A rolling restart of a three-node cluster (each node stopped and started again on its store,
// one after another; then one killed with SIGKILL; then one whose store is lost) under running
// services: publishers (publish and publishMany), durable subscribers with and without a replay
// guard, nodes heart-beating into an R3 registry bucket, a health watcher, a registry watch, a
// view and `onex registry watch`. Every acknowledged message is delivered once to each
// subscriber, no node is announced failed, and a node registered after the roll reaches every
// watcher.
import { connect as natsConnect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { HealthWatcher } from "../../runtime/registry/health-watcher.js";
import { keepAlive } from "../../runtime/registry/keep-alive.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { startCli } from "../support/cli-process.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { client, makeKeys, stateUpdate, ZONE } from "./fixtures.js";
import { eventually, makeNode } from "../registry/fixtures.js";

const keys = makeKeys();
let cluster: NatsCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});
const log = (..._: unknown[]) => undefined;

describe("a rolling restart of a three-node cluster under running services", () => {
  it("loses, duplicates and stops nothing", async () => {
    cluster = await startNatsCluster(3);
    const c = cluster;
    const nc = await natsConnect({ servers: c.urls });
    const jsm = await jetstreamManager(nc, { timeout: 30_000 });
    await eventually(async () => applyStreams(jsm, planStreams([v0_1, v0_2], { replicas: 3 }, { replicas: 3 })).then(() => true, () => false), 60_000, "streams");
    const bucket = "roll";
    const url = `nats://${c.urls.map((u) => u.replace("nats://", "")).join(",")}?bucket=${bucket}&ttl=15s&replicas=3`;
    await eventually(async () => openRegistry(url).then((r) => r.close().then(() => true), (e) => (log("open", e.message), false)), 60_000, "bucket");
    const healthy = async () => {
      for (const s of ["ONEX_EVENT", "ONEX_DLQ", `KV_${bucket}`, `KV_${bucket}_marks`]) {
        const info = await jsm.streams.info(s).catch(() => undefined);
        if (!info?.cluster?.leader || (info.cluster.replicas ?? []).length !== 2 || info.cluster.replicas!.some((r) => !r.current || r.offline)) return false;
      }
      return true;
    };

    const publisher = await client(c.urls, keys.node, [keys.node]);
    const plain = await client(c.urls, keys.agent, [keys.node]);
    const guarded = await client(c.urls, keys.agent, [keys.node], { trust: { zone: ZONE, replay: new ReplayGuard(), keyOfEntity: () => keys.node.keyId, logger: { warn() {} } } });
    const acked = new Set<string>();
    const pubErrors: string[] = [];
    let publishing = true;
    const pubLoop = (async () => {
      let i = 0;
      while (publishing) {
        i++;
        try {
          if (i % 2) {
            const m = stateUpdate("n-roll");
            await publisher.publish(m);
            acked.add(m.id);
          } else {
            const ms = Array.from({ length: 20 }, () => stateUpdate("n-roll"));
            await publisher.publishMany(ms);
            ms.forEach((m) => acked.add(m.id));
          }
        } catch (e) {
          pubErrors.push(`${(e as { code?: string }).code} ${(e as Error).message}`);
          log("publish error", (e as { code?: string }).code, (e as Error).message);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const got: Record<string, string[]> = { plain: [], guarded: [] };
    const subErrors: string[] = [];
    const subs = await Promise.all([
      plain.subscribe([v0_1.StateUpdate], { entityId: "n-roll", durable: "roll-plain", ackWaitMs: 5_000 }),
      guarded.subscribe([v0_1.StateUpdate], { entityId: "n-roll", durable: "roll-guarded", ackWaitMs: 5_000 }),
    ]);
    const reading = subs.map((s, i) =>
      (async () => {
        try {
          for await (const d of s) {
            got[i ? "guarded" : "plain"]!.push(d.message.id);
            await d.ack();
          }
          log("subscription ended", i);
        } catch (e) {
          subErrors.push(`${(e as { code?: string }).code} ${(e as Error).message}`);
          log("subscription error", i, (e as { code?: string }).code, (e as Error).message);
        }
      })(),
    );

    // Registry: nodes heart-beating, a health watcher, a watch, the CLI watch.
    const warns: string[] = [];
    const registry = await openRegistry(url, { logger: { warn: (m: string) => warns.push(m) } });
    const stop = new AbortController();
    const nodes = [makeNode(ZONE), makeNode(ZONE), makeNode(ZONE)];
    // Registered by keepAlive's first heartbeat (no entry yet: it registers), after the watcher has started.
    const beating = nodes.map((n) => keepAlive(registry, { entry: n.entry, identity: n.identity }, { signal: stop.signal, logger: { warn: (m: string) => warns.push(m) } }).catch((e) => log("keepAlive ended", e.code, e.message)));
    const watcherRegistry = await openRegistry(url, { logger: { warn: (m: string) => log("watcher registry:", m) } });
    const watcherKey = generateKeyPair();
    const self = makeNode(ZONE, { key: watcherKey });
    const announcer = await client(c.urls, watcherKey, [watcherKey]);
    const watcherErrors: string[] = [];
    const watcher = new HealthWatcher({ registry: watcherRegistry, key: watcherKey, address: self.address, messages: v0_1, client: announcer, onError: (e) => (watcherErrors.push(String(e)), log("watcher error", e)) });
    const announced: string[] = [];
    const annSub = await announcer.subscribe([v0_1.NodeFailed, v0_1.NodeRegister], { zone: ZONE, entityType: "node", entityId: self.identity.node_id, deliver: "new" });
    void (async () => {
      try {
        for await (const d of annSub) {
          announced.push(`${d.message instanceof v0_1.NodeFailed ? "failed" : "joined"} ${d.message.payload.node_id}`);
          await d.ack();
        }
      } catch (e) {
        log("announcement sub error", e);
      }
    })();
    watcher.start();
    const watchRegistry = await openRegistry(url, { logger: { warn: (m: string) => log("watch registry:", m) } });
    const changes: RegistryChange[] = [];
    const watchLoop = (async () => {
      try {
        for await (const ch of watchRegistry.watch({ zone: ZONE })) changes.push(ch);
        log("watch ended");
      } catch (e) {
        log("watch error", e);
      }
    })();
    const cli = startCli(["registry", "watch", "--zone", ZONE, "--registry", url]);
    await eventually(async () => nodes.every((n) => announced.includes(`joined ${n.identity.node_id}`)), 30_000, "joins");
    log("services up");

    const settle = async (what: string) => {
      await eventually(healthy, 90_000, `healthy after ${what}`);
      log("healthy after", what, "acked", acked.size, "plain", got.plain!.length, "guarded", got.guarded!.length);
    };
    const DOWN = 2_000;
    const view = await watchRegistry.view(ZONE);
    for (const n of c.nodes) {
      await n.stop();
      log("stopped", n.name);
      await new Promise((r) => setTimeout(r, DOWN));
      await n.start();
      await settle(`restart of ${n.name}`);
    }
    await c.nodes[1]!.kill();
    await new Promise((r) => setTimeout(r, DOWN));
    await c.nodes[1]!.start();
    await settle("SIGKILL of n2");
    await c.nodes[2]!.kill();
    await c.nodes[2]!.wipe();
    await new Promise((r) => setTimeout(r, DOWN));
    await c.nodes[2]!.start();
    await settle("store loss of n3");

    // After the roll: a new node registers; every watcher must see it.
    const late = makeNode(ZONE);
    await eventually(async () => registry.register(late.entry, late.identity).then(() => true, (e) => (log("late register", e.code), false)), 30_000, "late register");
    const seen = async () => ({
      watch: changes.some((ch) => ch.kind === "registered" && ch.address === late.address),
      cli: cli.stdout().includes(late.identity.node_id),
      watcher: announced.includes(`joined ${late.identity.node_id}`),
      view: (await view.list().catch((e) => (log("view", e.code), []))).some((e) => e.address === late.address),
    });
    await eventually(async () => Object.values(await seen()).every(Boolean), 30_000, "the late node at every watcher").catch(async () => expect(await seen()).toEqual({ watch: true, cli: true, watcher: true, view: true }));
    publishing = false;
    await pubLoop;
    await eventually(async () => [...acked].every((id) => got.plain!.includes(id) && got.guarded!.includes(id)), 60_000, "every message delivered").catch(() => undefined);
    const missing = (k: string) => [...acked].filter((id) => !got[k]!.includes(id)).length;
    const dups = (k: string) => got[k]!.length - new Set(got[k]).size;
    expect({ missingPlain: missing("plain"), missingGuarded: missing("guarded"), dupPlain: dups("plain"), dupGuarded: dups("guarded"), pubErrors, subErrors, watcherErrors, failed: announced.filter((a) => a.startsWith("failed")) }).toEqual({
      missingPlain: 0,
      missingGuarded: 0,
      dupPlain: 0,
      dupGuarded: 0,
      pubErrors: [],
      subErrors: [],
      watcherErrors: [],
      failed: [],
    });
    stop.abort();
    await Promise.all(beating);
    await cli.stop();
    await watcher.stop();
    await annSub.stop();
    await Promise.all(subs.map((s) => s.stop()));
    await Promise.all(reading);
    await watchRegistry.close();
    await watchLoop;
    await Promise.all([registry.close(), watcherRegistry.close(), publisher.close(), plain.close(), guarded.close(), announcer.close(), nc.close()]);
  }, 300_000);
});
