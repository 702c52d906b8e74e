/**
 * TLS to a nats-server that verifies its clients (`tls { verify: true }`), from PEM files:
 * `connect({ tls: { caFile, certFile, keyFile } })` and the CLI's --tls-ca, --tls-cert and
 * --tls-key (NATS_CA, NATS_CERT, NATS_KEY). Before, neither took a client certificate, so no
 * onex client could talk to such a server. The attacker's side: a client with no certificate,
 * with one another CA signed, or that does not trust the server's CA, is refused. The
 * certificates are test/support/tls's.
 */
import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { connect } from "../../runtime/jetstream/client.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { onex, scratch } from "../cli/cli-harness.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { registersAndResolves } from "../registry/fixtures.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";

const tlsDir = join(import.meta.dirname, "../support/tls");
const file = (name: string) => join(tlsDir, name);
const { dir, remove } = scratch("tls");
let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer({ config: `tls { cert_file: "${file("server.pem")}", key_file: "${file("server-key.pem")}", ca_file: "${file("ca.pem")}", verify: true }` });
});
afterAll(async () => {
  await server?.stop();
  remove();
});

const identity = generateKeyPair();
const options = (tls: unknown) => ({ servers: server.url, identity, keys: keyRing([identity.publicKey]), tls }) as Parameters<typeof connect>[0];

describe("connect over TLS", () => {
  it("with the CA and a client certificate the server's CA signed, it connects, over TLS", async () => {
    const client = await connect(options({ caFile: file("ca.pem"), certFile: file("client.pem"), keyFile: file("client-key.pem") }));
    try {
      await client.nc.flush();
      expect(client.nc.info?.tls_required).toBe(true);
    } finally {
      await client.close();
    }
  });

  it("with paths relative to the working folder, it reconnects after the service changed folders (nats.js reads the files again at each reconnect)", async () => {
    const before = process.cwd();
    process.chdir(tlsDir);
    let client: Awaited<ReturnType<typeof connect>> | undefined;
    try {
      client = await connect(options({ caFile: "ca.pem", certFile: "client.pem", keyFile: "client-key.pem" }));
      process.chdir(dir);
      const reconnected = (async () => {
        for await (const status of client!.nc.status()) if (status.type === "reconnect") return true;
        return false;
      })();
      await server.kill();
      await server.restart();
      const gaveUp = new Promise<false>((resolve) => setTimeout(() => resolve(false), 15_000).unref());
      expect(await Promise.race([reconnected, gaveUp])).toBe(true);
      await client.nc.flush();
    } finally {
      process.chdir(before);
      await client?.close();
    }
  });

  it.each([
    ["a file that does not exist", { caFile: file("missing.pem") }, ErrorCode.FileNotFound, /tls\.caFile: cannot read/],
    ["a folder", { caFile: tlsDir }, ErrorCode.FileUnreadable, /tls\.caFile: cannot read/],
    ["a certificate without its key", { caFile: file("ca.pem"), certFile: file("client.pem") }, ErrorCode.Usage, /certFile and tls\.keyFile together/],
    ["a field it does not know", { ca: file("ca.pem") }, ErrorCode.Usage, /not ca/],
    ["no object", file("ca.pem"), ErrorCode.Usage, /tls must be/],
    ["a path that is no string", { caFile: 5 }, ErrorCode.Usage, /tls\.caFile must be the path/],
  ])("%s is %s, before anything connects", async (_name, tls, code, why) => {
    const error = await connect(options(tls)).then(
      async (client) => {
        await client.close();
        return undefined;
      },
      (error: { code?: string; message?: string }) => error,
    );
    expect(error?.code).toBe(code);
    expect(error?.message).toMatch(why);
  });
});

