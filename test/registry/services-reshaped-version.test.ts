/**
 * A protocol team's v0.3 that reshapes payloads the runtime's services build and read: the
 * failure reason of `event.node.failed` renamed `cause`, the bitfield of
 * `signal.artifact.have` renamed `pieces`, with the transform from v0.2 that says so. Given
 * that v0.3 as it is, the health watcher cannot build its announcement (ONEX_E_SDK_MISMATCH);
 * through `convertingSdk` it builds it in v0.2 and publishes it converted to v0.3, and two
 * swarms on v0.3 hear each other's pieces. Nothing in the runtime changes for v0.3: the
 * generated SDK and transforms are the v0.3 team's own, generated here from their schemas.
 */
import { cp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import type { ControlPlane, Delivery } from "../../runtime/control-plane.js";
import { Bitfield } from "../../runtime/dataplane/bitfield.js";
import { describeFile } from "../../runtime/dataplane/descriptor.js";
import { publishersOf } from "../../runtime/dataplane/publishers.js";
import { Swarm } from "../../runtime/dataplane/swarm.js";
import { ErrorCode } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { HealthWatcher } from "../../runtime/registry/health-watcher.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { convertingSdk, type ServiceSdk } from "../../runtime/service-messages.js";
import type { VersionGraph } from "../../runtime/transform.js";
import { generateKeyPair, type KeyPair } from "../../runtime/trust/keys.js";
import { applyBundledStreams, client as controlPlaneClient } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";
import { trimToV02 } from "../support/v03-from-v02.js";
import { eventually, makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
type Sdk = ServiceSdk & Record<string, unknown>;
let server: NatsServer;
let v02: Sdk;
let v03: Sdk;
let graph: VersionGraph;
let root: string;
const open: Registry[] = [];
const clients: OnexClient[] = [];

/** The v0.2 schemas as v0.3 (in place of any v0.3 the project bundles), with `event.node.failed`'s reason and `signal.artifact.have`'s bitfield renamed, and the transform from v0.2. */
async function writeV03(schemas: string): Promise<void> {
  await trimToV02(schemas);
  const v03 = join(schemas, "v0.3");
  await cp(join(schemas, "v0.2"), v03, { recursive: true });
  await rm(join(v03, "from-v0.1.yaml"));
  await rm(join(v03, "from-v0.1.ts"));
  await editFile(join(v03, "manifest.yaml"), (text) =>
    text.replace('version: "0.2"', 'version: "0.3"').replace('compatible_with: ["0.1"]', 'compatible_with: ["0.2"]').replace("/v0.2/manifest.yaml", "/v0.3/manifest.yaml"),
  );
  await editFile(join(v03, "records", "protocol.yaml"), (text) => text.replace('const: "0.2"', 'const: "0.3"'));
  await editFile(join(v03, "messages", "node-failed.yaml"), (text) => text.replace("required: [node_id, reason, severity]", "required: [node_id, cause, severity]").replace("  reason:\n", "  cause:\n"));
  await editFile(join(v03, "messages", "artifact-have.yaml"), (text) => text.replace("endpoint, bitfield, have", "endpoint, pieces, have").replace("  bitfield:\n", "  pieces:\n"));
  const unchanged = ["event.node.register", "event.agent.started", "event.agent.stopped", "signal.task.dispatch", "event.artifact.announced", "signal.artifact.request", "signal.result.ready", "signal.state.update"];
  await writeFile(
    join(v03, "from-v0.2.yaml"),
    `from: "0.2"
to: "0.3"
description: A failure's reason is its cause; a peer's bitfield is its pieces.
functions: from-v0.2.ts
envelope:
  - escape: { up: protocolBlock, down: protocolBlock, touches: [protocol] }
types:
  event.node.failed:
    - in: { name: payload, lenses: [{ rename: { from: reason, to: cause } }] }
  signal.artifact.have:
    - in: { name: payload, lenses: [{ rename: { from: bitfield, to: pieces } }] }
${unchanged.map((type) => `  ${type}: []`).join("\n")}
`,
  );
  await writeFile(
    join(v03, "from-v0.2.ts"),
    `import type { JsonObject, LensContext } from "@onex/runtime/codegen-v1";
/** Each version's own protocol block (these messages carry no other). */
export function protocolBlock(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  scope.protocol = context.targetProtocol();
  return undefined;
}
`,
  );
}

beforeAll(async () => {
  const project = await copySchemas();
  root = project.root;
  await writeV03(project.schemas);
  await generate({ schemasDir: project.schemas, outDir: project.out });
  const load = async (path: string) => (await import(pathToFileURL(join(project.out, path)).href)) as Record<string, unknown>;
  v02 = (await load("v0.2/index.ts")) as Sdk;
  v03 = (await load("v0.3/index.ts")) as Sdk;
  graph = (await load("transforms/index.ts")).versionGraph as VersionGraph;
  server = await startNatsServer();
  await applyBundledStreams(server.url);
}, 120_000);

afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
  await removeTempDirs();
});

