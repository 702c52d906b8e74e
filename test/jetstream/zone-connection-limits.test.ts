/**
 * Connections and core subscriptions are what every zone on a server shares: the server's own
 * `max_connections` counts them all, and each subscription costs the server memory (about
 * 1.2 KB on distinct subjects, nats-server 2.9) that no JetStream limit counts. A zone-A member
 * opening connections or subscribing without end must be stopped at its zone's limits, with
 * zone B still connecting. So must a zone's admin (an identity an operator may hand to a
 * tenant), at limits of its own, its zone's members still publishing. Against a server
 * running the generated config, as the member or admin.
 */
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { DEFAULT_ZONE_ADMIN_CONNECTIONS, DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS, DEFAULT_ZONE_CONNECTIONS, DEFAULT_ZONE_SUBSCRIPTIONS, inboxPrefixOf, natsAccountsConfig, type ZoneAccountLimits } from "../../runtime/jetstream/authorization.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, ZONE_B, startTwoZones, update } from "./zones.js";

afterAll(async () => {
  await removeTempDirs();
});

/** Polls `check` until it holds or about 10 s pass (then the assertion after it fails). */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Connects as `user` up to `most` times or until the server refuses: the connections opened, and the refusal ("" if none came). */
async function connectUntilRefused(url: string, user: string, pass: string, most: number, opened: NatsConnection[]): Promise<string> {
  let refused = "";
  for (let i = 0; i < most && refused === ""; i++) {
    refused = await natsConnect({ servers: url, user, pass, inboxPrefix: inboxPrefixOf(user), reconnect: false }).then(
      (nc) => {
        opened.push(nc);
        return "";
      },
      (error: unknown) => String((error as Error).message),
    );
  }
  return refused;
}

/** Subscribes `nc` to `limit + 5` distinct subjects of zone A (each a new entry in the server's subject tree); the errors the server sent back. */
async function subscribePastLimit(nc: NatsConnection, limit: number): Promise<string[]> {
  const refusals: string[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === "error") refusals.push(String((status.error as Error)?.message));
  })();
  for (let i = 0; i < limit + 5; i++) nc.subscribe(update(ZONE_A, `n-${i}`).subject());
  await nc.flush();
  await eventually(() => refusals.length >= 5);
  return refusals;
}

describe("a zone's connections", () => {
  // The server's own limit, as an operator sets one: above the zone's, below what one zone could open.
  const SERVER_MAX = 60;
  for (const [flags, limit, serverMax] of [[["--zone-connections", "20"], 20, SERVER_MAX], [[], DEFAULT_ZONE_CONNECTIONS, undefined]] as const) {
    it(`a member opening connections without end is stopped at its zone's limit (${flags.length ? flags.join(" ") : "the default"}: ${limit}), and zone B still connects`, async () => {
      const zones = await startTwoZones(serverMax === undefined ? "" : `max_connections: ${serverMax}`, [...flags]);
      const opened: NatsConnection[] = [];
      try {
        // One more than the server holds: without a zone limit the member took every connection.
        const refused = await connectUntilRefused(zones.server.url, "node-a2", "a2-pw", (serverMax ?? limit + 5) + 1, opened);
        // Each refusal is sent before the server closes the socket: read or not, the member has no more.
        expect(opened.length).toBe(limit);
        expect(refused).not.toBe("");
        const b = await zones.member("b");
        expect((await b.publish(update(ZONE_B, "b-connected"), { retryForMs: 0 })).stream).toBe(zoneStreamNameOf("event", ZONE_B));
        // The zone's own admin is in the zone's account, not the members': it still connects too.
        await expect(zones.raw("adminA")).resolves.toBeDefined();
      } finally {
        await Promise.all(opened.map((nc) => nc.close()));
        await zones.stop();
      }
    }, 120_000);
  }
});