describe("the CLI over TLS", () => {
  const tlsFlags = ["--tls-ca", file("ca.pem"), "--tls-cert", file("client.pem"), "--tls-key", file("client-key.pem")];

  it("with the CA and a client certificate it reaches JetStream (no dead-letter stream yet: exit 3)", () => {
    const run = onex(dir, ["dlq", "list", "--server", server.url, ...tlsFlags]);
    expect(run.stderr).toContain("ONEX_E_NO_STREAM");
    expect(run.code).toBe(3);
  });

  it("the same from the environment (NATS_CA, NATS_CERT, NATS_KEY)", () => {
    const run = onex(dir, ["dlq", "list", "--server", server.url], undefined, { NATS_CA: file("ca.pem"), NATS_CERT: file("client.pem"), NATS_KEY: file("client-key.pem") });
    expect(run.stderr).toContain("ONEX_E_NO_STREAM");
  });

  it.each([
    // The server refuses the client's certificate by closing the handshake, which nats.js reports as a timeout: the message says what that can mean.
    ["no client certificate", ["--tls-ca", file("ca.pem")], "timeout (no answer in time; a server that verifies TLS clients ends the connection this way too"],
    ["a client certificate another CA signed", ["--tls-ca", file("ca.pem"), "--tls-cert", file("stranger.pem"), "--tls-key", file("stranger-key.pem")], "certificate is missing or not one it trusts"],
    ["a client that does not trust the server's CA", ["--tls-cert", file("client.pem"), "--tls-key", file("client-key.pem")], "unable to verify the first certificate"],
  ])("%s: refused (ONEX_E_CONNECTION, exit 69)", (_name, flags, why) => {
    const run = onex(dir, ["dlq", "list", "--server", server.url, ...flags]);
    expect(run.stderr).toContain("ONEX_E_CONNECTION");
    expect(run.stderr).toContain(why);
    expect(run.code).toBe(69);
  });

  it("a client key other users can read is warned of (only warned: orchestrators mount secrets 0644), one only its owner reads is not", () => {
    for (const mode of [0o644, 0o600]) {
      const key = join(dir, `client-key-${mode.toString(8)}.pem`);
      copyFileSync(file("client-key.pem"), key);
      chmodSync(key, mode);
      const run = onex(dir, ["dlq", "list", "--server", server.url, "--tls-ca", file("ca.pem"), "--tls-cert", file("client.pem"), "--tls-key", key]);
      expect(run.stderr).toContain("ONEX_E_NO_STREAM");
      const warning = `warning: --tls-key ${key} is a private key other users can read (mode 0644); run \`chmod 600 ${key}\``;
      if (mode === 0o644) expect(run.stderr).toContain(warning);
      else expect(run.stderr).not.toContain("warning");
    }
  });

  it("--tls-cert without --tls-key is a usage error naming both flags", () => {
    const run = onex(dir, ["dlq", "list", "--server", server.url, "--tls-cert", file("client.pem")]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("give --tls-cert and --tls-key together");
  });
});

describe("a NATS KV registry over TLS (?tls_ca=&tls_cert=&tls_key=)", () => {
  const host = () => server.url.replace(/^nats:\/\//, "");
  const files = `tls_ca=${encodeURIComponent(file("ca.pem"))}&tls_cert=${encodeURIComponent(file("client.pem"))}&tls_key=${encodeURIComponent(file("client-key.pem"))}`;

  it("with the CA and a client certificate, it registers and resolves", async () => {
    await registersAndResolves(`nats://${host()}?bucket=tls_reg&${files}`);
  });

  it.each([
    ["without a client certificate, the server refuses it (ONEX_E_REGISTRY_UNAVAILABLE)", () => `nats://${host()}?bucket=tls_none&tls_ca=${encodeURIComponent(file("ca.pem"))}`, ErrorCode.RegistryUnavailable],
    ["a file that cannot be read is ONEX_E_REGISTRY_URL, before anything connects", () => `nats://${host()}?bucket=tls_missing&tls_ca=${encodeURIComponent(file("missing.pem"))}`, ErrorCode.RegistryUrl],
    ["TLS files on a Consul URL are ONEX_E_REGISTRY_URL (Consul is reached over plain HTTP)", () => `consul://127.0.0.1:8500?tls_ca=${encodeURIComponent(file("ca.pem"))}`, ErrorCode.RegistryUrl],
  ])("%s", async (_name, url, code) => {
    const error = await openRegistry(url()).then(
      async (registry) => {
        await registry.close();
        return undefined;
      },
      (error: { code?: string }) => error,
    );
    expect(error?.code).toBe(code);
  });
});

describe("an etcd registry over TLS, to an etcd that verifies its clients (--client-cert-auth)", () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcdServer({ tls: { certFile: file("server.pem"), keyFile: file("server-key.pem"), caFile: file("ca.pem"), client: { certFile: file("client.pem"), keyFile: file("client-key.pem") } } });
  });
  afterAll(async () => {
    await etcd?.stop();
  });
  const host = () => etcd.clientUrl.replace(/^https:\/\//, "");

  it("with the CA and a client certificate, it registers and resolves", async () => {
    await registersAndResolves(`etcd://${host()}?prefix=/tls/&tls_ca=${encodeURIComponent(file("ca.pem"))}&tls_cert=${encodeURIComponent(file("client.pem"))}&tls_key=${encodeURIComponent(file("client-key.pem"))}`);
  });

  it.each([
    ["a certificate another CA signed", `tls_ca=${encodeURIComponent(file("ca.pem"))}&tls_cert=${encodeURIComponent(file("stranger.pem"))}&tls_key=${encodeURIComponent(file("stranger-key.pem"))}`],
    ["no TLS at all", ""],
  ])("%s: refused (ONEX_E_REGISTRY_UNAVAILABLE)", async (_name, params) => {
    const error = await openRegistry(`etcd://${host()}?prefix=/tls-refused/&${params}`).then(
      async (registry) => {
        try {
          await registry.list();
          return undefined;
        } catch (error) {
          return error as { code?: string };
        } finally {
          await registry.close();
        }
      },
      (error: { code?: string }) => error,
    );
    expect(error?.code).toBe(ErrorCode.RegistryUnavailable);
  });

  it("TLS without the CA is ONEX_E_REGISTRY_URL (etcd's client needs it named)", async () => {
    await expect(openRegistry(`etcd://${host()}?tls_cert=${encodeURIComponent(file("client.pem"))}&tls_key=${encodeURIComponent(file("client-key.pem"))}`)).rejects.toMatchObject({ code: ErrorCode.RegistryUrl });
  });
});
