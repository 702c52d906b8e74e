import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { openRegistry } from "@onex/runtime/registry";
import { startNatsServer } from "../test/support/nats-server.js";
import { nodesSignedElsewhere } from "./test-nodes.js";
const N = Number(process.env.N ?? 300);
const nats = await startNatsServer();
const ns = "p" + process.pid;
const reg = await openRegistry(`${nats.url}?bucket=${ns}&ttl=60s`);
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
const kvm = new Kvm(nc);
const kv = await kvm.open(ns); const marks = await kvm.open(`${ns}_marks`);
const nodes = await nodesSignedElsewhere(N);
const changes = process.env.RAW ? (undefined as never) : reg.watch({}, { updatesOnly: true });
let want: string | undefined; let resolveIt: (() => void) | undefined;
if (process.env.RAW) {
  const nc2 = await connect({ servers: nats.url, noAsyncTraces: true });
  const w = await new Kvm(nc2).open(ns).then((k) => k.watch({ key: ">", include: "updates" }));
  void (async () => { for await (const e of w) if (e.key.endsWith(want!.split("/").pop()!.replace(/[^a-z0-9]/g, "").slice(-8)) || true) resolveIt?.(); })();
} else void (async () => { for await (const c of changes) if (c.address === want) resolveIt!(); })();
await new Promise((r) => setTimeout(r, 500));
const tok = (s: string) => s; void tok;
const samples: number[] = [];
let t0 = 0; const marks2 = new Map<string, number[]>();
(globalThis as any).__t = (l: string) => { if (t0) (marks2.get(l) ?? (marks2.set(l, []), marks2.get(l)!)).push(performance.now() - t0); };
const { natsKvKey } = await import("../runtime/registry/nats-kv.js");
for (const node of nodes) {
  const key = natsKvKey({ zone: node.entry.zone, entityType: "node" as never, id: node.identity.node_id });
  const value = JSON.stringify({ format: 1, entry: node.entry, identity: node.identity });
  await marks.put(key, value);
  want = node.address;
  const seen = new Promise<void>((r) => (resolveIt = r));
  const t = performance.now(); t0 = t;
  await kv.put(key, value);
  await seen;
  samples.push(performance.now() - t); (globalThis as any).__t("9 seen"); t0 = 0;
}
samples.sort((a, b) => a - b);
for (const [l, v] of [...marks2].sort()) { v.sort((a, b) => a - b); console.log(l, v.length, (v[v.length >> 1] ?? 0).toFixed(3)); }
console.log("p50", samples[N >> 1]!.toFixed(3), "p90", samples[Math.floor(N * 0.9)]!.toFixed(3));
if (!process.env.RAW) await changes.return!(); await reg.close(); await nc.close(); await nats.stop();
process.exit(0);
