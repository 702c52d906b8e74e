/**
 * Starts a real `nats-server` with JetStream for a test file: a free loopback port, a
 * temporary store folder, stopped (and the folder removed) by `stop()`. Fails loudly when
 * the binary is missing — `npm test` installs it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServerProcess, type ServerProcess } from "./server-process.js";

export interface NatsServer extends ServerProcess {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  storeDir: string;
}

export interface NatsServerOptions {
  /** Extra server config (NATS config syntax), e.g. an authorization block. */
  config?: string;
  /** Reuse this store folder instead of a fresh one. */
  storeDir?: string;
  port?: number;
  /** false: a server without JetStream, as a plain NATS deployment runs. */
  jetstream?: boolean;
}

/**
 * A free TCP port on 127.0.0.1, below the kernel's ephemeral range. A port the kernel hands
 * out (`listen(0)`) is free only until the server binds it, and in between any outgoing
 * connection of the run may take it as its local port: a run of hundreds of test files
 * opening thousands of connections lost that race ("address already in use"). Ports below
 * the range are never handed to outgoing connections, so only another test's pick can meet
 * ours: they are drawn at random, and one process never gets the same port twice.
 */
export async function freePort(): Promise<number> {
  const [low, high] = PORTS_BELOW_EPHEMERAL;
  for (let tries = 0; tries < 1_000; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found between ${low} and ${high} in 1,000 tries`);
}

const handedOut = new Set<number>();

/** 10000 up to the start of the ephemeral range (Linux: `ip_local_port_range`, 32768 by default). */
const PORTS_BELOW_EPHEMERAL: [number, number] = (() => {
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: the default range's start
  }
  if (ephemeralLow <= 11_000) throw new Error(`the ephemeral port range starts at ${ephemeralLow}: test servers need ports below it`);
  return [10_000, ephemeralLow];
})();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Starts `nats-server -js` (or, asked to, without JetStream) on loopback and waits until it accepts connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "onex-nats-")));
  const port = options.port ?? (await freePort());
  const configFile = join(storeDir, "server.conf");
  await writeFile(configFile, options.config ?? "");

  const launch = async () => {
    const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), ...(options.jetstream === false ? [] : ["-js", "-sd", storeDir]), "-c", configFile], { stdio: ["ignore", "ignore", "pipe"] });
    await waitForReady(child);
    return child;
  };
  const lifecycle = await startServerProcess(launch, async () => {
    if (!options.storeDir) await rm(storeDir, { recursive: true, force: true });
  });
  return Object.assign(lifecycle, { url: `nats://127.0.0.1:${port}`, port, storeDir });
}

function waitForReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = "";
    const fail = (message: string) => {
      clearTimeout(timer);
      child.off("exit", onExit);
      reject(new Error(message));
    };
    const onExit = (code: number | null) => fail(`nats-server exited with ${code} before it was ready:\n${log}`);
    const timer = setTimeout(() => fail(`nats-server did not start within 10 s:\n${log}`), 10_000);
    child.once("error", (error) => fail(`cannot start nats-server (is it installed? npm test installs it): ${error.message}`));
    child.once("exit", onExit);
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Server is ready")) {
        clearTimeout(timer);
        child.off("exit", onExit);
        resolve();
      }
    });
  });
}
