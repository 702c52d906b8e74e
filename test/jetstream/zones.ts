/**
 * A two-zone deployment as an operator sets it up: nats-server started with the config
 * `onex nats-auth` generates, streams from `onex streams apply --identities`, a node in each
 * zone, and the raw connections an attacker holding a zone-A identity would have.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { expect } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { connect, type ConnectOptions, type OnexClient } from "../../runtime/jetstream/client.js";
import { inboxPrefixOf } from "../../runtime/jetstream/authorization.js";
import { exportPublicKey, generateKeyPair, keyRing, type KeyPair } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { runCli, type CliResult } from "../support/run-cli.js";
import { tempDir } from "../support/temp-schemas.js";

export const ZONE_A = "zone.a";
export const ZONE_B = "zone.b";

const USERS = {
  adminA: { user: "admin-a", password: "admin-a-pw", zone: ZONE_A, role: "admin" },
  adminB: { user: "admin-b", password: "admin-b-pw", zone: ZONE_B, role: "admin" },
  a: { user: "node-a", password: "a-pw", zone: ZONE_A, role: "member" },
  a2: { user: "node-a2", password: "a2-pw", zone: ZONE_A, role: "member" },
  b: { user: "node-b", password: "b-pw", zone: ZONE_B, role: "member" },
} as const;
type Who = keyof typeof USERS;

/** The deployment and what each party holds. */
export interface TwoZones {
  server: NatsServer;
  dir: string;
  keys: { a: KeyPair; b: KeyPair; stranger: KeyPair };
  /** Public key files of the zones' nodes, for `onex dlq replay --key`. */
  keyFiles: string[];
  /** A typed client of user `who`, signing with its zone's key and trusting both zones' keys. */
  member(who: "a" | "a2" | "b", extra?: Partial<ConnectOptions>): Promise<OnexClient>;
  /** A raw NATS connection of user `who`, as an attacker (or the zone's admin) scripts it. */
  raw(who: Who): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: () => Promise<JetStreamManager> }>;
  /** `onex ...args` as the admin of `zone`. */
  adminCli(args: string[], zone?: string): CliResult;
  stop(): Promise<void>;
}

/** Starts the deployment; `serverConfig` is appended to the generated config (e.g. `max_payload`), `natsAuthFlags` passed to `onex nats-auth`. */
export async function startTwoZones(serverConfig = "", natsAuthFlags: string[] = []): Promise<TwoZones> {
  const dir = await tempDir();
  const identities = join(dir, "identities.yaml");
  await writeFile(
    identities,
    Object.values(USERS)
      .map((u) => `- { user: ${u.user}, password: ${u.password}, zone: ${u.zone}, role: ${u.role} }`)
      .join("\n"),
    // Passwords: owner-only, or onex warns that others can read them.
    { mode: 0o600 },
  );
  const generated = runCli(["nats-auth", identities, ...natsAuthFlags]);
  expect(generated.stderr).toBe("");
  const server = await startNatsServer({ config: `${generated.stdout}\n${serverConfig}` });
  const adminCli = (args: string[], zone = ZONE_A) => {
    const admin = zone === ZONE_A ? USERS.adminA : USERS.adminB;
    // The password in the environment, as an operator passes it: on the command line others could read it.
    return runCli([...args, "--server", server.url, "--user", admin.user], { env: { NATS_PASSWORD: admin.password } });
  };
  // As an operator does it: each zone's streams, in its account, as its admin.
  const applied = runCli(["streams", "apply", "--identities", identities, "--server", server.url]);
  expect(applied.stderr).toBe("");
  expect(applied.status).toBe(0);

  const keys = { a: generateKeyPair(), b: generateKeyPair(), stranger: generateKeyPair() };
  const keyFiles = [join(dir, "a.pub"), join(dir, "b.pub")];
  await writeFile(keyFiles[0]!, exportPublicKey(keys.a.publicKey));
  await writeFile(keyFiles[1]!, exportPublicKey(keys.b.publicKey));
  const opened: { close(): Promise<void> }[] = [];

  return {
    server,
    dir,
    keys,
    keyFiles,
    async member(who: "a" | "a2" | "b", extra = {}) {
      const u = USERS[who];
      const c = await connect({
        servers: server.url,
        identity: u.zone === ZONE_A ? keys.a : keys.b,
        keys: keyRing([keys.a.publicKey, keys.b.publicKey]),
        user: u.user,
        pass: u.password,
        inboxPrefix: inboxPrefixOf(u.user),
        trust: { zone: u.zone, logger: { warn() {} } },
        ...extra,
      });
      opened.push(c);
      return c;
    },
    async raw(who) {
      const u = USERS[who];
      const nc = await natsConnect({ servers: server.url, user: u.user, pass: u.password, inboxPrefix: inboxPrefixOf(u.user) });
      opened.push({ close: () => nc.close() });
      return { nc, js: jetstream(nc), jsm: () => jetstreamManager(nc) };
    },
    adminCli,
    async stop() {
      await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
      await server.stop();
    },
  };
}

/** A v0.1 state update from `entity` in `zone`, valid for an hour. */
export function update(zone: string, entity: string, state: "idle" | "busy" | "draining" | "offline" = "idle"): v0_1.StateUpdate {
  return v0_1.StateUpdate.create({
    source: { zone, entity_type: "node", entity_id: entity },
    trust: { signer: "unsigned", level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { state },
  });
}

/** A v0.1 task dispatch in `zone`, with `input` as its free-form input. */
export function dispatch(zone: string, taskId: string, input: Record<string, unknown> = {}): v0_1.TaskDispatch {
  return v0_1.TaskDispatch.create({
    source: { zone, entity_type: "task", entity_id: taskId },
    trust: { signer: "unsigned", level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { task_id: taskId, target: "n-1", action: "train", priority: 5, input },
  });
}

/** Whether a raw request is refused by the server's permissions (the attacker's view). */
export async function refusedByServer(nc: NatsConnection, subject: string, body = "{}"): Promise<boolean> {
  try {
    await nc.request(subject, body, { timeout: 2_000 });
    return false;
  } catch (error) {
    if (/permissions violation/i.test(String((error as Error).message))) return true;
    throw error;
  }
}
