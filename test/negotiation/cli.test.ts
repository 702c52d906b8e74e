import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { BUNDLED_VERSIONS } from "../support/bundled-versions.js";

afterAll(removeTempDirs);

describe("onex versions and onex negotiate (with index files, no server)", () => {
  it("versions lists every bundled version with its transform paths", () => {
    const result = runCli(["versions", "--json"]);
    expect(result.status).toBe(0);
    const listed = JSON.parse(result.stdout) as { versions: { version: string }[] };
    expect(listed.versions.map((v) => v.version)).toEqual(BUNDLED_VERSIONS);
    expect(runCli(["versions"]).stdout).toContain("-> v0.0.9 via v0.2 -> v0.1 -> v0.0.9");
  });

  it("agrees directly on a shared version, and falls back through the adapters otherwise", () => {
    const direct = runCli(["negotiate", "--peer", "generated/v0.1/index.json", "--as", "v0.2", "--json"]);
    expect(direct.status).toBe(0);
    expect(JSON.parse(direct.stdout)).toMatchObject({ agreement: { mode: "direct", version: "0.1" } });
    const fallback = runCli(["negotiate", "--peer", "generated/v0.0.9/index.json", "--as", "0.2", "--json"]);
    expect(fallback.status).toBe(0);
    expect(JSON.parse(fallback.stdout)).toMatchObject({ agreement: { mode: "fallback", version: "0.0.9" } });
  });

  it("refuses an index whose entries do not hash to its declared content hash, and exits 1", async () => {
    const dir = await tempDir();
    const index = JSON.parse(await readFile(join(PROJECT_ROOT, "generated", "v0.1", "index.json"), "utf8")) as { schemas: { hash: string }[] };
    index.schemas[0]!.hash = `sha256:${"0".repeat(64)}`;
    await writeFile(join(dir, "peer.json"), JSON.stringify(index));
    const result = runCli(["negotiate", "--peer", join(dir, "peer.json"), "--as", "v0.1"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`error ${ErrorCode.SchemaHashMismatch}:`);
  });

  it("a published schema document listing no index, or with a protocol block of other shapes, is ONEX_E_NEGOTIATION_INVALID", async () => {
    const dir = await tempDir();
    const index = JSON.parse(await readFile(join(PROJECT_ROOT, "generated", "v0.1", "index.json"), "utf8")) as { version: string; compatible_with: string[] };
    const protocol = { version: index.version, compatible_with: index.compatible_with, declared_by: "peer", schema_manifest_url: "" };
    const documents = [
      { indexes: [] },
      { indexes: [index], protocol: 5 },
      { indexes: [index], protocol: {} },
      { indexes: [index], protocol: { ...protocol, version: {} } },
      { indexes: [index], protocol: { ...protocol, compatible_with: index.compatible_with.join(",") } },
      { indexes: [index], protocol: { ...protocol, compatible_with: [1] } },
    ];
    const outcomes = [];
    for (const [n, document] of documents.entries()) {
      await writeFile(join(dir, `peer-${n}.json`), JSON.stringify({ kind: "onex.schemas/1", ...document }));
      const result = runCli(["negotiate", "--peer", join(dir, `peer-${n}.json`), "--as", "v0.1"]);
      outcomes.push([result.status, result.stderr.split(":")[0]]);
    }
    expect(outcomes).toEqual(documents.map(() => [3, `error ${ErrorCode.NegotiationInvalid}`]));
  });

  it("an unknown own version is a usage error", () => {
    const result = runCli(["negotiate", "--peer", "generated/v0.1/index.json", "--as", "v9.9"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(ErrorCode.UnknownVersion);
  });
});
