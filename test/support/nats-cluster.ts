/**
 * A three-node JetStream cluster on loopback for failover tests: each node a real
 * `nats-server` with its own store, client port and route port. A node can be stopped (SIGTERM,
 * as an orchestrator stops it), killed (SIGKILL), started again on the same ports and store, and
 * have its store removed while it is down, as a rolling upgrade does to it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { freePort } from "./nats-server.js";

export interface ClusterNode {
  name: string;
  url: string;
  /** The running process (a new one after `start()`). */
  process: ChildProcess;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (a graceful shutdown), and waits for the exit. */
  stop(): Promise<void>;
  /** Lame duck mode (SIGUSR2, `nats-server --signal ldm`): clients are moved off over 30 s (the least nats-server takes), then the node exits; waits for the exit. */
  lameDuck(): Promise<void>;
  /** Starts the node again on its ports and store, and waits until it accepts clients. */
  start(): Promise<void>;
  /** Removes the node's store (call it while the node is down): the disk lost. */
  wipe(): Promise<void>;
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
      `server_name: ${name}\nlisten: 127.0.0.1:${p.client}\njetstream { store_dir: "${dir}" }\ncluster { name: onex, listen: 127.0.0.1:${p.route}, routes: [${routes}] }\nlame_duck_duration: "30s"\nlame_duck_grace_period: "1s"\n`,
    );
    let log = "";
    const launch = (): ChildProcess => {
      const child = spawn("nats-server", ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
      child.once("error", (error) => {
        throw new Error(`cannot start nats-server (is it installed? npm test installs it): ${error.message}`);
      });
      child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
      return child;
    };
    const ended = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
    const signal = async (child: ChildProcess, name: NodeJS.Signals) => {
      if (ended(child)) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill(name);
      await exited;
    };
    const node: ClusterNode = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      process: launch(),
      kill: () => signal(node.process, "SIGKILL"),
      stop: () => signal(node.process, "SIGTERM"),
      lameDuck: () => signal(node.process, "SIGUSR2"),
      start: async () => {
        if (!ended(node.process)) throw new Error(`${name} is still running`);
        const from = log.length;
        node.process = launch();
        const deadline = Date.now() + 30_000;
        while (!log.slice(from).includes("Server is ready")) {
          if (ended(node.process) || Date.now() > deadline) throw new Error(`${name} did not start again:\n${log.slice(from)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      wipe: async () => {
        if (!ended(node.process)) throw new Error(`${name} is still running`);
        await rm(dir, { recursive: true, force: true });
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

/** A cluster with one client connection to it, and JetStream on that connection (30 s timeouts: elections take seconds). */
export interface ClusterWithClient {
  cluster: NatsCluster;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Closes the connection, then stops the cluster. */
  stop(): Promise<void>;
}

export async function startClusterWithClient(size = 3): Promise<ClusterWithClient> {
  const cluster = await startNatsCluster(size);
  const nc = await natsConnect({ servers: cluster.urls });
  return {
    cluster,
    nc,
    js: jetstream(nc, { timeout: 30_000 }),
    jsm: await jetstreamManager(nc, { timeout: 30_000 }),
    async stop() {
      await nc.close();
      await cluster.stop();
    },
  };
}
