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

export interface EtcdServer {
  /** `etcd://127.0.0.1:<port>`, what openRegistry takes. */
  url: string;
  /** `http://127.0.0.1:<port>`, what the etcd3 client takes. */
  clientUrl: string;
  dataDir: string;
  process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL, keeping its data, for crash tests. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and data. */
  restart(): Promise<void>;
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
  let child: ChildProcess;
  const launch = async () => {
    child = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
    await waitForHealthy(child, clientUrl);
  };
  await launch();
  const exited = (proc: ChildProcess) => new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once("exit", () => resolve())));
  return {
    url: `etcd://127.0.0.1:${clientPort}`,
    clientUrl,
    dataDir,
    get process() {
      return child;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited(child);
    },
    async restart() {
      await launch();
    },
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited(child);
      clearTimeout(timer);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
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
