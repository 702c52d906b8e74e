/**
 * `onex verify --entries`, attacked by a node whose key the verifier trusts and which wants to
 * pass as another node: it signs a registry entry naming the victim's node id with its own key.
 * An entry alone says only what its signer wrote; the node identity (whose id derives from the
 * node's key, build and zone) is what ties a node id to a key. Run as users run it: the built
 * `onex` (run `npm run build` first; `npm test` does).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildFingerprint, createNodeIdentity, exportPublicKey, generateKeyPair, issueSessionGrant, signMessage, signRegistryEntry, type KeyPair, type NodeIdentityRecord } from "@onex/runtime";
import { ExitCode } from "../../cli/exit-codes.js";
import { startEtcdServer } from "../support/etcd-server.js";

const BIN = fileURLToPath(new URL("../../bin/onex.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "onex-verify-registrations-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function onex(args: string[], input: string) {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const ZONE = "zone.trusted.org";
const hour = 3_600_000;
const victim = generateKeyPair();
const attacker = generateKeyPair();
const authority = generateKeyPair();
const victimNode = createNodeIdentity(victim, buildFingerprint("the victim's build"), ZONE);
const attackerNode = createNodeIdentity(attacker, buildFingerprint("the attacker's build"), ZONE);
writeFileSync(join(dir, "victim.pub"), exportPublicKey(victim.publicKey));
writeFileSync(join(dir, "attacker.pub"), exportPublicKey(attacker.publicKey));
writeFileSync(join(dir, "ca.pub"), exportPublicKey(authority.publicKey));

/** A registry entry for `nodeId`, signed by `key`: what any holder of a trusted key can make. */
function entry(nodeId: string, key: KeyPair) {
  return signRegistryEntry({ node_id: nodeId, address: `onex://${ZONE}/node/${nodeId}`, zone: ZONE, health: { status: "passing" } }, key);
}

/** A registration as `onex registry list` prints it. */
function registration(identity: NodeIdentityRecord, key: KeyPair, nodeId = identity.node_id) {
  return { address: `onex://${ZONE}/node/${nodeId}`, key_id: key.keyId, entry: entry(nodeId, key), identity };
}

