/**
 * Zone names are the tenants' own (`zone.trusted.org`), and each names accounts in the config
 * `onex nats-auth` writes. A tenant who picks its zone's name after another zone's accounts
 * must get accounts of its own: were two account blocks named alike, nats-server would keep
 * the last one silently and every identity of the first would be gone. Tested as that tenant,
 * against a server running the generated config.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { inboxPrefixOf } from "../../runtime/jetstream/authorization.js";
import { zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { runCli } from "../support/run-cli.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { client, makeKeys } from "./fixtures.js";

const VICTIM = "zone.a";
/** The name the members' account of zone.a had (`ONEX_ZONE_zone~2Ea_MEMBERS`) as a zone's account: `_` stands for itself in a token. */
const SQUATTER = "zone.a_MEMBERS";
const keys = makeKeys();
let server: NatsServer;

function update(zone: string): v0_1.StateUpdate {
  return v0_1.StateUpdate.create({
    source: { zone, entity_type: "node", entity_id: "n-1" },
    trust: { signer: "x", level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { state: "idle" },
  });
}

beforeAll(async () => {
  const dir = await tempDir();
  const identities = join(dir, "identities.yaml");
  await writeFile(
    identities,
    [
      `- { user: admin-a, password: admin-a-pw, zone: ${VICTIM}, role: admin }`,
      `- { user: node-a, password: a-pw, zone: ${VICTIM} }`,
      `- { user: admin-m, password: admin-m-pw, zone: ${SQUATTER}, role: admin }`,
      `- { user: node-m, password: m-pw, zone: ${SQUATTER} }`,
    ].join("\n"),
    { mode: 0o600 },
  );
  const generated = runCli(["nats-auth", identities]);
  expect([generated.status, generated.stderr]).toEqual([0, ""]);
  server = await startNatsServer({ config: generated.stdout });
  const applied = runCli(["streams", "apply", "--identities", identities, "--server", server.url]);
  expect([applied.status, applied.stderr]).toEqual([0, ""]);
});

afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

const member = (user: string, password: string) => client(server.url, keys.node, [keys.node], { user, pass: password, inboxPrefix: inboxPrefixOf(user), trust: { logger: { warn() {} } } });

describe("a zone named after another zone's members' account", () => {
  it("takes nothing from that zone: its members still connect and publish into their own stream, and the squatter's reach neither", async () => {
    // The victim's member: with one account block in place of the other, the server refused it ("Authorization Violation").
    const a = await member("node-a", "a-pw");
    // The squatter's member and admin (no message can name its zone: the schemas' zones are lower case; `onex nats-auth` took it all the same).
    const m = await member("node-m", "m-pw");
    const admin = await member("admin-m", "admin-m-pw");
    try {
      expect((await a.publish(update(VICTIM))).stream).toBe(zoneStreamNameOf("event", VICTIM));
      const across = await Promise.all([m, admin].map((c) => c.publish(update(VICTIM), { retryForMs: 0, timeoutMs: 2_000 }).catch((e: unknown) => e)));
      expect(across.map((e) => (e as { code?: string }).code)).toEqual([ErrorCode.PermissionDenied, ErrorCode.NoStream]);
    } finally {
      await Promise.all([a.close(), m.close(), admin.close()]);
    }
  });
});
