/**
 * Registry.distrust called while a read is under way. A read verifies an entry, then waits for
 * its high-water mark (a round trip on NATS KV); a key retired during that wait must still keep
 * the entry out of what the read hands back: distrust says no read hands out what the key signed
 * from the moment it returns. Each round a fresh reader (one with nothing remembered fresh, whose
 * reads all ask for marks) lists while distrust is called a little later each time, so that some
 * calls land in the wait. Real NATS server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let nats: NatsServer;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

function opened(url: string): Promise<Registry> {
  return openRegistry(url, { onTampered: () => {}, logger: { warn: () => {} } });
}

describe("NATS KV: distrust while a list is reading marks", () => {
  it("no list that settles after distrust returned holds an entry signed with the key", async () => {
    const url = `${nats.url}?bucket=inflight&ttl=60s`;
    const writer = await opened(url);
    const nodes = Array.from({ length: 12 }, () => makeNode(ZONE));
    for (const node of nodes) await writer.register(node.entry, node.identity);
    const leaked: string[] = [];
    try {
      for (let round = 0; round < 20; round++) {
        const reader = await opened(url);
        try {
          // The keys retired one a turn of the event loop, all the while the list runs: some are
          // retired while the list waits for the mark of an entry the key signed.
          const retired = new Set<string>();
          let settled = false;
          const listing = reader.list({ zone: ZONE }).finally(() => (settled = true));
          for (let turn = 0; turn < round % 4; turn++) await new Promise((resolve) => setImmediate(resolve));
          for (const node of [...nodes].reverse()) {
            if (settled) break;
            reader.distrust(node.key.keyId);
            retired.add(node.key.keyId);
            await new Promise((resolve) => setImmediate(resolve));
          }
          const entries = await listing;
          for (const e of entries) if (retired.has(e.key.keyId)) leaked.push(`round ${round}: ${e.address}`);
        } finally {
          await reader.close();
        }
      }
    } finally {
      await writer.close();
    }
    expect(leaked).toEqual([]);
  }, 120_000);

  it("no watch reports a registration signed with the key once distrust returned", async () => {
    const url = `${nats.url}?bucket=inflightwatch&ttl=60s`;
    const writer = await opened(url);
    const nodes = Array.from({ length: 12 }, () => makeNode(ZONE));
    for (const node of nodes) await writer.register(node.entry, node.identity);
    const leaked: string[] = [];
    try {
      for (let round = 0; round < 20; round++) {
        const reader = await opened(url);
        try {
          const retired = new Set<string>();
          let synced = false;
          let told!: () => void;
          const firstState = new Promise<void>((resolve) => (told = resolve));
          const watch = reader.watch({ zone: ZONE }, { onSynced: () => ((synced = true), told()) });
          // Pulled all the while: a change is taken in the turn it is reported.
          const following = (async () => {
            for await (const change of watch) {
              if (change.kind === "registered" && retired.has(change.entry.key.keyId)) leaked.push(`round ${round}: ${change.address}`);
            }
          })();
          for (let turn = 0; turn < round % 4; turn++) await new Promise((resolve) => setImmediate(resolve));
          for (const node of [...nodes].reverse()) {
            if (synced) break;
            reader.distrust(node.key.keyId);
            retired.add(node.key.keyId);
            await new Promise((resolve) => setImmediate(resolve));
          }
          // Its first state is reported by the time it is told (onSynced): all of it was taken.
          await firstState;
          await watch.return?.();
          await following;
        } finally {
          await reader.close();
        }
      }
    } finally {
      await writer.close();
    }
    expect(leaked).toEqual([]);
  }, 120_000);
});
