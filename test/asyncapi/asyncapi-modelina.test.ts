// Modelina (AsyncAPI's own code generator) reads every bundled version's AsyncAPI document,
// names its TypeScript models after the manifest (no AnonymousSchema_N), and what it
// writes compiles under tsc --strict.
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TypeScriptGenerator } from "@asyncapi/modelina";
import { afterAll, describe, expect, it } from "vitest";
import { versionAsyncApi } from "../../generator/asyncapi/version-asyncapi.js";
import { versionsIn } from "../../generator/diff/diff-versions.js";
import { loadVersion } from "../../generator/load-version.js";
import { copySchemas, editFile, PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { BUNDLED_VERSIONS } from "../support/bundled-versions.js";

afterAll(removeTempDirs);

const SCHEMAS = join(PROJECT_ROOT, "schemas");
const TSC = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");

describe("Modelina on the AsyncAPI document", () => {
  it.each(BUNDLED_VERSIONS)("v%s: models named after the manifest, compiling under tsc --strict", async (version) => {
    expect(await versionsIn(SCHEMAS)).toContain(version);
    const { model } = await loadVersion(SCHEMAS, `v${version}`, PROJECT_ROOT);
    const document = await versionAsyncApi(SCHEMAS, version, "json");

    const generator = new TypeScriptGenerator({ modelType: "interface", enumType: "union" });
    const models = await generator.generateCompleteModels(document, { exportType: "named" });
    const names = models.map((m) => m.modelName);
    for (const m of model.messages) expect(names).toEqual(expect.arrayContaining([m.name, m.payloadName]));
    expect(names.filter((n) => /Anonymous/i.test(n))).toEqual([]);

    const dir = await tempDir("onex-modelina-");
    for (const m of models) await writeFile(join(dir, `${m.modelName}.ts`), m.result);
    // Modelina's imports carry no extension, so check them as a bundler would resolve them.
    const tsc = spawnSync(
      process.execPath,
      [TSC, "--noEmit", "--strict", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", ...models.map((m) => join(dir, `${m.modelName}.ts`))],
      { encoding: "utf8" },
    );
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  });

  it("names a payload field after its path, not after a title its schema gives it (a record's name: title: Trust)", async () => {
    const { schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "messages", "agent-started.yaml"), (text) => `${text}  meta:\n    title: Trust\n    type: object\n    properties:\n      note: { type: string }\n`);
    const generator = new TypeScriptGenerator({ modelType: "interface", enumType: "union" });
    const models = await generator.generateCompleteModels(await versionAsyncApi(schemas, "0.2", "json"), { exportType: "named" });
    // Modelina typed the field as the record (`meta?: Trust`, with signer, level, zone...), a shape it never has.
    expect(models.find((m) => m.modelName === "AgentStartedPayload")?.result).toContain("meta?: AgentStartedPayloadMeta;");
    expect(models.find((m) => m.modelName === "AgentStartedPayloadMeta")?.result).toContain("note?: string;");
    expect(models.filter((m) => m.modelName === "Trust").map((m) => m.result.includes("signer"))).toEqual([true]);
  });
});
