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
 * the range are never handed to outgoing connections. They are drawn at random in this
 * process's lane (its vitest worker number modulo LANES is the port's offset from 10000
 * modulo LANES), so two workers never draw the same one, and one process never gets the same
 * port twice. A host whose ephemeral
 * range leaves too few ports below it gets ports from the kernel, as before.
 */
export async function freePort(): Promise<number> {
  if (BELOW_EPHEMERAL === undefined) return kernelPort();
  const [low, high] = BELOW_EPHEMERAL;
  const lane = Number(process.env.VITEST_POOL_ID ?? 0) % LANES;
  for (let tries = 0; tries < 1_000; tries++) {
    const port = low + lane + LANES * Math.floor((Math.random() * (high - low - lane)) / LANES);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found between ${low} and ${high} in 1,000 tries`);
}

const LANES = 16;
const handedOut = new Set<number>();

/** 10000 up to the start of the ephemeral range (Linux: `ip_local_port_range`, 32768 by default); undefined when that leaves fewer than 1,000 ports. */
const BELOW_EPHEMERAL: [number, number] | undefined = (() => {
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: the default range's start
  }
  return ephemeralLow > 11_000 ? [10_000, ephemeralLow] : undefined;
})();

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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