/** A task dispatch from the victim's node, signed by `key`. */
function fromVictimNode(key: KeyPair, n: number): string {
  const message = signMessage(
    {
      type: "signal.task.dispatch",
      id: `6f1c2a4e-1111-4000-8000-00000000000${n}`,
      time: new Date(Date.now() - 1000).toISOString(),
      protocol: { version: "0.1", compatible_with: ["0.0.9"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.1/manifest.yaml" },
      source: { zone: ZONE, entity_type: "node", entity_id: victimNode.node_id },
      trust: { signer: "unset", level: "verified", zone: ZONE, expires_at: new Date(Date.now() + hour).toISOString() },
      payload: { task_id: "t-1", target: "node-b", action: "render", priority: 5 },
    },
    key,
  );
  return JSON.stringify(message) + "\n";
}

function verdicts(stdout: string): { id: string; accepted: boolean; code: string | null; policy: string | null }[] {
  return stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { id?: string; accepted: boolean; code: string | null; policy: string | null })
    .filter((line) => line.id !== undefined) as { id: string; accepted: boolean; code: string | null; policy: string | null }[];
}

const keys = ["--key", "victim.pub", "--key", "attacker.pub"];

describe("onex verify --entries against a trusted node claiming another node's id", () => {
  // The attacker's registration comes last, so a reader keeping the last entry per node id would keep it.
  const forged = [registration(victimNode, victim), registration(attackerNode, attacker), registration(attackerNode, attacker, victimNode.node_id)];

  it("origin_check=strict refuses the attacker's message as the victim node's and accepts the victim's own", () => {
    writeFileSync(join(dir, "entries.json"), JSON.stringify(forged));
    const result = onex(["verify", "-", ...keys, "--entries", "entries.json", "--policy", "origin_check=strict", "--json"], fromVictimNode(attacker, 1) + fromVictimNode(victim, 2));
    expect(verdicts(result.stdout)).toEqual([
      expect.objectContaining({ accepted: false, code: "ONEX_E_ORIGIN_MISMATCH", policy: "origin_check" }),
      expect.objectContaining({ accepted: true, code: null }),
    ]);
    expect(result.code).toBe(ExitCode.Findings);
    // The forged registration is reported, naming why it ties nothing.
    expect(result.stderr).toContain(`registry entry ${victimNode.node_id} skipped`);
    expect(result.stderr).toContain("ONEX_E_IDENTITY_MISMATCH");
  });

  it("the victim node's grant does not let the attacker's key send as that node", () => {
    writeFileSync(join(dir, "entries.json"), JSON.stringify(forged));
    const grant = issueSessionGrant(authority, { subject: victimNode.node_id, zone: ZONE, messageTypes: ["signal.task.dispatch"], expiresAt: Date.now() + hour });
    writeFileSync(join(dir, "grants.json"), JSON.stringify([grant]));
    // The default policy: origin_check advisory, so only the grant stands between the attacker and acceptance.
    const result = onex(["verify", "-", ...keys, "--entries", "entries.json", "--authority", `${ZONE}=ca.pub`, "--grants", "grants.json", "--json"], fromVictimNode(attacker, 3) + fromVictimNode(victim, 4));
    expect(verdicts(result.stdout)).toEqual([
      expect.objectContaining({ accepted: false, code: "ONEX_E_GRANT_INVALID", policy: "token_valid" }),
      expect.objectContaining({ accepted: true, code: null }),
    ]);
  });

  it("a bare entry, with no identity to tie its node id to its key, ties nothing", () => {
    writeFileSync(join(dir, "entries.json"), JSON.stringify([entry(victimNode.node_id, attacker)]));
    const result = onex(["verify", "-", ...keys, "--entries", "entries.json", "--policy", "origin_check=strict", "--json"], fromVictimNode(attacker, 5));
    expect(verdicts(result.stdout)).toEqual([expect.objectContaining({ accepted: false, code: "ONEX_E_ORIGIN_MISMATCH", policy: "origin_check" })]);
    expect(result.stderr).toContain("carries no node identity");
  });
});

describe("onex verify --entries takes what `onex registry list` prints", () => {
  it("one registration a line, from a real registry: the registered node's messages pass origin_check=strict, another trusted key's claiming that node do not", async () => {
    const etcd = await startEtcdServer();
    try {
      const url = `${etcd.url}?prefix=/verify-entries/&ttl=30s`;
      for (const [node, key] of [[victimNode, victim], [attackerNode, attacker]] as const) {
        const registered = onex(["registry", "register", "-", "--registry", url], JSON.stringify({ entry: entry(node.node_id, key), identity: node }));
        expect([registered.code, registered.stderr]).toEqual([0, ""]);
      }
      const listed = onex(["registry", "list", "--registry", url], "");
      expect([listed.code, listed.stdout.trim().split("\n").length]).toEqual([0, 2]);
      writeFileSync(join(dir, "registry.ndjson"), listed.stdout);
      const result = onex(["verify", "-", ...keys, "--entries", "registry.ndjson", "--policy", "origin_check=strict", "--json"], fromVictimNode(victim, 6) + fromVictimNode(attacker, 7));
      expect(verdicts(result.stdout)).toEqual([
        expect.objectContaining({ accepted: true, code: null }),
        expect.objectContaining({ accepted: false, code: "ONEX_E_ORIGIN_MISMATCH", policy: "origin_check" }),
      ]);
      expect(result.stderr).not.toContain("skipped");
    } finally {
      await etcd.stop();
    }
  });

  it("a line that is not JSON is ONEX_E_JSON_SYNTAX naming its line, not a file read as empty", () => {
    writeFileSync(join(dir, "broken.ndjson"), `${JSON.stringify(registration(victimNode, victim))}\n{not json\n`);
    const result = onex(["verify", "-", ...keys, "--entries", "broken.ndjson", "--json"], fromVictimNode(victim, 8));
    expect(result.code).toBe(ExitCode.Findings);
    expect(result.stderr).toMatch(/ONEX_E_JSON_SYNTAX: the registry entries file broken\.ndjson: .*line 2/);
  });
});
