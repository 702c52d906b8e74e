/**
 * A password or token in a server address or registry URL is never in an error the SDK throws:
 * a service logs what it catches (the message, the details, the cause chain `util.inspect`
 * prints), and those logs are read by more people than the password was meant for. Before, only
 * the CLI hid them; `connect` and `openRegistry` said them to any service that logged the error.
 * Against a real nats-server that requires a password, and ports where nothing listens.
 */
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressSecrets, hideSecrets, redactedAddress, withoutSecrets } from "../../runtime/address-secrets.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { connect } from "../../runtime/jetstream/client.js";
import { openRegistry, parseRegistryUrl } from "../../runtime/registry/open-registry.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false, config: 'authorization { users: [ { user: admin, password: "right-pass-1" } ] }' });
});
afterAll(async () => {
  await server?.stop();
});

/** Everything a logger could print of an error: its message, details as JSON, and `inspect` down its cause chain. */
function everythingSaid(error: unknown): string {
  return [(error as Error).message, JSON.stringify((error as OnexError).details), inspect(error, { depth: 10 })].join("\n");
}

async function failureOf(attempt: () => Promise<{ close(): Promise<void> }>): Promise<OnexError> {
  const opened: unknown = await attempt().then(
    (value): unknown => value,
    (error: unknown): unknown => error,
  );
  if (!(opened instanceof OnexError)) {
    if (opened !== null && typeof opened === "object" && "close" in opened) await (opened as { close(): Promise<void> }).close();
    throw new Error(`expected an OnexError, got ${inspect(opened)}`);
  }
  return opened;
}

const identity = generateKeyPair();
const connectTo = (servers: string | string[]) => () => connect({ servers, identity, keys: keyRing([identity.publicKey]) });

describe("connect: the address's password or token is not said", () => {
  it.each([
    ["a wrong password, refused by the server", (): string => `nats://admin:wrong-pass-2@127.0.0.1:${server.port}`, "wrong-pass-2", ErrorCode.ConnectionFailed, "nats://admin:***@"],
    ["a token, where nothing listens", (): string => "nats://token-3@127.0.0.1:1", "token-3", ErrorCode.ConnectionFailed, "nats://***@"],
    ["a password with an @ of its own", (): string => "nats://admin:pa@ss-4@127.0.0.1:1", "ss-4", ErrorCode.ConnectionFailed, "nats://admin:***@"],
    // nats.js's URL error carries the whole address in its `input` field.
    ["a port that is no port", (): string => "nats://admin:secret-5@127.0.0.1:99999", "secret-5", ErrorCode.Usage, "nats://admin:***@"],
  ])("%s", async (_name, address, secret, code, shown) => {
    const error = await failureOf(connectTo(address()));
    expect(error.code).toBe(code);
    expect(error.message).toContain(shown);
    expect(everythingSaid(error)).not.toContain(secret);
  });

  it("a list of addresses with one set of credentials: their password is not said", async () => {
    const error = await failureOf(connectTo(["nats://admin:pw-6@127.0.0.1:1", "nats://admin:pw-6@127.0.0.1:2"]));
    expect(error.code).toBe(ErrorCode.ConnectionFailed);
    expect(everythingSaid(error)).not.toContain("pw-6");
  });

  it("a list of addresses naming different credentials is ONEX_E_USAGE (one connection has one set), and says neither", async () => {
    const error = await failureOf(connectTo("nats://admin:pw-6@127.0.0.1:1,nats://other:pw-7@127.0.0.1:2"));
    expect(error.code).toBe(ErrorCode.Usage);
    expect(everythingSaid(error)).not.toMatch(/pw-6|pw-7/);
  });

  // A password or token written with a character a URL's host part ends at (a base64 token's
  // "/", a passphrase's space) was said whole: the part up to the address's last @ is its secret.
  it.each([
    ["a token holding a /, as base64 ones do", "nats://tk7/en-12+==@127.0.0.1:1", "tk7/en-12+=="],
    ["a password holding a /, with a port that is no port", "nats://admin:pw8/ss-13@127.0.0.1:99999", "pw8/ss-13"],
    ["a password holding a space", "nats://admin:pw9 phrase-14@127.0.0.1:1", "pw9 phrase-14"],
    ["a password holding a newline", "nats://admin:pw0\nline-15@127.0.0.1:99999", "pw0\nline-15"],
  ])("%s: no part of it is said", async (_name, address, secret) => {
    const error = await failureOf(connectTo(address));
    for (const part of secret.split(/[/\s]/)) expect(everythingSaid(error)).not.toContain(part);
  });

  it("a list holding an empty address, beside a password with a quote and a backslash: the message quotes the list as JSON, and says the password escaped no more", async () => {
    const error = await failureOf(connectTo(['nats://admin:pw"\\3-17@127.0.0.1:1', ""]));
    expect(error.code).toBe(ErrorCode.Usage);
    expect(everythingSaid(error)).not.toContain("3-17");
  });

  it("a list holding an empty address is ONEX_E_USAGE, and says the others' passwords no more", async () => {
    const error = await failureOf(connectTo(["nats://admin:pw-8@127.0.0.1:1", ""]));
    expect(error.code).toBe(ErrorCode.Usage);
    expect(everythingSaid(error)).not.toContain("pw-8");
  });

});

