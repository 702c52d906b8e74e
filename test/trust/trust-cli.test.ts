/** The trust commands, run as users run them: the built `onex` (run `npm run build` first; `npm test` does). */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, linkSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes.js";

const BIN = fileURLToPath(new URL("../../bin/onex.js", import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "onex-trust-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function onex(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const hour = 3_600_000;
const message = {
  type: "signal.task.dispatch",
  id: "6f1c2a4e-1111-4000-8000-000000000001",
  time: new Date(Date.now() - 1000).toISOString(),
  protocol: { version: "0.1", compatible_with: ["0.0.9"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.1/manifest.yaml" },
  source: { zone: "zone.trusted.org", entity_type: "node", entity_id: "node-a" },
  trust: { signer: "unset", level: "verified", zone: "zone.trusted.org", expires_at: new Date(Date.now() + hour).toISOString() },
  payload: { task_id: "t-1", target: "node-b", action: "render", priority: 5 },
};

describe("onex keygen / sign / verify", () => {
  it("keygen writes the private key with mode 0600 and prints only the key id", () => {
    const { code, stdout } = onex(["keygen", "--out", "node"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^key-[0-9a-f]{32}$/);
    expect(stdout).not.toContain("PRIVATE");
    expect(statSync(join(dir, "node.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "node.key"), "utf8")).toContain("BEGIN PRIVATE KEY");
    expect(readFileSync(join(dir, "node.pub"), "utf8")).toContain("BEGIN PUBLIC KEY");
    // An existing key is never silently replaced.
    const again = onex(["keygen", "--out", "node"]);
    expect(again.code).toBe(ExitCode.Usage);
    expect(again.stderr).toContain("ONEX_E_FILE_EXISTS");
  });

  it("sign then verify accepts; a tampered or foreign message fails with exit 1 and its code", () => {
    onex(["keygen", "--out", "other", "--format", "compact"]);
    writeFileSync(join(dir, "msg.json"), JSON.stringify(message));
    const signed = onex(["sign", "msg.json", "--key", "node.key", "--version", "v0.1"]);
    expect(signed.code).toBe(0);
    const line = signed.stdout.trim();
    expect(JSON.parse(line).trust.signature).toMatch(/^ed25519:/);

    const ok = onex(["verify", "-", "--key", "node.pub", "--json"], line + "\n");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.split("\n")[0] as string)).toMatchObject({ accepted: true, code: null });

    const tampered = onex(["verify", "-", "--key", "node.pub"], line.replace('"render"', '"delete"'));
    expect(tampered.code).toBe(ExitCode.Findings);
    expect(tampered.stdout).toContain("ONEX_E_SIGNATURE_INVALID");

    const foreign = onex(["verify", "-", "--key", "other.pub", "--json"], line);
    expect(foreign.code).toBe(ExitCode.Findings);
    expect(JSON.parse(foreign.stdout.split("\n")[0] as string)).toMatchObject({ accepted: false, code: "ONEX_E_SIGNER_UNKNOWN", policy: "signature" });

    const zone = onex(["verify", "-", "--key", "node.pub", "--zone", "zone.other.org"], line);
    expect(zone.code).toBe(0);
    expect(zone.stdout).toContain("warning ONEX_E_ZONE_MISMATCH (zone_match, advisory)");
    const strictZone = onex(["verify", "-", "--key", "node.pub", "--zone", "zone.other.org", "--policy", "zone_match=strict"], line);
    expect(strictZone.code).toBe(ExitCode.Findings);

    const badPolicy = onex(["verify", "-", "--key", "node.pub", "--policy", "signature=maybe"], line);
    expect(badPolicy.code).toBe(ExitCode.Usage);
    expect(badPolicy.stderr).toContain("ONEX_E_POLICY_INVALID");
  });
});

describe("onex grant issue / inspect / revoke", () => {
  it("issues a grant that inspects as valid, and as revoked once revoked", () => {
    onex(["keygen", "--out", "ca"]);
    const issued = onex(["grant", "issue", "--key", "ca.key", "--subject", "node-a", "--zone", "zone.trusted.org", "--type", "signal.task.dispatch", "--expires-in", "1h", "--out", "grant.json"]);
    expect(issued.code).toBe(0);
    const grant = JSON.parse(readFileSync(join(dir, "grant.json"), "utf8"));
    expect(grant).toMatchObject({ subject: "node-a", scopes: { message_types: ["signal.task.dispatch"], zones: ["zone.trusted.org"] } });
    // A misspelt type would grant nothing: refused, with the type meant.
    const misspelt = onex(["grant", "issue", "--key", "ca.key", "--subject", "node-a", "--zone", "zone.trusted.org", "--type", "signal.task.dispach", "--expires-in", "1h"]);
    expect([misspelt.code, misspelt.stdout]).toEqual([ExitCode.Usage, ""]);
    expect(misspelt.stderr).toContain('"signal.task.dispach" (did you mean "signal.task.dispatch"?)');
    // A type of a version not in these schemas yet is issued on request.
    const ahead = onex(["grant", "issue", "--key", "ca.key", "--subject", "node-a", "--zone", "zone.trusted.org", "--type", "signal.task.cancel", "--expires-in", "1h", "--allow-unknown-type"]);
    expect([ahead.code, JSON.parse(ahead.stdout).scopes.message_types]).toEqual([0, ["signal.task.cancel"]]);
    // Manifests read as generate reads them: a byte that is not UTF-8 is refused where it is, never read as U+FFFD.
    const latin1 = join(dir, "latin1-schemas");
    cpSync(join(PROJECT_ROOT, "schemas"), latin1, { recursive: true });
    const manifest = join(latin1, "v0.2", "manifest.yaml");
    writeFileSync(manifest, Buffer.concat([Buffer.from("# caf"), Buffer.from([0xe9]), Buffer.from("\n"), readFileSync(manifest)]));
    const refused = onex(["grant", "issue", "--key", "ca.key", "--subject", "node-a", "--zone", "zone.trusted.org", "--type", "signal.task.dispatch", "--expires-in", "1h", "--schemas", latin1]);
    expect([refused.code, refused.stdout]).toEqual([ExitCode.BadInput, ""]);
    expect(refused.stderr).toContain(`${manifest}:1:6: not valid UTF-8 (byte 0xE9 at offset 5)`);

    const inspect = onex(["grant", "inspect", "grant.json", "--authority", "ca.pub", "--json"]);
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ status: "valid", signature: "valid" });
    // No version is pinned: the newest bundled version with a SessionGrant schema, or the one --protocol names.
    expect(onex(["grant", "inspect", "grant.json", "--protocol", "v0.1"]).code).toBe(0);
    const noRecord = onex(["grant", "inspect", "grant.json", "--protocol", "0.0.9"]);
    expect([noRecord.code, noRecord.stderr]).toEqual([ExitCode.Usage, expect.stringContaining("ONEX_E_SDK_MISMATCH")]);
    expect(onex(["grant", "inspect", "grant.json", "--protocol", "9.9"]).stderr).toContain("ONEX_E_UNKNOWN_VERSION");

    const later = onex(["grant", "inspect", "grant.json", "--authority", "ca.pub", "--at", new Date(Date.now() + 2 * hour).toISOString()]);
    expect(later.code).toBe(ExitCode.Findings);
    expect(later.stderr).toContain("ONEX_E_GRANT_EXPIRED");

    expect(onex(["grant", "revoke", "grant.json", "--key", "node.key"]).code).toBe(ExitCode.Findings);
    expect(onex(["grant", "revoke", "grant.json", "--key", "ca.key", "--list", "revocations.json", "--reason", "rotated"]).code).toBe(0);
    const revoked = onex(["grant", "inspect", "grant.json", "--authority", "ca.pub", "--revocations", "revocations.json", "--json"]);
    expect(revoked.code).toBe(ExitCode.Findings);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ status: "ONEX_E_GRANT_REVOKED" });
  });

  it("a grant handed over to be inspected or revoked cannot write on the terminal: its fields are printed escaped", () => {
    // What a forger puts in a grant's fields: a line of its own claiming validity, an escape that retitles
    // the terminal and one that hides what follows, and a mark that reorders.
    const forged = "node-a\nsignature   valid\nstatus      valid\u001b]0;pwned\u0007\u001b[8m\u200f";
    onex(["keygen", "--out", "forger"]);
    const issued = onex(["grant", "issue", "--key", "forger.key", "--subject", forged, "--id", forged, "--zone", "zone.trusted.org", "--type", "signal.task.dispatch", "--expires-in", "1h", "--out", "forged-grant.json"]);
    expect(issued.code).toBe(0);
    const unsafe = /[\p{Cc}\p{Cf}]/u;
    const lines = (text: string) => text.split("\n").filter((line) => line !== "");
    const inspected = onex(["grant", "inspect", "forged-grant.json"]);
    expect(inspected.code).toBe(0);
    // One line per field, none the forger's, and no control character but the new lines between them.
    expect(lines(inspected.stdout).map((line) => line.split(/ +/)[0])).toEqual(["grant", "subject", "issuer", "zone", "types", "zones", "valid", "signature", "status"]);
    expect(lines(inspected.stdout).join("")).not.toMatch(unsafe);
    const json = onex(["grant", "inspect", "forged-grant.json", "--json"]);
    expect(json.stdout.trimEnd()).not.toMatch(unsafe);
    expect(JSON.parse(json.stdout).grant).toMatchObject({ subject: forged, grant_id: forged });
    expect(lines(issued.stderr).join("")).not.toMatch(unsafe);
    const revoked = onex(["grant", "revoke", "forged-grant.json", "--key", "forger.key", "--list", "forged-revocations.json"]);
    expect(revoked.code).toBe(0);
    expect(lines(revoked.stderr)).toHaveLength(1);
    expect(revoked.stderr.trimEnd()).not.toMatch(unsafe);
  });

  it("adds a revocation to the file a linked list points to, which verifiers read, and refuses a link to nothing", () => {
    writeFileSync(join(dir, "shared-revocations.json"), "[]\n");
    symlinkSync("shared-revocations.json", join(dir, "linked-revocations.json"));
    expect(onex(["grant", "revoke", "grant.json", "--key", "ca.key", "--list", "linked-revocations.json"]).code).toBe(0);
    expect(lstatSync(join(dir, "linked-revocations.json")).isSymbolicLink()).toBe(true);
    const revoked = onex(["grant", "inspect", "grant.json", "--authority", "ca.pub", "--revocations", "shared-revocations.json", "--json"]);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ status: "ONEX_E_GRANT_REVOKED" });

    symlinkSync("missing-revocations.json", join(dir, "dangling-revocations.json"));
    const dangling = onex(["grant", "revoke", "grant.json", "--key", "ca.key", "--list", "dangling-revocations.json"]);
    expect(dangling.code).not.toBe(0);
    expect(dangling.stderr).toContain("ONEX_E_FILE_NOT_FOUND");
    expect(lstatSync(join(dir, "dangling-revocations.json")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(dir, "missing-revocations.json"))).toBe(false);

    // A hard-linked list: a new file in its place would leave the other name without the revocation.
    linkSync(join(dir, "shared-revocations.json"), join(dir, "hard-revocations.json"));
    const before = readFileSync(join(dir, "shared-revocations.json"), "utf8");
    const hard = onex(["grant", "revoke", "grant.json", "--key", "ca.key", "--list", "hard-revocations.json"]);
    expect([hard.code, hard.stderr]).toEqual([73, expect.stringContaining("ONEX_E_WRITE_FAILED: the revocation list hard-revocations.json has 2 hard links")]);
    expect(readFileSync(join(dir, "shared-revocations.json"), "utf8")).toBe(before);
  });
});

describe("onex attest", () => {
  it("signs an attestation whose trace hash binds the task and result", () => {
    writeFileSync(join(dir, "task.json"), JSON.stringify(message));
    writeFileSync(join(dir, "result.json"), JSON.stringify({ task_id: "t-1", status: "succeeded", output: { frames: 3 } }));
    const out = onex(["attest", "--key", "node.key", "--node", "node-a", "--task", "task.json", "--result", "result.json", "--outcome", "succeeded", "--trust-delta", "0.1", "--execution-time", "120", "--verified"]);
    expect(out.code).toBe(0);
    const attestation = JSON.parse(out.stdout);
    expect(attestation).toMatchObject({ task_id: "t-1", node: "node-a", outcome: "succeeded", trust_delta: 0.1, verified: true, execution_time: 120 });
    expect(attestation.trace_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(attestation.signature).toMatch(/^ed25519:/);
  });
});
