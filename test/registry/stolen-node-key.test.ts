/**
 * A node's private key is stolen. The operator follows security.md's rotation: a new key, a new
 * identity and registration, the old address deregistered, and the old key retired in every
 * registry reader (`openRegistry(url, { retiredKeys })`). The thief, holding the old key, then
 * registers the old node again with a fresh entry, as a registration is self-certifying: with
 * no retired keys every reader took it (the router listed it, `keyFor` handed out the stolen
 * key, a health watcher announced it). Run on both CI backends with real servers.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import type { RegistryChange } from "../../runtime/registry/registry.js";
import { signRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { bothBackends } from "./both-backends.js";
import { codeOf, eventually, makeNode, nextMatching } from "./fixtures.js";

const ZONE = "zone.trusted.org";
let counter = 0;
const { backends, opened, keep } = bothBackends();


describe.each(backends)("$name: a stolen node key, retired", ({ url: urlOf }) => {
  it("the thief's fresh registration of the old node is refused by every reader told of the retired key, and by its register", async () => {
    const url = urlOf(`stolen${++counter}`);
    const old = makeNode(ZONE, { registeredAt: new Date(Date.now() - 60_000).toISOString() });
    const operator = await opened(url);
    await operator.register(old.entry, old.identity);

    // Rotation: a new key and identity, registered; the old address deregistered.
    const rotated = makeNode(ZONE);
    await operator.register(rotated.entry, rotated.identity);
    await operator.deregister(old.address);

    // The thief registers the old node again, newer than its mark, through a registry of its own.
    const { signature: _s, key_id: _k, registered_at: _r, ...fields } = old.entry;
    const stolen = signRegistryEntry({ ...fields, capabilities: ["compute", "exfiltrate"] }, old.key);
    const thief = await opened(url);
    await thief.register(stolen, old.identity);

    const reader = await opened(url, [old.key.keyId]);
    const watch = reader.watch({ zone: ZONE });
    const changes: RegistryChange[] = [];
    const refused = await nextMatching(watch, (c) => c.kind === "tampered" && c.address === old.address, 15_000, changes);
    expect(refused.kind === "tampered" && refused.error.details.cause).toBe(ErrorCode.SignerUnknown);
    expect(changes.some((c) => c.kind === "registered" && c.address === old.address)).toBe(false);
    await watch.return?.();

    // Twice: the second read finds the bytes' verdict remembered, and is refused all the same.
    for (let i = 0; i < 2; i++) {
      const error = await reader.resolve(old.address).then(
        () => undefined,
        (e: unknown) => e as OnexError,
      );
      expect(error?.code).toBe(ErrorCode.EntryTampered);
      expect(error?.details.cause).toBe(ErrorCode.SignerUnknown);
    }
    expect(await codeOf(() => reader.keyFor(old.address))).toBe(ErrorCode.EntryTampered);
    expect((await reader.list({ zone: ZONE })).map((e) => e.address)).toEqual([rotated.address]);
    expect((await reader.resolve(rotated.address)).key.keyId).toBe(rotated.key.keyId);

    // A registry told of the retired key takes no registration with it, however fresh.
    expect(await codeOf(() => reader.register(signRegistryEntry(fields, old.key), old.identity))).toBe(ErrorCode.SignerUnknown);
  });

  it("a key retired while the registry is open (distrust): its node leaves every open watch and view at once, and no read or register takes it", async () => {
    const url = urlOf(`stolen${++counter}`);
    const stolen = makeNode(ZONE);
    const honest = makeNode(ZONE);
    const thief = await opened(url);
    await thief.register(stolen.entry, stolen.identity);
    await thief.register(honest.entry, honest.identity);

    // A running router's registry: a view, and a watch of its own, both already showing the thief's node.
    const tampered: string[] = [];
    const reader = await openRegistry(url, { onTampered: (address) => tampered.push(address), logger: { warn: () => {} } });
    keep(reader);
    const view = await reader.view(ZONE);
    const watch = reader.watch({ zone: ZONE });
    const changes: RegistryChange[] = [];
    await nextMatching(watch, (c) => c.kind === "registered" && c.address === stolen.address, 15_000, changes);
    expect((await view.list()).map((e) => e.address).sort()).toEqual([stolen.address, honest.address].sort());

    expect(reader.distrust(stolen.key.keyId)).toBe(true);
    // The watch says so without any change in the store: none may ever come.
    const refused = await nextMatching(watch, (c) => c.kind === "tampered" && c.address === stolen.address, 15_000, changes);
    expect(refused.kind === "tampered" && refused.error.details.cause).toBe(ErrorCode.SignerUnknown);
    expect(tampered).toContain(stolen.address);
    expect(changes.some((c) => c.kind === "tampered" && c.address === honest.address)).toBe(false);
    await eventually(async () => (await view.list()).length === 1, 15_000, "the view dropping the retired key's node");
    expect((await view.list()).map((e) => e.address)).toEqual([honest.address]);

    const error = await reader.resolve(stolen.address).then(
      () => undefined,
      (e: unknown) => e as OnexError,
    );
    expect(error?.code).toBe(ErrorCode.EntryTampered);
    expect(error?.details.cause).toBe(ErrorCode.SignerUnknown);
    expect((await reader.list({ zone: ZONE })).map((e) => e.address)).toEqual([honest.address]);
    const { signature: _s, key_id: _k, registered_at: _r, ...fields } = stolen.entry;
    expect(await codeOf(() => reader.register(signRegistryEntry(fields, stolen.key), stolen.identity))).toBe(ErrorCode.SignerUnknown);
    // A watch begun after it never shows the node.
    const later = reader.watch({ zone: ZONE });
    const laterChanges: RegistryChange[] = [];
    await nextMatching(later, (c) => c.kind === "registered" && c.address === honest.address, 15_000, laterChanges);
    expect(laterChanges.some((c) => c.kind === "registered" && c.address === stolen.address)).toBe(false);

    expect(reader.distrust(stolen.key.keyId)).toBe(false);
    expect(await codeOf(async () => reader.distrust(stolen.key.keyId.toUpperCase()))).toBe(ErrorCode.Usage);
    await Promise.all([watch.return?.(), later.return?.(), view.close()]);
  });

  it("refuses retiredKeys that name no key ids", async () => {
    expect(await codeOf(() => openRegistry(urlOf("unused"), { retiredKeys: "key-0123" as unknown as string[] }))).toBe(ErrorCode.Usage);
    // An iterator is read once: openRegistry's own check read it up, and the registry retired nothing.
    const once = new Set([makeNode(ZONE).key.keyId]).values();
    expect(await codeOf(() => opened(urlOf("unused"), once as unknown as string[]))).toBe(ErrorCode.Usage);
    expect(await codeOf(() => openRegistry(urlOf("unused"), { retiredKeys: [makeNode(ZONE).key.keyId.toUpperCase()] }))).toBe(ErrorCode.Usage);
  });
});