describe("connect: credentials written in the address are the ones it connects with", () => {
  // nats.js reads no credentials from an address: the client connected without them.
  it("the right password in the address connects to a server that requires one", async () => {
    const client = await connectTo(`nats://admin:right-pass-1@127.0.0.1:${server.port}`)();
    await client.close();
  });

  it("with a default user (no_auth_user), the address's user is the one the server sees, not the default", async () => {
    const guarded = await startNatsServer({
      jetstream: false,
      config: 'authorization { users: [ { user: admin, password: "admin-pass" }, { user: guest, password: "guest-pass", permissions: { publish: { deny: "who" } } } ] }\nno_auth_user: guest',
    });
    try {
      const admin = await connectTo(`nats://admin:admin-pass@127.0.0.1:${guarded.port}`)();
      const answering = admin.nc.subscribe("who", { callback: (_error, msg) => void msg.respond("answered") });
      const asker = await connectTo(`nats://admin:admin-pass@127.0.0.1:${guarded.port}`)();
      // As the guest, the request is a permission violation; as admin, it is answered.
      expect((await asker.nc.request("who", "", { timeout: 2_000 })).string()).toBe("answered");
      answering.unsubscribe();
      await asker.close();
      await admin.close();
    } finally {
      await guarded.stop();
    }
  });

  it.each([
    ["an empty user with a password (as a Redis URL writes a token)", ":admin-pass"],
    ["an empty token", ""],
  ])("%s is ONEX_E_USAGE: nats.js sent no credentials for it, and a default user (no_auth_user) let the client in as itself", async (_name, userinfo) => {
    const guarded = await startNatsServer({ jetstream: false, config: 'authorization { users: [ { user: admin, password: "admin-pass" }, { user: guest, password: "guest-pass" } ] }\nno_auth_user: guest' });
    try {
      const error = await failureOf(connectTo(`nats://${userinfo}@127.0.0.1:${guarded.port}`));
      expect(error.code).toBe(ErrorCode.Usage);
      expect(everythingSaid(error)).not.toContain("admin-pass");
      const registry = await failureOf(() => openRegistry(`nats://${userinfo}@127.0.0.1:${guarded.port}`, { logger: { warn() {} } }));
      expect(registry.code).toBe(ErrorCode.RegistryUrl);
    } finally {
      await guarded.stop();
    }
  });

  it("a user and password given beside an address that names others are ONEX_E_USAGE", async () => {
    const error = await failureOf(() => connect({ servers: `nats://admin:right-pass-1@127.0.0.1:${server.port}`, user: "other", pass: "other-pass", identity, keys: keyRing([identity.publicKey]) }));
    expect(error.code).toBe(ErrorCode.Usage);
    expect(everythingSaid(error)).not.toMatch(/right-pass-1|other-pass/);
  });
});