describe("a zone's subscriptions", () => {
  for (const [flags, limit] of [[["--zone-subscriptions", "30"], 30], [[], DEFAULT_ZONE_SUBSCRIPTIONS]] as const) {
    it(`a member subscribing without end is refused past its zone's limit per connection (${flags.length ? flags.join(" ") : "the default"}: ${limit}); the connection goes on`, async () => {
      const zones = await startTwoZones("", [...flags]);
      try {
        const { nc } = await zones.raw("a2");
        // Distinct subjects of its own zone, as its permissions allow.
        const refusals = await subscribePastLimit(nc, limit);
        expect(refusals).toEqual(Array(5).fill(expect.stringMatching(/maximum subscriptions exceeded/i)));
        expect(nc.isClosed()).toBe(false);
        expect((await (await zones.member("b")).publish(update(ZONE_B, "b-subscribed"), { retryForMs: 0 })).stream).toBe(zoneStreamNameOf("event", ZONE_B));
      } finally {
        await zones.stop();
      }
    }, 60_000);
  }
});

describe("a zone's admins", () => {
  for (const [flags, limit] of [[["--zone-admin-connections", "5"], 5], [[], DEFAULT_ZONE_ADMIN_CONNECTIONS]] as const) {
    it(`opening connections without end are stopped at the zone's admin limit (${flags.length ? flags.join(" ") : "the default"}: ${limit}); its members and zone B go on`, async () => {
      // `streams apply --identities` ran as the admin with the limit in place (startTwoZones).
      const zones = await startTwoZones("", [...flags]);
      const opened: NatsConnection[] = [];
      try {
        const refused = await connectUntilRefused(zones.server.url, "admin-a", "admin-a-pw", limit + 5, opened);
        expect(opened.length).toBe(limit);
        expect(refused).not.toBe("");
        // The members' account is another, and their imports into the zone's account are no connections of it.
        const a = await zones.member("a");
        expect((await a.publish(update(ZONE_A, "a-after-admins"), { retryForMs: 0 })).stream).toBe(zoneStreamNameOf("event", ZONE_A));
        await expect(zones.raw("adminB")).resolves.toBeDefined();
      } finally {
        await Promise.all(opened.map((nc) => nc.close()));
        await zones.stop();
      }
    }, 120_000);
  }

  for (const [flags, limit] of [[["--zone-admin-subscriptions", "30"], 30], [[], DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS]] as const) {
    it(`subscribing without end is refused past the zone's admin limit per connection (${flags.length ? flags.join(" ") : "the default"}: ${limit}); the connection goes on`, async () => {
      const zones = await startTwoZones("", [...flags]);
      try {
        const { nc } = await zones.raw("adminA");
        const refusals = await subscribePastLimit(nc, limit);
        expect(refusals).toEqual(Array(5).fill(expect.stringMatching(/maximum subscriptions exceeded/i)));
        expect(nc.isClosed()).toBe(false);
        expect((await (await zones.member("a")).publish(update(ZONE_A, "a-subscribed"), { retryForMs: 0 })).stream).toBe(zoneStreamNameOf("event", ZONE_A));
      } finally {
        await zones.stop();
      }
    }, 60_000);
  }
});

describe("admin limits that are no whole number from 1", () => {
  it("are refused with ONEX_E_USAGE, by natsAccountsConfig and by nats-auth (exit 2), before anything is written", () => {
    const identities = [{ user: "admin-a", password: "pw", zone: "zone.a", role: "admin" as const }];
    for (const limits of [{ maxAdminConnections: 0 }, { maxAdminConnections: 1.5 }, { maxAdminSubscriptions: Number.NaN }, { maxAdminSubscriptions: -1 }] as ZoneAccountLimits[]) {
      let code: string | undefined;
      try {
        natsAccountsConfig([v0_1], identities, limits);
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      expect([limits, code]).toEqual([limits, ErrorCode.Usage]);
    }
    for (const flag of ["--zone-admin-connections", "--zone-admin-subscriptions"]) {
      const result = runCli(["nats-auth", "-", flag, "0"], { input: "- { user: admin-a, password: pw, zone: zone.a, role: admin }\n" });
      expect([result.status, result.stdout, result.stderr]).toEqual([2, "", expect.stringContaining("ONEX_E_USAGE")]);
    }
  });
});
