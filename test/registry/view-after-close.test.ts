/**
 * A registry view's `list` once its registry is closed, on both backends with real servers: it
 * rejects with ONEX_E_REGISTRY_UNAVAILABLE ("its registry was closed"), at once. On NATS KV it
 * did; on etcd the view's watch ended a while after close() returned, and until then `list`
 * answered from the memory of a closed registry: the entries it held (an empty list for a view
 * of an empty zone), as if they were still live.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, isOnexError, type OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryView } from "../../runtime/registry/registry-view.js";
import { bothBackends } from "./both-backends.js";
import { makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let counter = 0;
const { backends, opened, keep } = bothBackends();

async function listFailure(view: RegistryView): Promise<OnexError | string> {
  try {
    return `listed ${(await view.list()).length} entries`;
  } catch (error) {
    if (isOnexError(error)) return error;
    throw error;
  }
}

describe.each(backends)("$name: a view of a closed registry", ({ url: urlOf }) => {
  it("rejects list with ONEX_E_REGISTRY_UNAVAILABLE right after close() returns, with entries or none", async () => {
    const url = urlOf(`viewclosed${++counter}`);
    const writer = await opened(url);
    const node = makeNode(ZONE);
    await writer.register(node.entry, node.identity);
    const registry = keep(await openRegistry(url, { onTampered: () => {}, logger: { warn: () => {} } }));
    const full = await registry.view(ZONE);
    const empty = await registry.view("zone.empty.org");
    expect((await full.list()).map((e) => e.address)).toEqual([node.address]);
    expect(await empty.list()).toEqual([]);

    await registry.close();
    for (const view of [full, empty]) {
      const error = await listFailure(view);
      expect(typeof error === "string" ? error : [error.code, error.message]).toEqual([ErrorCode.RegistryUnavailable, "the registry view's watch ended: its registry was closed"]);
      // So it stays; closing the view after is no error.
      expect(typeof (await listFailure(view))).toBe("object");
      await view.close();
    }
  });

  it("a view closed before its registry is refused as closed, and the registry's close is no error to it", async () => {
    const url = urlOf(`viewclosedfirst${++counter}`);
    const registry = keep(await openRegistry(url, { onTampered: () => {}, logger: { warn: () => {} } }));
    const view = await registry.view(ZONE);
    await view.close();
    await registry.close();
    const error = await listFailure(view);
    expect(typeof error === "string" ? error : [error.code, error.message]).toEqual([ErrorCode.RegistryUnavailable, "this registry view was closed"]);
  });
});
