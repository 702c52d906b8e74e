/**
 * Registry.distrust as a running router sees it: the router lists candidates from a view, on
 * every route, and a view's list answers from memory. Distrust is synchronous and says the
 * retired key's node leaves every view at once; a route made right after it (no await in
 * between but the list's own) must not be offered the thief's node. Run on both backends with
 * real servers.
 */
import { describe, expect, it } from "vitest";
import { bothBackends } from "./both-backends.js";
import { makeNode } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let counter = 0;
const { backends, opened } = bothBackends();


describe.each(backends)("$name: distrust and an open view", ({ url: urlOf }) => {
  it("a view lists no entry signed with a key from the moment distrust returns", async () => {
    const url = urlOf(`distrustview${++counter}`);
    const stolen = makeNode(ZONE);
    const honest = makeNode(ZONE);
    const writer = await opened(url);
    await writer.register(stolen.entry, stolen.identity);
    await writer.register(honest.entry, honest.identity);

    const reader = await opened(url);
    const view = await reader.view(ZONE);
    expect((await view.list()).map((e) => e.address).sort()).toEqual([stolen.address, honest.address].sort());

    expect(reader.distrust(stolen.key.keyId)).toBe(true);
    // What a router's next route lists: the view's memory, read right after distrust returned.
    expect((await view.list()).map((e) => e.address)).toEqual([honest.address]);
    expect((await view.list({ capability: "compute" })).map((e) => e.address)).toEqual([honest.address]);
    await view.close();
  });

});
