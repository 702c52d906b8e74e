/**
 * A deployment on a protocol team's own v0.3 (test/support/grown-v03.ts: a renamed field, a
 * new type on a new subject template) beside one that runs the SDK onex ships, which knows no
 * v0.3, over a real nats-server: `onex negotiate`, run on the project's schemas, agrees with
 * the running v0.3 node; the two nodes agree on v0.2 (the project's v0.2 hashes as the bundled
 * one); what the v0.3 node sends reaches the old node in v0.2 or is refused by name. The
 * runtime is the one both had before: only the project's schemas and generated SDK are new.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as bundled_v0_0_9 from "../../generated/v0.0.9/index.js";
import * as bundled_v0_1 from "../../generated/v0.1/index.js";
import * as bundled_v0_2 from "../../generated/v0.2/index.js";
import { versionGraph as bundledGraph } from "../../generated/transforms/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { connect, type OnexClient } from "../../runtime/jetstream/client.js";
import { applyStreams, planStreams } from "../../runtime/jetstream/streams.js";
import { FederationNode, type NegotiatingSdk } from "../../runtime/negotiation/federation-node.js";
import { readSchemaIndex, type SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import type { VersionGraph } from "../../runtime/transform.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { runCliAsync } from "../support/cli-process.js";
import { PROGRESS_TYPE, writeGrownV03 } from "../support/grown-v03.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { copySchemas, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";
import { trimToV02 } from "../support/v03-from-v02.js";
import { receiveAll } from "../negotiation/support.js";
import { onex, type Run } from "./cli-harness.js";

const ZONE = "zone.federation.org";
const keys = { grown: generateKeyPair(), old: generateKeyPair() };
const ring = () => keyRing([keys.grown.publicKey, keys.old.publicKey]);
const trust = { signer: "key-grown", level: "verified", zone: ZONE, expires_at: "2030-01-01T00:00:00Z" } as const;
const source = (id: string) => ({ zone: ZONE, entity_type: "task", entity_id: id }) as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Sdk = NegotiatingSdk & Record<string, any>;
let schemas: string;
let server: NatsServer;
const clients: OnexClient[] = [];
let grown: FederationNode;
let old: FederationNode;
let v03: Sdk;

function ok(run: Run): Run {
  if (run.code !== 0) throw new Error(`exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}

const indexesOf = (generated: string, folders: string[]): Promise<SchemaIndex[]> => Promise.all(folders.map((folder) => readSchemaIndex(join(generated, folder, "index.json"))));

beforeAll(async () => {
  const project = await copySchemas();
  schemas = project.schemas;
  await trimToV02(schemas);
  await writeGrownV03(schemas);
  ok(onex(project.root, ["generate"]));
  const generated = join(project.root, "generated");
  const folders = ["v0.0.9", "v0.1", "v0.2", "v0.3"];
  const load = async (path: string) => (await import(pathToFileURL(join(generated, path)).href)) as Record<string, unknown>;
  const sources = (await Promise.all(folders.map((folder) => load(`${folder}/index.ts`)))) as Sdk[];
  v03 = sources[3]!;
  const graph = (await load("transforms/index.ts")).versionGraph as VersionGraph;

  server = await startNatsServer();
  const nc = await natsConnect({ servers: server.url });
  await applyStreams(await jetstreamManager(nc), planStreams(sources));
  await nc.close();
  for (const identity of [keys.grown, keys.old]) clients.push(await connect({ servers: server.url, identity, keys: ring(), trust: { zone: ZONE, logger: { warn() {} } } }));
  grown = await FederationNode.start({ client: clients[0]!, connection: clients[0]!.nc, deployment: "zone-grown", sdk: v03, sources, graph, indexes: await indexesOf(generated, folders), identity: keys.grown, keys: ring() });
  // The old deployment runs the SDK onex ships, with its own indexes: it has never heard of v0.3.
  const bundled = [bundled_v0_0_9, bundled_v0_1, bundled_v0_2] as unknown as Sdk[];
  const bundledIndexes = await indexesOf(join(PROJECT_ROOT, "generated"), ["v0.0.9", "v0.1", "v0.2"]);
  old = await FederationNode.start({ client: clients[1]!, connection: clients[1]!.nc, deployment: "zone-old", sdk: bundled[2]!, sources: bundled, graph: bundledGraph, indexes: bundledIndexes, identity: keys.old, keys: ring() });
}, 180_000);

afterAll(async () => {
  await grown?.stop();
  await old?.stop();
  for (const client of clients) await client.close();
  await server?.stop();
  await removeTempDirs();
});

describe("a grown v0.3 beside a deployment on the bundled SDK", () => {
  it("onex negotiate on the project's schemas agrees with the running v0.3 node, as v0.2 and as v0.3", async () => {
    // A process of its own: the node answers from this one.
    const asV02 = await runCliAsync(["negotiate", "--peer", "zone-grown", "--as", "v0.2", "--schemas", schemas, "--server", server.url, "--json"]);
    expect([asV02.status, asV02.stderr]).toEqual([0, ""]);
    expect(JSON.parse(asV02.stdout)).toMatchObject({ agreement: { mode: "direct", version: "0.2" } });
    const asV03 = await runCliAsync(["negotiate", "--peer", "zone-grown", "--schemas", schemas, "--server", server.url, "--json"]);
    expect(asV03.status).toBe(0);
    expect(JSON.parse(asV03.stdout)).toMatchObject({ agreement: { mode: "direct", version: "0.3" } });
  });

  it("the nodes agree on v0.2, converted by the v0.3 node alone; its v0.3 broadcasts name the old node as refusing them, and what it sends to it arrives in v0.2", async () => {
    const agreement = await grown.negotiate("zone-old");
    expect(agreement).toMatchObject({ mode: "direct", version: "0.2", convertedBy: ["zone-grown"] });

    // A broadcast in v0.3: the old node cannot read it, and the receipt says so, naming the way that reaches it.
    const broadcast = v03.ResultReady.create({ source: source("t-1"), trust, payload: { task_id: "t-1", status: "succeeded", result: { n: 1 } } });
    const receipt = await grown.publish(broadcast);
    expect(receipt.refusedBy).toEqual([{ peer: "zone-old", version: "0.2", code: ErrorCode.NoPath, message: expect.stringContaining('publish messages for it with { to: "zone-old" }') }]);

    // Sent to it, converted here: the renamed field arrives as v0.2 names it. A type v0.2 lacks is not sent.
    const directed = v03.ResultReady.create({ source: source("t-2"), trust, payload: { task_id: "t-2", status: "failed", result: { why: "disk" } } });
    expect((await grown.publish(directed, { to: "zone-old" })).refusedBy).toEqual([]);
    const progress = v03.TaskProgress.create({ source: source("t-2"), trust, payload: { task_id: "t-2", percent: 40 } });
    await expect(grown.publish(progress, { to: "zone-old" })).rejects.toMatchObject({ code: ErrorCode.NoCounterpart, message: expect.stringContaining(PROGRESS_TYPE) });

    const got = await receiveAll(old, 2);
    const delivered = got.deliveries.map((d) => [d.message as { id: string; payload: unknown }, d.receivedVersion] as const);
    expect(delivered.map(([message, version]) => [message.id, version, message.payload])).toEqual([[directed.id, "0.2", { task_id: "t-2", status: "failed", output: { why: "disk" } }]]);
    expect(got.refusals.map((r) => [r.messageId, r.code, r.fromVersion])).toEqual([[broadcast.id, ErrorCode.UnknownVersion, "0.3"]]);
  });
});