async function clientOf(key: KeyPair, trusted: KeyPair[] = [key]): Promise<OnexClient> {
  const client = await controlPlaneClient(server.url, key, trusted);
  clients.push(client);
  return client;
}

/** A watcher announcing in `messages` until a node has failed; what it published (read back in v0.3) and what it reported. */
async function failureAnnouncedIn(messages: ServiceSdk) {
  const registry = await openRegistry(`${server.url}?bucket=reshaped${process.pid}x${open.length}&ttl=2s`, { onTampered: () => undefined });
  open.push(registry);
  const key = generateKeyPair();
  const self = makeNode(ZONE, { key });
  const client = await clientOf(key);
  const errors: unknown[] = [];
  const watcher = new HealthWatcher({ registry, key, address: self.address, messages, client, onError: (e) => errors.push(e) });
  const announced: Delivery<object>[] = [];
  const subscription = await client.subscribe([v03.NodeFailed] as never, { zone: ZONE, entityType: "node", entityId: self.identity.node_id, deliver: "all" });
  const reading = (async () => {
    for await (const delivery of subscription) {
      announced.push(delivery as Delivery<object>);
      await delivery.ack();
    }
  })();
  watcher.start();
  const dying = makeNode(ZONE);
  await registry.register(dying.entry, dying.identity);
  try {
    await eventually(async () => announced.length > 0 || errors.length > 0, 20_000, "event.node.failed or an error");
  } finally {
    await watcher.stop();
    await subscription.stop();
    await reading;
  }
  return { dying, errors, failed: announced.map((d) => d.message as unknown as { protocol: { version: string }; payload: Record<string, unknown> }) };
}

describe("the runtime's services in a version that reshaped their payloads", () => {
  it("v0.3 as it is: the health watcher cannot build event.node.failed and says so (ONEX_E_SDK_MISMATCH)", async () => {
    const { errors, failed } = await failureAnnouncedIn(v03);
    expect(failed).toEqual([]);
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.SdkMismatch, details: expect.objectContaining({ type: "event.node.failed", version: "0.3" }) })]);
  }, 40_000);

  it("through convertingSdk: built in v0.2, published as v0.3 with the reason as its cause", async () => {
    const { dying, errors, failed } = await failureAnnouncedIn(convertingSdk(v03, { sdk: v02, graph }));
    expect(errors).toEqual([]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.protocol.version).toBe("0.3");
    expect(failed[0]!.payload).toEqual({ node_id: dying.identity.node_id, severity: "error", cause: { message: expect.stringContaining("heartbeat"), code: "heartbeat_lapsed" } });
  }, 40_000);

  it("two swarms on v0.3 through convertingSdk hear each other's pieces, sent as v0.3's pieces", async () => {
    const keys = [generateKeyPair(), generateKeyPair()];
    const file = join(root, "artifact.bin");
    await writeFile(file, Buffer.alloc(3 * 16 * 1024, 7));
    const descriptor = await describeFile(file, { name: "models/reshaped", version: "1", zone: ZONE, pieceSize: 16 * 1024 }, keys[0]!);
    const messages = convertingSdk(v03, { sdk: v02, graph });
    const join2 = async (i: number, client: ControlPlane) =>
      Swarm.join({ client, messages, peerId: `peer-${i}`, zone: ZONE, endpoint: `http://127.0.0.1:${9000 + i}`, signer: keys[i]!.keyId, publishers: publishersOf(keys.map((k) => k.publicKey)), logger: { warn() {} } });
    const [a, b] = [await join2(0, await clientOf(keys[0]!, keys)), await join2(1, await clientOf(keys[1]!, keys))];
    const tap = await (await clientOf(keys[1]!, keys)).subscribe([v03.ArtifactHave] as never, { zone: ZONE, entityType: "node", entityId: "peer-0", deliver: "all" });
    try {
      await a.announce(descriptor, Bitfield.full(descriptor.pieces.length));
      await eventually(async () => b.peersOf(descriptor.root_hash).some((p) => p.peerId === "peer-0" && p.have?.complete === true), 10_000, "peer-0's pieces");
      const sent = (await tap[Symbol.asyncIterator]().next()).value as Delivery<object>;
      expect(Object.keys((sent.message as unknown as { payload: object }).payload).sort()).toEqual(["complete", "endpoint", "have", "peer_id", "pieces", "root_hash"]);
    } finally {
      await tap.stop();
      await a.stop();
      await b.stop();
    }
  }, 40_000);

  it("refuses to convert through the version itself, through nothing, or between versions no transform joins", () => {
    expect(() => convertingSdk(v03, { sdk: v03, graph })).toThrow(expect.objectContaining({ code: ErrorCode.Usage }));
    expect(() => convertingSdk(v03, null as never)).toThrow(expect.objectContaining({ code: ErrorCode.Usage }));
    expect(() => convertingSdk(v03, { sdk: v02, graph: { ...graph, steps: [] } })).toThrow(expect.objectContaining({ code: ErrorCode.NoPath }));
  });
});
