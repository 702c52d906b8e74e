/**
 * A registry opened without `onTampered` says each refused entry with console.warn. A forged entry
 * stays in the store, and every `list` (a router's, for each task) refuses it again: it was said each
 * time, a line per forgery per list. It is said once per address and reason. Real nats-server.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { makeNode, partsOf, resign } from "./fixtures.js";
import { natsKvWriter } from "./store-writer.js";

const ZONE = "zone.trusted.org";
let nats: NatsServer;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await nats?.stop();
});

describe("the default tampering warning", () => {
  it("says a forged entry once however often it is listed, and a new reason at the address again", async () => {
    const registry = await openRegistry(`${nats.url}?bucket=warned&ttl=30s`, { logger: { warn() {} } });
    const writer = await natsKvWriter(nats.url, "warned");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const node = makeNode(ZONE);
      const other = makeNode(ZONE);
      await registry.register(node.entry, node.identity);
      await writer.put(partsOf(node), JSON.stringify({ format: 1, entry: { ...node.entry, capabilities: ["exfiltrate"] }, identity: node.identity }));
      const about = () => warn.mock.calls.filter(([line]) => String(line).includes(node.address));
      for (let i = 0; i < 3; i++) expect(await registry.list({ zone: ZONE })).toEqual([]);
      expect(about()).toHaveLength(1);
      expect(String(about()[0]![0])).toMatch(/ONEX_E_ENTRY_TAMPERED.*ONEX_E_SIGNATURE_INVALID/);
      // Another node's genuine registration copied under this address: another reason, said once more.
      await writer.put(partsOf(node), JSON.stringify({ format: 1, entry: other.entry, identity: other.identity }));
      for (let i = 0; i < 3; i++) expect(await registry.list({ zone: ZONE })).toEqual([]);
      expect(about()).toHaveLength(2);
    } finally {
      warn.mockRestore();
      await writer.close();
      await registry.close();
    }
  });

  it("says a forgery written again after the node repaired its entry, though its reason was said before", async () => {
    const registry = await openRegistry(`${nats.url}?bucket=rewarned&ttl=30s`, { logger: { warn() {} } });
    const writer = await natsKvWriter(nats.url, "rewarned");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const node = makeNode(ZONE);
      const forge = (entry: typeof node.entry) => writer.put(partsOf(node), JSON.stringify({ format: 1, entry: { ...entry, capabilities: ["exfiltrate"] }, identity: node.identity }));
      const about = () => warn.mock.calls.filter(([line]) => String(line).includes(node.address));
      await registry.register(node.entry, node.identity);
      await forge(node.entry);
      for (let i = 0; i < 3; i++) expect(await registry.list({ zone: ZONE })).toEqual([]);
      expect(about()).toHaveLength(1);
      // The node registers again and is listed; then the same forgery is written over it.
      const repaired = resign(node, { capabilities: ["compute"] });
      await registry.register(repaired, node.identity);
      expect((await registry.list({ zone: ZONE })).map((e) => e.address)).toEqual([node.address]);
      await forge(repaired);
      for (let i = 0; i < 3; i++) expect(await registry.list({ zone: ZONE })).toEqual([]);
      expect(about()).toHaveLength(2);
      expect(String(about()[1]![0])).toMatch(/ONEX_E_ENTRY_TAMPERED.*ONEX_E_SIGNATURE_INVALID/);
    } finally {
      warn.mockRestore();
      await writer.close();
      await registry.close();
    }
  });
});
