/**
 * A registry on a store that requires credentials: a nats-server with users (or a token) and an
 * etcd with authentication enabled, as a deployment that secures its control plane runs them.
 * Before, a registry URL took no credentials at all (`nats://user:pass@host` was refused), so
 * the NATS KV registry could only run on a server anyone may use. The URL's user info is now
 * what the store connects with; without it (or with a wrong one) the store refuses, and no
 * error says the password.
 */
import { inspect } from "node:util";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { registersAndResolves } from "./fixtures.js";

let withUsers: NatsServer;
let withToken: NatsServer;
let etcd: EtcdServer;

beforeAll(async () => {
  [withUsers, withToken, etcd] = await Promise.all([
    startNatsServer({ config: 'authorization { users: [ { user: registry, password: "reg-pass-1" } ] }' }),
    startNatsServer({ config: 'authorization { token: "reg-token-2" }' }),
    startEtcdServer(),
  ]);
  // etcd's authentication, as `etcdctl user add root && etcdctl auth enable` turns it on.
  const admin = new Etcd3({ hosts: etcd.clientUrl });
  try {
    await admin.user("root").create("root-pass-3");
    await admin.user("root").addRole("root");
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
});
afterAll(async () => {
  await Promise.all([withUsers?.stop(), withToken?.stop(), etcd?.stop()]);
});

const hostOf = (url: string) => url.replace(/^[a-z]+:\/\//, "");

async function refusal(url: string): Promise<OnexError> {
  const outcome: unknown = await openRegistry(url).then(
    async (registry): Promise<unknown> => {
      // etcd checks credentials per request: an open registry is refused at its first call.
      try {
        await registry.list();
        return registry;
      } catch (error) {
        return error;
      } finally {
        await registry.close();
      }
    },
    (error: unknown): unknown => error,
  );
  if (!(outcome instanceof OnexError)) throw new Error(`expected the store to refuse ${url}, got ${inspect(outcome)}`);
  return outcome;
}

describe("NATS KV on a server that requires credentials", () => {
  it("a user and password in the URL", async () => {
    await registersAndResolves(`nats://registry:reg-pass-1@${hostOf(withUsers.url)}?bucket=cred_users`);
  });

  it("a token in the URL", async () => {
    await registersAndResolves(`nats://reg-token-2@${hostOf(withToken.url)}?bucket=cred_token`);
  });

  it.each([
    ["no credentials", () => `nats://${hostOf(withUsers.url)}?bucket=cred_none`, "reg-pass-1"],
    ["a wrong password, which is not said", () => `nats://registry:wrong-pass-4@${hostOf(withUsers.url)}?bucket=cred_wrong`, "wrong-pass-4"],
  ])("%s: refused as ONEX_E_REGISTRY_UNAVAILABLE", async (_name, url, secret) => {
    const error = await refusal(url());
    expect(error.code).toBe(ErrorCode.RegistryUnavailable);
    expect(error.message).toMatch(/Authorization Violation/i);
    expect(inspect(error, { depth: 10 }) + JSON.stringify(error.details)).not.toContain(secret);
  });
});

describe("etcd with authentication enabled", () => {
  it("a user and password in the URL", async () => {
    await registersAndResolves(`etcd://root:root-pass-3@${hostOf(etcd.clientUrl)}?prefix=/cred/`);
  });

  it.each([
    ["no credentials", () => `etcd://${hostOf(etcd.clientUrl)}?prefix=/cred-none/`, "root-pass-3"],
    ["a wrong password, which is not said", () => `etcd://root:wrong-pass-5@${hostOf(etcd.clientUrl)}?prefix=/cred-wrong/`, "wrong-pass-5"],
  ])("%s: refused", async (_name, url, secret) => {
    const error = await refusal(url());
    expect(inspect(error, { depth: 10 }) + JSON.stringify(error.details)).not.toContain(secret);
  });
});

describe("credentials a store cannot take are ONEX_E_REGISTRY_URL", () => {
  it.each([
    ["etcd with a token alone", "etcd://tok-6@127.0.0.1:2379", /user and password/, "tok-6"],
    ["Consul with user info (its token is ?token=)", "consul://user:pw-7@127.0.0.1:8500", /\?token=/, "pw-7"],
    ["credentials in a second address", "nats://a:pw-8@h1:4222,b:pw-9@h2:4222", /more than one address/, "pw-9"],
    // Read as a list, its part before the comma was an address of its own, and was said.
    ["a password holding a comma", "nats://a:pw-10,more-11@h1:4222", /%2C/, "pw-10"],
  ])("%s", async (_name, url, why, secret) => {
    const error = await refusal(url);
    expect(error.code).toBe(ErrorCode.RegistryUrl);
    expect(error.message).toMatch(why);
    expect(inspect(error, { depth: 10 }) + JSON.stringify(error.details)).not.toContain(secret);
  });
});
