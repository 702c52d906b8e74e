import { jetstreamManager, jetstream, DeliverPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { startNatsCluster } from "../test/support/nats-cluster.js";

const cluster = await startNatsCluster(3);
const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
const writer = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
let kv;
for (;;) { try { kv = await new Kvm(nc).create("b", { replicas: 3, history: 1 }); break; } catch (e) { await new Promise(r=>setTimeout(r,500)); } }
const wkv = await new Kvm(writer).open("b");
const oc = await jetstream(nc).consumers.get("KV_b", { filter_subjects: "$KV.b.>", deliver_policy: DeliverPolicy.LastPerSubject });
const watcher = await oc.consume({ expires: 2000 });
(async () => { for await (const s of watcher.status()) console.log(Date.now() % 100000, "status", JSON.stringify(s)); })();
const seen = new Map<string, number>();
(async () => { for await (const e of watcher) { seen.set(e.subject.slice(6), Date.now()); } console.log("watch ended"); })();
const jsm = await jetstreamManager(writer);
await new Promise(r=>setTimeout(r,500));
const consumers = [];
for await (const c of jsm.consumers.list("KV_b")) consumers.push(c);
const host = consumers[0].cluster?.leader;
const leader = (await jsm.streams.info("KV_b")).cluster?.leader;
console.log("watcher consumer on", host, "stream leader", leader, "client on", nc.info?.server_name, "writer on", writer.info?.server_name);
await cluster.nodes.find(n => n.name === host)!.kill();
const t0 = Date.now();
for (;;) { try { await wkv.put("k1", "v"); break; } catch (e) { await new Promise(r=>setTimeout(r,250)); } }
console.log("put done after", Date.now() - t0);
while (!seen.has("k1") && Date.now() - t0 < 90_000) await new Promise(r=>setTimeout(r,100));
console.log("seen after", seen.has("k1") ? seen.get("k1")! - t0 : "never (90 s)");
await nc.close(); await writer.close(); await cluster.stop(); process.exit(0);
