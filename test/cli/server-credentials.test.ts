/**
 * A password or token in a NATS server address (`--server` or NATS_URL as
 * nats://user:pass@host) is never said in what a command prints: error output goes to terminals
 * others watch and into CI logs. A real nats-server with users refuses a wrong password, and a
 * server without JetStream answers a JetStream command.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("server-credentials");
let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false, config: 'authorization { users: [ { user: admin, password: "right-pass-1" } ] }' });
});
afterAll(async () => {
  await server?.stop();
  remove();
});

const at = (userinfo: string, port = server.port) => `nats://${userinfo}@127.0.0.1:${port}`;

describe("credentials in a server address", () => {
  it.each([
    ["a wrong password, refused by the server", () => ["dlq", "list", "--server", at("admin:wrong-pass-2")], "wrong-pass-2", "admin:***@", 69],
    ["the right password, on a server without JetStream", () => ["dlq", "list", "--server", at("admin:right-pass-1")], "right-pass-1", "admin:***@", 69],
    ["a token, where no server listens", () => ["replay", "--from-seq", "1", "--server", at("token-3", 1)], "token-3", "//***@", 69],
    ["a password with an @ of its own", () => ["dlq", "list", "--server", at("admin:pa@ss-4")], "ss-4", "admin:***@", 69],
    ["a port that is no port", () => ["dlq", "list", "--server", at("admin:secret-5", 99999)], "secret-5", "admin:***@", 2],
  ] as const)("%s: neither the message nor --debug's details say it", (_name, args, secret, shown, exit) => {
    for (const debug of [[], ["--debug"]]) {
      const run = onex(dir, [...args(), ...debug]);
      expect(run.code, run.stderr).toBe(exit);
      expect(run.stderr).toContain(shown);
      expect(run.stdout + run.stderr).not.toContain(secret);
    }
  });

  it.each([
    ["a Consul token, where no Consul listens", "consul://127.0.0.1:1?token=tok-8", "tok-8", "cannot reach Consul", 69],
    ["a Consul token, with a port that is no port", "consul://127.0.0.1:99999?token=t0k%2F9", "t0k", "port 99999", 2],
    ["a password in a NATS registry URL, where no server listens", "nats://admin:secret-10@127.0.0.1:1", "secret-10", "cannot reach NATS", 69],
  ] as const)("registry: %s: neither the message nor --debug's details say it", (_name, url, secret, shown, exit) => {
    for (const debug of [[], ["--debug"]]) {
      const run = onex(dir, ["registry", "list", "--registry", url, ...debug]);
      expect(run.code, run.stderr).toBe(exit);
      expect(run.stderr).toContain(shown);
      expect(run.stdout + run.stderr).not.toContain(secret);
    }
  });

  it("the right password in the address authenticates (nats.js alone reads none from an address)", () => {
    const run = onex(dir, ["dlq", "list", "--server", at("admin:right-pass-1")]);
    expect(run.code).toBe(69);
    expect(run.stderr).toContain("has no JetStream");
    expect(run.stderr).not.toContain("Authorization");
  });

  it("NATS_URL with several addresses: none of their passwords is said", () => {
    const run = onex(dir, ["dlq", "list"], undefined, { NATS_URL: `${at("admin:pw-6", 1)},${at("admin:pw-6", 2)}` });
    expect(run.code).toBe(69);
    expect(run.stderr).toContain("admin:***@");
    expect(run.stderr).not.toContain("pw-6");
  });

  it("NATS_URL with addresses naming different credentials: a usage error (one connection has one set) that says neither", () => {
    const run = onex(dir, ["dlq", "list"], undefined, { NATS_URL: `${at("admin:pw-6", 1)},${at("other:pw-7", 2)}` });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("different credentials");
    expect(run.stderr).not.toMatch(/pw-6|pw-7/);
  });

  it("a password on the command line, as --password or inside an address, is warned of once; one in the environment is not", () => {
    const flag = onex(dir, ["dlq", "list", "--server", server.url, "--user", "admin", "--password", "right-pass-1"]);
    expect(flag.stderr.match(/^warning: --password on the command line can be read by every user of this machine \(ps\); set NATS_PASSWORD instead$/gm)).toHaveLength(1);
    const address = onex(dir, ["registry", "list", "--registry", "consul://127.0.0.1:1?token=tok-11"]);
    expect(address.stderr).toMatch(/^warning: a password or token in an address on the command line can be read by every user of this machine/m);
    // A token as an address's user, and a password in the second address of a list.
    for (const servers of ["nats://tok-12@127.0.0.1:1", "nats://127.0.0.1:1,nats://bob:pw-13@127.0.0.1:2"]) {
      expect(onex(dir, ["dlq", "list", "--server", servers]).stderr).toMatch(/^warning: a password or token in an address on the command line/m);
    }
    const env = onex(dir, ["dlq", "list", "--server", server.url, "--user", "admin"], undefined, { NATS_PASSWORD: "right-pass-1", NATS_URL: at("admin:right-pass-1") });
    expect(env.stderr).not.toContain("warning");
    expect(env.stderr).toContain("has no JetStream");
  });

  it("streams apply for an admin whose password is a bcrypt hash says to give it in NATS_PASSWORD, not on the command line", () => {
    writeFileSync(join(dir, "bcrypt.yaml"), '- { user: admin-a, password: "$2a$11$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV", zone: zone.a, role: admin }\n');
    const run = onex(dir, ["streams", "apply", "--identities", "bcrypt.yaml", "--server", server.url]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("`NATS_PASSWORD=… onex streams apply --zone zone.a --user admin-a`");
    expect(run.stderr).not.toContain("--password");
  });
});
