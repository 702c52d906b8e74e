/** `onex registry ...` against a real etcd: the built command, its output and its exit codes. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { runCli } from "../support/run-cli.js";
import { makeNode, partsOf, resign } from "./fixtures.js";
import { etcdWriter } from "./store-writer.js";

let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcdServer();
});
afterAll(async () => etcd?.stop());

describe("onex registry", () => {
  it("registers, resolves, lists, watches and deregisters", () => {
    const url = `${etcd.url}?prefix=/cli/&ttl=30s`;
    const node = makeNode("zone.trusted.org", { capabilities: ["gpu"] });
    const registered = runCli(["registry", "register", "-", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) });
    expect(registered.stderr).toBe("");
    expect(registered.status).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({ address: node.address, key_id: node.key.keyId });

    const resolved = runCli(["registry", "resolve", node.address, "--registry", url]);
    expect(resolved.status).toBe(0);
    expect(JSON.parse(resolved.stdout).entry).toEqual(node.entry);
    // --registry may come from ONEX_REGISTRY instead.
    const fromEnv = runCli(["registry", "resolve", node.address], { env: { ONEX_REGISTRY: url } });
    expect([fromEnv.status, fromEnv.stderr]).toEqual([0, ""]);
    expect(JSON.parse(fromEnv.stdout).entry).toEqual(node.entry);

    const listed = runCli(["registry", "list", "--zone", "zone.trusted.org", "--capability", "gpu", "--registry", url]);
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim().split("\n").map((l) => JSON.parse(l).address)).toEqual([node.address]);

    const watched = runCli(["registry", "watch", "--count", "1", "--registry", url]);
    expect(watched.status).toBe(0);
    expect(JSON.parse(watched.stdout)).toMatchObject({ kind: "registered", initial: true, address: node.address });

    expect(runCli(["registry", "deregister", node.address, "--registry", url]).status).toBe(0);
    const gone = runCli(["registry", "resolve", node.address, "--registry", url]);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/^error ONEX_E_NOT_FOUND: /);
  });

  it("refuses a replayed older entry in every command, each run as its own process", async () => {
    const prefix = "/cli3/";
    const url = `${etcd.url}?prefix=${prefix}&ttl=30s`;
    const node = makeNode("zone.trusted.org", { registeredAt: new Date(Date.now() - 60_000).toISOString() });
    expect(runCli(["registry", "register", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) }).status).toBe(0);
    const writer = etcdWriter(etcd.clientUrl, prefix, 30);
    const old = (await writer.read(partsOf(node)))!;
    const newer = resign(node, { capabilities: ["v2"] });
    expect(runCli(["registry", "register", "--registry", url], { input: JSON.stringify({ entry: newer, identity: node.identity }) }).status).toBe(0);
    // The store writer puts the registration of a minute ago back, on a lease of the right size.
    await writer.put(partsOf(node), old);

    const resolved = runCli(["registry", "resolve", node.address, "--registry", url]);
    expect(resolved.status).toBe(1);
    expect(resolved.stderr).toMatch(/^error ONEX_E_ENTRY_TAMPERED: .*replayed/);
    const listed = runCli(["registry", "list", "--registry", url]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toBe("");
    expect(listed.stderr).toMatch(/warning ONEX_E_ENTRY_TAMPERED/);
    const watched = runCli(["registry", "watch", "--count", "1", "--registry", url]);
    expect(JSON.parse(watched.stdout)).toMatchObject({ kind: "tampered", address: node.address, code: "ONEX_E_ENTRY_TAMPERED" });
    const again = runCli(["registry", "register", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^error ONEX_E_REPLAY: /);
  });

  it("prints no control character a store writer or a node chose: escapes, new lines and bidirectional overrides come out escaped", async () => {
    const prefix = "/cli4/";
    const url = `${etcd.url}?prefix=${prefix}&ttl=30s`;
    // A node's own signed capability, reversing what a terminal shows after it.
    const node = makeNode("zone.trusted.org", { capabilities: ["gpu\u202e\u009b2J"] });
    expect(runCli(["registry", "register", "--registry", url], { input: JSON.stringify({ entry: node.entry, identity: node.identity }) }).status).toBe(0);
    // A store writer's bytes, quoted in why they fail: clear the screen, then a line of its own.
    const writer = etcdWriter(etcd.clientUrl, prefix, 30);
    await writer.put(partsOf(makeNode("zone.trusted.org")), JSON.stringify({ format: "\u001b]0;owned\u0007\u001b[2J\nOK all nodes healthy" }));

    const listed = runCli(["registry", "list", "--registry", url]);
    expect(listed.status).toBe(0);
    expect(listed.stderr).toMatch(/warning ONEX_E_ENTRY_TAMPERED: .*stored format \\u\{1b\}\]0;owned/);
    expect(listed.stderr.trim().split("\n")).toHaveLength(2);
    const resolved = runCli(["registry", "resolve", node.address, "--registry", url]);
    const watched = runCli(["registry", "watch", "--count", "2", "--registry", url]);
    for (const output of [listed.stdout, listed.stderr, resolved.stdout, watched.stdout]) expect(output).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
    expect(JSON.parse(listed.stdout).entry.capabilities).toEqual(["gpu\u202e\u009b2J"]);
    expect(JSON.parse(resolved.stdout).entry.capabilities).toEqual(["gpu\u202e\u009b2J"]);
  });

  it("rejects a forged entry, a bad address and an unknown scheme with their codes and exit statuses", () => {
    const url = `${etcd.url}?prefix=/cli2/`;
    const node = makeNode();
    const forged = runCli(["registry", "register", "--registry", url], { input: JSON.stringify({ entry: { ...node.entry, zone: "zone.evil.org" }, identity: node.identity }) });
    expect(forged.status).toBe(1);
    expect(forged.stderr).toMatch(/^error ONEX_E_IDENTITY_MISMATCH: /);
    const bad = runCli(["registry", "resolve", "onex://Zone/node/x", "--registry", url]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^error ONEX_E_ADDRESS_INVALID: /);
    const scheme = runCli(["registry", "list", "--registry", "redis://127.0.0.1:6379"]);
    expect(scheme.status).toBe(2);
    expect(scheme.stderr).toMatch(/^error ONEX_E_REGISTRY_URL: /);
    const down = runCli(["registry", "list", "--registry", "nats://127.0.0.1:1"]);
    expect(down.status).toBe(69);
    expect(down.stderr).toMatch(/^error ONEX_E_REGISTRY_UNAVAILABLE: /);
  });
});
