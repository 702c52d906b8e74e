/**
 * A registry's `zones` (openRegistry's option, and TrustedRegistry's as one builds it on a store)
 * are exact zone ids; `*` is no pattern, and leaving `zones` out serves every zone. A zone no
 * message can name (`Zone.A`, `*`) matches no entry: beside a zone id it was taken and served
 * nothing, and alone it had strict `zone_match` refuse every registration, only once a node came
 * to register. Each is refused as the registry is made, with ONEX_E_USAGE naming the option and
 * the rule.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openRegistry, openStore, parseRegistryUrl } from "../../runtime/registry/open-registry.js";
import type { Registry, RegistryStore } from "../../runtime/registry/registry.js";
import { TrustedRegistry } from "../../runtime/registry/trusted-registry.js";
import { ZONE_ID_RULE } from "../../runtime/zone-id.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { makeNode } from "./fixtures.js";

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

/** The refusal making the registry met, or (made) what a node of zone.a then met as it registered; the registry and its store are closed after. */
async function outcome(make: (store: RegistryStore) => Promise<Registry> | Registry): Promise<string | [string, string]> {
  const store = await openStore(parseRegistryUrl(server.url));
  let registry: Registry;
  try {
    registry = await make(store);
  } catch (error) {
    await store.close();
    return [(error as OnexError).code, (error as Error).message];
  }
  const node = makeNode("zone.a");
  try {
    return await registry.register(node.entry, node.identity).then(
      () => "registered",
      (error: OnexError) => error.code,
    );
  } finally {
    await registry.close();
    await store.close();
  }
}

const NOT_ZONES = ["Zone.A", "*", "zone_a", "zone..a", ""];

describe("a registry's zones", () => {
  it.each(NOT_ZONES)("openRegistry refuses %j among them with ONEX_E_USAGE, naming the option and the rule", async (zone) => {
    const refused = await outcome(() => openRegistry(server.url, { zones: ["zone.a", zone] }));
    expect(refused).toEqual([ErrorCode.Usage, expect.stringContaining(`openRegistry: zones[1]${zone === "*" ? " (to serve every zone, leave zones out)" : ""}: zone ${JSON.stringify(zone)} is no zone a message can name: a zone id is ${ZONE_ID_RULE}`)]);
  });

  it.each(NOT_ZONES)("a TrustedRegistry made on a store refuses %j among them the same way", async (zone) => {
    expect(await outcome((store) => new TrustedRegistry(store, { zones: ["zone.a", zone] }))).toEqual([ErrorCode.Usage, expect.stringContaining(`zone ${JSON.stringify(zone)} is no zone a message can name`)]);
  });

  it("of zone ids are taken, and serve their zones alone", async () => {
    expect(await outcome(() => openRegistry(server.url, { zones: ["zone.a"] }))).toBe("registered");
    expect(await outcome(() => openRegistry(server.url, { zones: ["zone.b"] }))).toBe(ErrorCode.ZoneMismatch);
    expect(await outcome(() => openRegistry(server.url))).toBe("registered");
  });
});

describe("a zone a registry is asked to read", () => {
  it.each(["Zone.A", "zone_a", "*", ""])("%j is refused by list, watch and view with ONEX_E_USAGE, naming the call and the rule", async (zone) => {
    const registry = await openRegistry(server.url);
    const node = makeNode("zone.a");
    await registry.register(node.entry, node.identity);
    const refusal = async (run: () => unknown) => {
      try {
        await run();
        return "taken";
      } catch (error) {
        return [(error as OnexError).code, (error as Error).message];
      }
    };
    const given = `zone ${JSON.stringify(zone)} is no zone a message can name: a zone id is ${ZONE_ID_RULE}`;
    try {
      // Each was taken: an empty list, a watch (a health watcher's) silent for good, and "" read as no zone, every zone's entries.
      expect(await refusal(() => registry.list({ zone }))).toEqual([ErrorCode.Usage, `list: filter.zone: ${given}`]);
      expect(await refusal(() => registry.watch({ zone }))).toEqual([ErrorCode.Usage, `watch: filter.zone: ${given}`]);
      expect(await refusal(() => registry.view(zone))).toEqual([ErrorCode.Usage, `view: zone: ${given}`]);
      // A view's list, which answers from memory, as the registry's does: a view of every zone listed
      // nothing for such a zone, and a view of one zone called it a zone mismatch.
      for (const view of [await registry.view(), await registry.view("zone.a")]) {
        expect(await refusal(() => view.list({ zone }))).toEqual([ErrorCode.Usage, `RegistryView.list: filter.zone: ${given}`]);
        // Refused each time, not only the first: a refused zone is not remembered as checked.
        expect(await refusal(() => view.list({ zone }))).toEqual([ErrorCode.Usage, `RegistryView.list: filter.zone: ${given}`]);
        expect((await view.list({ zone: "zone.a" })).map((entry) => entry.address)).toContain(node.entry.address);
        await view.close();
      }
      expect((await registry.list({ zone: "zone.a" })).map((entry) => entry.address)).toContain(node.entry.address);
    } finally {
      await registry.close();
    }
  });
});
