/**
 * Starts a real `etcd` for a test file: free loopback client and peer ports, a temporary
 * data folder, stopped (and the folder removed) by `stop()`. Fails loudly when the binary
 * is missing — `npm test` installs it (Debian `etcd-server`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import https from "node:https";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats-server.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

export interface EtcdServer extends ServerProcess {
  /** `etcd://127.0.0.1:<port>`, what openRegistry takes. */
  url: string;
  /** `http://127.0.0.1:<port>`, what the etcd3 client takes. */
  clientUrl: string;
  dataDir: string;
}

/** PEM files for an etcd that serves TLS and verifies its clients' certificates (`--client-cert-auth`), and a client's, to see it is healthy. */
export interface EtcdTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  client: { certFile: string; keyFile: string };
}

/** Starts a single-member etcd on loopback and waits until it is healthy; with `tls`, its clients reach it over TLS with a certificate `tls.caFile` signed. */
export async function startEtcdServer(options: { tls?: EtcdTls } = {}): Promise<EtcdServer> {
  const { tls } = options;
  const dataDir = await mkdtemp(join(tmpdir(), "onex-etcd-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `${tls === undefined ? "http" : "https"}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name", "onex-test",
    "--data-dir", dataDir,
    "--listen-client-urls", clientUrl,
    "--advertise-client-urls", clientUrl,
    "--listen-peer-urls", peerUrl,
    "--initial-advertise-peer-urls", peerUrl,
    "--initial-cluster", `onex-test=${peerUrl}`,
    "--initial-cluster-state", "new",
    "--log-level", "error",
    ...(tls === undefined ? [] : ["--cert-file", tls.certFile, "--key-file", tls.keyFile, "--trusted-ca-file", tls.caFile, "--client-cert-auth"]),
  ];
  const launch = async () => {
    const child = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
    await waitForHealthy(child, clientUrl, tls);
    return child;
  };
  const lifecycle = await startServerProcess(launch, () => rm(dataDir, { recursive: true, force: true }));
  return Object.assign(lifecycle, { url: `etcd://127.0.0.1:${clientPort}`, clientUrl, dataDir });
}

/** Waits until the etcd `child` answers healthy at `clientUrl` (it has a leader); fails with its log when it exits or takes over 15 s. */
export async function waitForHealthy(child: ChildProcess, clientUrl: string, tls?: EtcdTls): Promise<void> {
  let log = "";
  let failure: string | undefined;
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.once("error", (error) => (failure = `cannot start etcd (is it installed? npm test installs etcd-server): ${error.message}`));
  child.once("exit", (code) => (failure ??= `etcd exited with ${code} before it was healthy:\n${log}`));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (failure) throw new Error(failure);
    try {
      const health = tls === undefined ? await (await fetch(`${clientUrl}/health`)).text() : await healthOverTls(`${clientUrl}/health`, tls);
      if ((JSON.parse(health) as { health?: string }).health === "true") return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`etcd did not become healthy within 15 s:\n${log}`);
}

/** etcd's /health over TLS, with the client certificate it verifies (fetch takes none). */
function healthOverTls(url: string, tls: EtcdTls): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca: readFileSync(tls.caFile), cert: readFileSync(tls.client.certFile), key: readFileSync(tls.client.keyFile) }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve(body));
    });
    request.on("error", reject);
  });
}
