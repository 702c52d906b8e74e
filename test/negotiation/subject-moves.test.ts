/**
 * A version may move a message type to a subject template of its own (a v0.3 giving the
 * signals a `signal` template, say). A peer's versioned subscription reads its own version's
 * templates, so a broadcast on the sender's subject never reaches it: the sender's receipt
 * lists that peer (a message sent `to` a peer is converted and published on its version's subject).
 *
 * The moved version is the bundled v0.1 as the v0.2 node knows it, with `signal.state.update`
 * on a `signal` template; the peer itself is a real v0.1 node.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { versionGraph } from "../../generated/transforms/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import type { OnexClient } from "../../runtime/jetstream/client.js";
import { FederationNode } from "../../runtime/negotiation/federation-node.js";
import type { ProtocolSdk, SubjectTemplate } from "../../runtime/protocol-sdk.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { SDKS, sampleMessage } from "./samples.js";
import { applyAllStreams, bundledIndexes, federationClient, startNode } from "./support.js";

const MOVED = "signal.state.update";
const keys = { sender: generateKeyPair(), peer: generateKeyPair() };
let server: NatsServer;
const clients: OnexClient[] = [];
let sender: FederationNode;
let peer: FederationNode;

/** v0.1 with MOVED on a `signal` template whose subjects end in `.signals`. */
function v01WithMovedSignal(): ProtocolSdk {
  const v01 = SDKS["0.1"]!;
  const cls = v01.messageClasses[MOVED]!;
  const event = cls.subjectTemplate;
  const signal: SubjectTemplate = {
    ...event,
    key: "signal",
    template: event.template.replace(/\.events$/, ".signals"),
    types: [MOVED],
    parse: (subject) => {
      if (!subject.endsWith(".signals")) throw new OnexError(ErrorCode.SubjectParse, `${subject} is no signal subject`, {});
      return {};
    },
  };
  return { ...v01, messageClasses: { ...v01.messageClasses, [MOVED]: Object.create(cls, { subjectTemplate: { value: signal } }) } };
}

beforeAll(async () => {
  server = await startNatsServer();
  await applyAllStreams(server.url);
  const indexes = await bundledIndexes();
  const trusted = Object.values(keys);
  clients.push(await federationClient(server.url, keys.sender, trusted), await federationClient(server.url, keys.peer, trusted));
  sender = await FederationNode.start({
    client: clients[0]!,
    connection: clients[0]!.nc,
    deployment: "deployment-sender",
    sdk: SDKS["0.2"]!,
    sources: [SDKS["0.0.9"]!, v01WithMovedSignal(), SDKS["0.2"]!],
    graph: versionGraph,
    indexes,
    identity: keys.sender,
    keys: keyRing(trusted.map((k) => k.publicKey)),
  });
  peer = await startNode(clients[1]!, "deployment-peer", "0.1", indexes, keys.peer, trusted);
  await sender.negotiate("deployment-peer");
});

afterAll(async () => {
  await sender?.stop();
  await peer?.stop();
  for (const c of clients) await c.close();
  await server?.stop();
});

it("a broadcast of a type the peer's version reads on another subject template lists the peer, naming both templates", async () => {
  const moved = await sender.publish(sampleMessage("0.2", MOVED, "n-moved"));
  expect(moved.refusedBy).toEqual([
    expect.objectContaining({ peer: "deployment-peer", version: "0.1", code: ErrorCode.NoCounterpart, message: expect.stringMatching(/subject template event in v0\.2, and on signal .* in v0\.1/) }),
  ]);
  const stayed = await sender.publish(sampleMessage("0.2", "event.node.failed", "n-stayed"));
  expect(stayed.refusedBy).toEqual([]);
});
