/**
 * A zone member may not read its dead-letter stream's limits (only the zone's admins use the
 * JetStream API on dead-letter streams), and every subscription asks for them as it opens. Asked
 * by each subscription of a member's client, each was one more refused request, and one more
 * permissions violation in the server's log, where an operator looks for an attacker's. The
 * refusal is now remembered for the client: one, however many subscriptions it opens.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { eventually } from "../registry/fixtures.js";
import { startTwoZones, ZONE_A, type TwoZones } from "./zones.js";

let zones: TwoZones;
let log = "";
beforeAll(async () => {
  zones = await startTwoZones();
  zones.server.process.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
}, 60_000);
afterAll(async () => {
  await zones?.stop();
});

/** The server's log lines that refuse a read of the streams' list. */
const listRefusals = () => log.split("\n").filter((line) => line.includes("Violation") && line.includes("$JS.API.STREAM.LIST"));

describe("a zone member's subscriptions and the dead-letter stream's limits", () => {
  it("are refused the read once for the client, not once a subscription", async () => {
    const member = await zones.member("a");
    for (const durable of ["one", "two", "three"]) await member.subscribe([v0_1.TaskDispatch], { zone: ZONE_A, durable });
    // A violation of its own after them: once it is in the log, so is every one before it.
    const { nc } = await zones.raw("a");
    nc.publish("marker.after.the.subscriptions");
    await nc.flush();
    await eventually(async () => log.includes("marker.after.the.subscriptions"), 15_000, "the marker in the server's log");
    expect(listRefusals()).toHaveLength(1);
  }, 60_000);
});
