/**
 * `onex registry` after a node key is stolen, against a real etcd: the operator rotated the
 * node, deregistered the old address and passes the old key id with --retired-key (or
 * ONEX_RETIRED_KEYS). The thief, holding the old key, registers the old node again with the
 * same built command (it passes no retired key, of course). Without the flag every command
 * took the thief's registration as the node's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEtcdServer, type EtcdServer } from "../support/etcd-server.js";
import { runCli } from "../support/run-cli.js";
import { makeNode, resign } from "./fixtures.js";

let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcdServer();
});
afterAll(async () => etcd?.stop());

const registration = (entry: unknown, identity: unknown) => ({ input: JSON.stringify({ entry, identity }) });

describe("onex registry --retired-key", () => {
  it("refuses in every command the registration a stolen node key made after rotation", () => {
    const url = `${etcd.url}?prefix=/retired1/&ttl=30s`;
    const old = makeNode("zone.trusted.org", { registeredAt: new Date(Date.now() - 60_000).toISOString() });
    const rotated = makeNode("zone.trusted.org");
    expect(runCli(["registry", "register", "--registry", url], registration(old.entry, old.identity)).status).toBe(0);
    expect(runCli(["registry", "register", "--registry", url], registration(rotated.entry, rotated.identity)).status).toBe(0);
    expect(runCli(["registry", "deregister", old.address, "--registry", url]).status).toBe(0);

    // The thief registers the old node again, newer than its mark.
    const stolen = runCli(["registry", "register", "--registry", url], registration(resign(old, { capabilities: ["exfiltrate"] }), old.identity));
    expect(stolen.status).toBe(0);

    const retired = ["--retired-key", old.key.keyId];
    const listed = runCli(["registry", "list", "--registry", url, ...retired]);
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim().split("\n").map((l) => JSON.parse(l).address)).toEqual([rotated.address]);
    expect(listed.stderr).toMatch(/warning ONEX_E_ENTRY_TAMPERED: .*retired/);

    const resolved = runCli(["registry", "resolve", old.address, "--registry", url, ...retired]);
    expect(resolved.status).toBe(1);
    expect(resolved.stderr).toMatch(/^error ONEX_E_ENTRY_TAMPERED: .*retired/);

    const watched = runCli(["registry", "watch", "--count", "2", "--registry", url, ...retired]);
    const changes = watched.stdout.trim().split("\n").map((l) => JSON.parse(l) as { kind: string; address: string });
    expect(changes.find((c) => c.address === old.address)?.kind).toBe("tampered");
    expect(changes.find((c) => c.address === rotated.address)?.kind).toBe("registered");

    // Through the environment, comma-separated beside another id; and register refuses the key outright.
    const fromEnv = runCli(["registry", "register", "--registry", url], { ...registration(resign(old, { capabilities: ["again"] }), old.identity), env: { ONEX_RETIRED_KEYS: `${rotated.key.keyId.replace(/.$/, "0")},${old.key.keyId}` } });
    expect(fromEnv.status).toBe(1);
    expect(fromEnv.stderr).toMatch(/^error ONEX_E_SIGNER_UNKNOWN: .*retired/);
    const envList = runCli(["registry", "list", "--registry", url], { env: { ONEX_RETIRED_KEYS: old.key.keyId } });
    expect(envList.stdout.trim().split("\n").map((l) => JSON.parse(l).address)).toEqual([rotated.address]);
  });

  it("refuses a retired key that is no key id, before anything is read", () => {
    const url = `${etcd.url}?prefix=/retired2/&ttl=30s`;
    const typo = runCli(["registry", "list", "--registry", url, "--retired-key", "key-3f2a"]);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/^error ONEX_E_USAGE: --retired-key key-3f2a is no key id/);
  });
});
