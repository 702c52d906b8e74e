/**
 * The dead letters' zone, as the SDK's readers take it (`readDeadLetters`, `listDeadLetters`,
 * `getDeadLetter`, `deadLetterStreamOf`): a zone no message can name (`Zone.A`) has no letters,
 * but its subject falls under the one `ONEX_DLQ` of a deployment without zones, so it read that
 * stream's letters, every zone's, as if they were its own. Each refuses it with ONEX_E_USAGE,
 * naming the option and the rule, before asking the server anything.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { deadLetterStreamOf, getDeadLetter, listDeadLetters } from "../../runtime/jetstream/dead-letter.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";
import { ZONE_ID_RULE } from "../../runtime/zone-id.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { applyBundledStreams, stateUpdate } from "./fixtures.js";

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  await applyBundledStreams(server.url);
  nc = await natsConnect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  const h = headers();
  h.set(OnexHeader.DlqReason, ErrorCode.SignatureInvalid);
  h.set(OnexHeader.DlqStream, "ONEX_EVENT");
  h.set(OnexHeader.DlqSequence, "1");
  // A letter of zone.a's subscription, in the deployment's one dead-letter stream.
  await jetstream(nc).publish("onex.dlq.zone~2Ea.ONEX_EVENT.worker", new TextEncoder().encode(JSON.stringify(stateUpdate().toJSON())), { headers: h });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    const value = await run();
    return Array.isArray(value) ? value.map((letter: { sequence: number }) => letter.sequence) : typeof value === "object" && value !== null ? (value as { sequence: number }).sequence : value;
  } catch (error) {
    return [(error as OnexError).code, (error as Error).message];
  }
}

describe("a dead-letter zone no message can name", () => {
  it.each(["Zone.A", "zone_a", "zone..a", "", 5])("%j is refused by each reader with ONEX_E_USAGE, naming the option and the rule", async (zone) => {
    const usage = (where: string) => [ErrorCode.Usage, expect.stringContaining(`${where}: zone ${typeof zone === "string" ? JSON.stringify(zone) : zone} is no zone a message can name: a zone id is ${ZONE_ID_RULE}`)];
    expect(await outcome(() => listDeadLetters(jsm, { zone: zone as string }))).toEqual(usage("listDeadLetters"));
    // With a stream named, the zone is not used: it is still a mistake.
    expect(await outcome(() => listDeadLetters(jsm, { zone: zone as string, stream: "ONEX_DLQ" }))).toEqual(usage("listDeadLetters"));
    expect(await outcome(() => getDeadLetter(jsm, 1, zone as string))).toEqual(usage("getDeadLetter"));
    expect(await outcome(() => deadLetterStreamOf(jsm, zone as string))).toEqual(usage("deadLetterStreamOf"));
  });

  it("is told apart from a zone id, whose letters are read as before", async () => {
    expect(await outcome(() => listDeadLetters(jsm, { zone: "zone.a" }))).toEqual([1]);
    expect(await outcome(() => getDeadLetter(jsm, 1, "zone.a"))).toBe(1);
    expect(await outcome(() => deadLetterStreamOf(jsm, "zone.a"))).toBe("ONEX_DLQ");
  });
});
