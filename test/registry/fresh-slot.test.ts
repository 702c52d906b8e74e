/**
 * A registry reads an address whose entry it found fresh (checked against its mark) without the
 * mark, until the entry's revision moves. Two reads of one address can interleave: the one that
 * finishes last must not mark fresh a revision it did not check. Reads of the mark are held here
 * and released by hand, on a store in memory, so the interleaving is exact.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import type { CanonicalAddress } from "../../runtime/registry/address.js";
import type { RegistryStore, StoreChange, StoredMark, StoredSlot, StoredValue, WrittenRevisions } from "../../runtime/registry/registry.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { makeNode, type TestNode } from "./fixtures.js";

/** One address's entry and mark in memory; `getMark` answers with the mark as asked, when released. */
class HeldMarkStore implements RegistryStore {
  readonly kind = "memory";
  readonly ttlMs = 60_000;
  entry: StoredValue | undefined;
  mark: StoredMark | undefined;
  holding = false;
  readonly held: (() => void)[] = [];
  #revision = 0;

  async get(): Promise<StoredValue | undefined> {
    return this.entry;
  }
  async read(): Promise<StoredSlot> {
    return { ...(this.entry ? { stored: this.entry } : {}), revision: this.entry?.revision ?? "", ...(this.mark ? { mark: this.mark } : {}) };
  }
  getMark(): Promise<StoredMark | undefined> {
    const asked = this.mark;
    if (!this.holding) return Promise.resolve(asked);
    return new Promise((resolve) => this.held.push(() => resolve(asked)));
  }
  /** A write as a store writer makes it, going around any check. */
  put(key: CanonicalAddress, value: string, slot: "entry" | "mark"): string {
    const revision = String(++this.#revision);
    if (slot === "mark") this.mark = { value, revision };
    else this.entry = { key, value, revision, updatedAt: new Date() };
    return revision;
  }
  async write(key: CanonicalAddress, value: string, expected: { revision: string; mark: string }, writeMark: boolean): Promise<WrittenRevisions | undefined> {
    if (expected.revision !== (this.entry?.revision ?? "") || expected.mark !== (this.mark?.revision ?? "")) return undefined;
    const markRevision = writeMark ? this.put(key, value, "mark") : undefined;
    return { revision: this.put(key, value, "entry"), ...(markRevision ? { markRevision } : {}) };
  }
  async heartbeat(): Promise<boolean> {
    return false;
  }
  async delete(): Promise<boolean> {
    return false;
  }
  async list(): Promise<StoredValue[]> {
    return this.entry ? [this.entry] : [];
  }
  async *watch(): AsyncIterable<StoreChange> {
    throw new Error("not watched here");
  }
  async close(): Promise<void> {}
}

const ZONE = "zone.trusted.org";
const stored = (node: TestNode, registeredAt: string) => {
  const { signature: _s, key_id: _k, registered_at: _r, ...fields } = node.entry;
  return JSON.stringify({ format: 1, entry: signRegistryEntry({ ...fields, registered_at: registeredAt }, node.key), identity: node.identity });
};
const ago = (seconds: number) => new Date(Date.now() - seconds * 1_000).toISOString();

describe("a fresh entry's slot", () => {
  it("is marked fresh only at the revision whose mark was checked: a read that ends after a newer revision was read leaves that one unchecked", async () => {
    const store = new HeldMarkStore();
    const registry = new TrustedRegistry(store, { onTampered: () => undefined, logger: { warn() {} } });
    const node = makeNode(ZONE, { registeredAt: ago(60) });
    const key = { zone: ZONE, entityType: "node" as const, id: node.identity.node_id };
    await registry.register(node.entry, node.identity);

    // The entry's revision moves with the same bytes (a heartbeat's rewrite): read A checks the mark again, and waits for it.
    store.put(key, store.entry!.value, "entry");
    store.holding = true;
    const a = registry.resolve(node.address);
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.held).toHaveLength(1);

    // Meanwhile the node registers again (the mark moves on) and a store writer puts an older registration of it in as the entry.
    store.put(key, stored(node, ago(10)), "mark");
    store.put(key, stored(node, ago(30)), "entry");
    const b = (await registry.resolve(node.address).catch((e: unknown) => e)) as OnexError;
    expect(b).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });

    // A's mark, as it was when A asked, passes A's entry; the newer revision is still unchecked.
    store.held.shift()!();
    expect((await a).entry.registered_at).toBe(node.entry.registered_at);
    store.holding = false;
    const c = (await registry.resolve(node.address).catch((e: unknown) => e)) as OnexError;
    expect(c).toMatchObject({ code: ErrorCode.EntryTampered, details: { cause: ErrorCode.Replay } });
  });
});
