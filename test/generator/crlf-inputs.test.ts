/**
 * A CRLF checkout (git core.autocrlf on Windows) of the same schemas is the same input: the
 * input hashes read CRLF as LF and drop a leading BOM. They hashed bytes, so an SDK generated
 * on one checkout was stale on the other: `generate --check` failed and every command refused
 * with ONEX_E_SDK_STALE.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.js";
import { copySchemas, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

function eachFile(dir: string, edit: (text: string) => string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) eachFile(path, edit);
    else writeFileSync(path, edit(readFileSync(path, "utf8")));
  }
}

const toCrlf = (text: string) => "\uFEFF" + text.replace(/\n/g, "\r\n");
const toLf = (text: string) => text.replace(/^\uFEFF/, "").replace(/\r\n/g, "\n");

describe("generated/ across CRLF and LF checkouts", () => {
  it("is current on an LF checkout when generated on a CRLF one with BOMs, and the other way round", async () => {
    const { root, schemas } = await copySchemas();
    const out = join(root, "generated");
    const example = join(PROJECT_ROOT, "docs", "examples", "v0.2.ndjson");
    for (const [from, to] of [[toCrlf, toLf], [toLf, toCrlf]] as const) {
      eachFile(join(schemas, "v0.2"), from);
      expect(runCli(["generate", "--schemas", schemas, "--out", out]).status).toBe(0);
      eachFile(join(schemas, "v0.2"), to);
      const check = runCli(["generate", "--check", "--schemas", schemas, "--out", out]);
      expect([check.status, check.stdout + check.stderr]).toEqual([0, expect.any(String)]);
      const validate = runCli(["validate", "v0.2", example, "--schemas", schemas]);
      expect([validate.status, validate.stderr]).toEqual([0, expect.not.stringContaining("ONEX_E_SDK_STALE")]);
    }
  }, 120_000);
});
