/**
 * Starts a real `etcd` for a test file: free loopback client and peer ports, a temporary
 * data folder, stopped (and the folder removed) by `stop()`. Fails loudly when the binary
 * is missing — `npm test` installs it (Debian `etcd-server`).
 */
import { spawn, type ChildProcess } from "node:child_process";
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

/** Starts a single-member etcd on loopback and waits until it is healthy. */
export async function startEtcdServer(): Promise<EtcdServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "onex-etcd-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
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
  ];
  const launch = async () => {
    const child = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
    await waitForHealthy(child, clientUrl);
    return child;
  };
  const lifecycle = await startServerProcess(launch, () => rm(dataDir, { recursive: true, force: true }));
  return Object.assign(lifecycle, { url: `etcd://127.0.0.1:${clientPort}`, clientUrl, dataDir });
}

async function waitForHealthy(child: ChildProcess, clientUrl: string): Promise<void> {
  let log = "";
  let failure: string | undefined;
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.once("error", (error) => (failure = `cannot start etcd (is it installed? npm test installs etcd-server): ${error.message}`));
  child.once("exit", (code) => (failure ??= `etcd exited with ${code} before it was healthy:\n${log}`));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (failure) throw new Error(failure);
    try {
      const response = await fetch(`${clientUrl}/health`);
      if (response.ok && ((await response.json()) as { health?: string }).health === "true") return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`etcd did not become healthy within 15 s:\n${log}`);
}
