/**
 * `list` on etcd reads the entries, then their marks 32 to a transaction, then their leases: a
 * node that registers again between the two reads is listed with a mark newer than its entry,
 * which must send the entry to a re-read (the newer registration listed), never leave the node
 * out or report it tampered. Nodes registering again the whole time a reader lists. Real etcd.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { Registry } from "../../runtime/registry/registry.js";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { makeNode, resign } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcdServer();
});
afterAll(async () => {
  await etcd?.stop();
});

describe("etcd: list while nodes register again", () => {
  it("lists every node, none reported tampered", async () => {
    const url = `${etcd.url}?prefix=/listing${process.pid}/&ttl=5m`;
    const tampered: string[] = [];
    const writer = await openRegistry(url, { logger: { warn() {} } });
    const open: Registry[] = [writer];
    try {
      const nodes = Array.from({ length: 80 }, () => makeNode(ZONE));
      for (const node of nodes) await writer.register(node.entry, node.identity);
      let registering = true;
      const again = (async () => {
        let round = 0;
        while (registering) {
          const node = nodes[round++ % nodes.length]!;
          await writer.register(resign(node, { capabilities: ["compute", `round-${round}`] }), node.identity);
        }
      })();
      try {
        for (let i = 0; i < 6; i++) {
          // A fresh reader each time: nothing remembered, every mark read with the list.
          const reader = await openRegistry(url, { onTampered: (address) => tampered.push(address), logger: { warn() {} } });
          open.push(reader);
          const listed = await reader.list({ zone: ZONE });
          expect(listed.map((e) => e.address).sort()).toEqual(nodes.map((n) => n.address).sort());
        }
      } finally {
        registering = false;
        await again;
      }
      expect(tampered).toEqual([]);
    } finally {
      await Promise.all(open.map((r) => r.close()));
    }
  }, 120_000);
});