describe("openRegistry: the URL's password or token is not said", () => {
  it.each([
    ["a Consul token, where no Consul listens", "consul://127.0.0.1:1?token=tok-9", "tok-9", ErrorCode.RegistryUnavailable],
    ["a Consul token, percent-encoded, with a TTL out of bounds", "consul://127.0.0.1:1?ttl=2d&token=t%2Fk-10", "k-10", ErrorCode.RegistryUrl],
    ["a Consul token, with a port that is no port", "consul://127.0.0.1:99999?token=tok-11", "tok-11", ErrorCode.RegistryUrl],
    ["a password in a NATS registry URL, where no server listens", "nats://admin:secret-12@127.0.0.1:1", "secret-12", ErrorCode.RegistryUnavailable],
    ["a password in a NATS registry URL, with a port that is no port", "nats://admin:secret-13@127.0.0.1:99999", "secret-13", ErrorCode.RegistryUrl],
    // The URL's host part ends at the first / or ?: the host it quoted was a piece of the secret.
    ["a NATS token holding a /, where no server listens", "nats://tk1/en-14@127.0.0.1:1", "tk1", ErrorCode.RegistryUnavailable],
    ["an etcd password holding a ?", "etcd://admin:se2?ret-15@127.0.0.1:1", "se2", ErrorCode.RegistryUrl],
    ["a Consul token holding a space, with a port that is no port", "consul://127.0.0.1:99999?token=tok en-16", "en-16", ErrorCode.RegistryUrl],
  ])("%s", async (_name, url, secret, code) => {
    const error = await failureOf(() => openRegistry(url, { logger: { warn() {} } }));
    expect(error.code).toBe(code);
    expect(everythingSaid(error)).not.toContain(secret);
    if (code === ErrorCode.RegistryUrl) expect(() => parseRegistryUrl(url)).toThrow(/\*\*\*|not host:port|TTL|port/);
  });
});

describe("the secrets of an address", () => {
  it.each([
    ["nats://user:pass-a@h:4222", ["pass-a"]],
    ["nats://tok-b@h", ["tok-b"]],
    ["user:pa@ss-c@h:4222", ["pa@ss-c"]],
    ["nats://u:p-d@h1,nats://v:p-e@h2", ["p-d", "p-e"]],
    ["consul://h:8500?prefix=x&token=t%2Ff&ttl=10s", ["t%2Ff", "t/f"]],
    ["nats://h:4222", []],
    ["nats://u:pw/xyz abc@h", ["pw/xyz abc", "xyz", "abc"]],
  ])("%s", (address, secrets) => {
    expect(addressSecrets(address).sort()).toEqual([...secrets].sort());
    const shown = redactedAddress(address);
    for (const secret of secrets) expect(shown).not.toContain(secret);
  });

  it("a secret's short pieces are not hidden on their own: a message stays readable", () => {
    expect(redactedAddress("nats://u:a/b@host-a:4222")).toBe("nats://u:***@host-a:4222");
  });

  it("hides a secret that holds another whole, the longer first", () => {
    expect(hideSecrets("a pass-long and pass", addressSecrets(["nats://u:pass@h", "nats://v:pass-long@h"]))).toBe("a *** and ***");
  });

  it("withoutSecrets finds a secret in a cause's field that util.inspect prints escaped (a backslash)", () => {
    const secrets = addressSecrets("nats://admin:p\\w-18@h:1");
    const cause = Object.assign(new TypeError("Invalid URL"), { input: "http://admin:p\\w-18@h:1" });
    const error = withoutSecrets(new OnexError(ErrorCode.Usage, "nats://admin:***@h:1 is no address", {}, { cause }), secrets);
    expect(inspect(error, { depth: 10 })).not.toContain("-18");
  });

  it("withoutSecrets keeps an error that says none of them as it is", () => {
    const error = new OnexError(ErrorCode.ConnectionFailed, "cannot connect", { servers: ["nats://h"] }, { cause: new Error("refused") });
    expect(withoutSecrets(error, ["s3cret"])).toBe(error);
  });
});
