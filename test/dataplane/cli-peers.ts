/**
 * Data-plane peers as their own processes: the built `onex artifact ...` command, each with
 * its own key, NATS connection and piece server, as a deployment runs them (and as the
 * issue's findings were made). Tests that use it need `npm run build` first.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exportPrivateKey, exportPublicKey, generateKeyPair, type KeyPair } from "../../runtime/trust/keys.js";
import { startCli, waitForOutput, type CliProcess } from "../support/cli-process.js";

export { runCliAsync, startCli, waitForOutput, type CliProcess } from "../support/cli-process.js";

/** A key pair written as `<name>.key` (0600) and `<name>.pub`. */
/** The SHA-256 (hex) of a file's bytes: what a fetch must reproduce. */
export async function sha256File(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

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

/**
 * `onex ...args` in the background (`startCli`), with options for node itself before the
 * script (bench:artifact passes `--cpu-prof` this way: Node refuses it in NODE_OPTIONS).
 */
export function startPeer(args: string[], nodeArgs: readonly string[] = []): CliProcess {
  return startCli(args, { nodeArgs });
}

/** `onex artifact publish FILE`, seeding until stopped; resolves once it seeds, with its descriptor. */
export async function publishProcess(server: string, file: string, ref: { name: string; version: string }, key: KeyFiles, zone: string, extra: string[] = [], nodeArgs: readonly string[] = []): Promise<CliProcess & { descriptor: { root_hash: string } }> {
  const cli = startPeer(["artifact", "publish", file, "--name", ref.name, "--version", ref.version, "--key", key.key, "--zone", zone, "--server", server, ...(extra.includes("--piece-size") ? [] : ["--piece-size", String(1 << 16)]), ...extra], nodeArgs);
  // The descriptor (a line of stdout) and the notice (stderr) come through separate pipes: a large
  // descriptor can still be arriving when the notice is read.
  await waitForOutput(cli, (out, err) => err.includes("seeding ") && out.includes("\n"));
  return Object.assign(cli, { descriptor: JSON.parse(cli.stdout().trim().split("\n")[0]!) as { root_hash: string } });
}
