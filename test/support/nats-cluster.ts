/**
 * A three-node JetStream cluster on loopback for failover tests: each node a real
 * `nats-server` with its own store, client port and route port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats-server.js";

export interface ClusterNode {
  name: string;
  url: string;
  process: ChildProcess;
  kill(): Promise<void>;
}

export interface NatsCluster {
  nodes: ClusterNode[];
  urls: string[];
  stop(): Promise<void>;
}

/** Starts `size` clustered JetStream servers and waits until they have elected a meta leader. */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const root = await mkdtemp(join(tmpdir(), "onex-cluster-"));
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })));
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.route}`).join(",");
  const nodes: ClusterNode[] = [];
  for (const [i, p] of ports.entries()) {
    const name = `n${i + 1}`;
    const dir = join(root, name);
    const config = join(root, `${name}.conf`);
    await writeFile(
      config,
      `server_name: ${name}\nlisten: 127.0.0.1:${p.client}\njetstream { store_dir: "${dir}" }\ncluster { name: onex, listen: 127.0.0.1:${p.route}, routes: [${routes}] }\n`,
    );
    const child = spawn("nats-server", ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
    child.once("error", (error) => {
      throw new Error(`cannot start nats-server (is it installed? npm test installs it): ${error.message}`);
    });
    let log = "";
    child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
    const node: ClusterNode = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      process: child,
      kill: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGKILL");
        await new Promise<void>((resolve) => child.once("exit", () => resolve()));
      },
    };
    Object.defineProperty(node, "log", { get: () => log });
    nodes.push(node);
  }
  // Ready when some node reports a JetStream meta leader.
  const deadline = Date.now() + 30_000;
  while (!nodes.some((n) => /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/.test((n as unknown as { log: string }).log))) {
    if (Date.now() > deadline) throw new Error(`cluster did not elect a leader:\n${nodes.map((n) => (n as unknown as { log: string }).log).join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    async stop() {
      await Promise.all(nodes.map((n) => n.kill()));
      await rm(root, { recursive: true, force: true });
    },
  };
}
