/**
 * Data-plane peers as their own processes: the built `onex artifact ...` command, each with
 * its own key, NATS connection and piece server, as a deployment runs them (and as the
 * issue's findings were made). Tests that use it need `npm run build` first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exportPrivateKey, exportPublicKey, generateKeyPair, type KeyPair } from "../../runtime/trust/keys.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

/** A key pair written as `<name>.key` (0600) and `<name>.pub`. */
export interface KeyFiles {
  pair: KeyPair;
  key: string;
  pub: string;
}

export async function writeKeyFiles(dir: string, name: string): Promise<KeyFiles> {
  const pair = generateKeyPair();
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  await writeFile(key, exportPrivateKey(pair), { mode: 0o600 });
  await writeFile(pub, exportPublicKey(pair.publicKey));
  return { pair, key, pub };
}

/** A running `onex` process. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit status (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGINT, then waits for the exit. */
  stop(): Promise<number | null>;
}

/** Starts `onex ...args` in the background. */
export function startCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, "bin", "onex.js"), ...args], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      return exited;
    },
  };
}

/** Runs `onex ...args` to the end without blocking the test process (several can run at once). */
export async function runCliAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args);
  const status = await cli.exited;
  return { status, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Waits until `test` holds for the process's output, or it exits first (then throws with what it said). */
export async function waitForOutput(cli: CliProcess, test: (stdout: string, stderr: string) => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test(cli.stdout(), cli.stderr())) {
    if (cli.child.exitCode !== null) throw new Error(`onex exited with ${cli.child.exitCode} before the expected output:\n${cli.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no expected output within ${timeoutMs} ms:\n${cli.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `onex artifact publish FILE`, seeding until stopped; resolves once it seeds, with its descriptor. */
export async function publishProcess(server: string, file: string, ref: { name: string; version: string }, key: KeyFiles, zone: string, extra: string[] = []): Promise<CliProcess & { descriptor: { root_hash: string } }> {
  const cli = startCli(["artifact", "publish", file, "--name", ref.name, "--version", ref.version, "--key", key.key, "--zone", zone, "--server", server, ...(extra.includes("--piece-size") ? [] : ["--piece-size", String(1 << 16)]), ...extra]);
  await waitForOutput(cli, (_out, err) => err.includes("seeding "));
  return Object.assign(cli, { descriptor: JSON.parse(cli.stdout().trim().split("\n")[0]!) as { root_hash: string } });
}
