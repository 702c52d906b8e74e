/** Nodes with real keys, identities and signed registry entries, for the registry tests. */
import { buildFingerprint, createNodeIdentity } from "../../runtime/trust/identity.js";
import { generateKeyPair, type KeyPair } from "../../runtime/trust/keys.js";
import type { NodeIdentityRecord, RegistryEntryRecord } from "../../runtime/trust/records.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { nodeAddress } from "../../runtime/registry/address.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

export interface TestNode {
  key: KeyPair;
  identity: NodeIdentityRecord;
  entry: RegistryEntryRecord;
  address: string;
}

/** A fresh node in `zone` with a signed, passing entry. */
export function makeNode(zone = "zone.trusted.org", options: { capabilities?: string[]; status?: "passing" | "warning" | "critical"; registeredAt?: string; key?: KeyPair } = {}): TestNode {
  const key = options.key ?? generateKeyPair();
  const identity = createNodeIdentity(key, buildFingerprint("onex-test-build"), zone);
  const address = nodeAddress(zone, identity.node_id);
  const entry = signRegistryEntry(
    {
      node_id: identity.node_id,
      address,
      zone,
      health: { status: options.status ?? "passing", interval_ms: 500 },
      capabilities: options.capabilities ?? ["compute"],
      ...(options.registeredAt ? { registered_at: options.registeredAt } : {}),
    },
    key,
  );
  return { key, identity, entry, address };
}

/** The store key parts of a test node's address. */
export function partsOf(node: TestNode): { zone: string; entityType: "node"; id: string } {
  return { zone: node.entry.zone, entityType: "node", id: node.identity.node_id };
}

/** The node's entry signed again now, with changed fields. */
export function resign(node: TestNode, change: { capabilities?: string[] }): ReturnType<typeof signRegistryEntry> {
  const { signature: _s, key_id: _k, registered_at: _r, ...fields } = node.entry;
  return signRegistryEntry({ ...fields, ...change }, node.key);
}

/** Waits for the first item of an async iterator that satisfies `test`, with a deadline so a test never hangs. */
export async function nextMatching<T>(iterator: AsyncIterator<T>, test: (item: T) => boolean, timeoutMs = 15_000, seen: T[] = []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`no matching change within ${timeoutMs} ms; saw ${JSON.stringify(seen.map((s) => (s as { kind?: string; address?: string }).kind + " " + (s as { address?: string }).address))}`);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      iterator.next(),
      new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), remaining))),
    ]);
    clearTimeout(timer);
    if (result === "timeout") continue;
    if (result.done) throw new Error(`the iterator ended before a matching change; saw ${seen.length} changes`);
    seen.push(result.value);
    if (test(result.value)) return result.value;
  }
}

/** Polls `probe` until it returns true, with a deadline; for conditions that have no event to wait on. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms`);
}

/** Runs `fn` and returns the OnexError code it rejects with. */
export async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") return code;
    throw error;
  }
  throw new Error("expected a rejection");
}

/** Opens the registry `url` names, registers a fresh node and reads it back: what a registry that connected can do. */
export async function registersAndResolves(url: string): Promise<void> {
  const registry = await openRegistry(url);
  try {
    const node = makeNode();
    await registry.register(node.entry, node.identity);
    expect((await registry.resolve(node.address)).entry.signature).toBe(node.entry.signature);
  } finally {
    await registry.close();
  }
}

/**
 * Runs etcd-watch-stopped-in-outage.ts (see there) against etcd's client `port` in a process of
 * its own, and gives how that process ended and what it said: a process that stopped its watch
 * and closed its registry must exit by itself (killed after 60 s otherwise).
 */
export async function endOfStoppedWatch(port: string, mode: "pending" | "split", credentials?: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const script = fileURLToPath(new URL("./etcd-watch-stopped-in-outage.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, port, mode, ...(credentials === undefined ? [] : [credentials])], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  clearTimeout(kill);
  return { code, signal, output: output.trim() };
}
