/** Transform files are validated like manifests: located errors with ONEX_E_TRANSFORM_INVALID; `onex check` proves soundness. */
import { cp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";
import { trimToV02 } from "../support/v03-from-v02.js";

afterAll(removeTempDirs);

async function generateError(edit: (text: string) => string, file = "v0.2/from-v0.1.yaml"): Promise<{ code: string; message: string }> {
  const { schemas, out } = await copySchemas();
  await editFile(join(schemas, file), edit);
  try {
    await generate({ schemasDir: schemas, outDir: out, check: true });
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error("generate accepted the broken transform");
}

describe("transform files", () => {
  it.each([
    ["an unknown operation", (t: string) => t.replace("- rename: { from: action, to: operation }", "- rename: { from: action, to: operation }\n          - swap: { name: x }"), /from-v0\.1\.yaml:\d+:\d+: unknown key "swap" in \/types\/signal\.task\.dispatch\/0\/in\/lenses\/1 \(known keys: lossy, why, rename/],
    ["a lossy lens not marked lossy", (t: string) => t.replace(/(- add: \{ name: retry, optional: true \}\n\s+)lossy: true\n\s+/, "$1"), /from-v0\.1\.yaml:\d+:\d+: "add" can drop data/],
    ["a shared type without an entry", (t: string) => t.replace("  signal.result.ready: []\n", ""), /message type "signal\.result\.ready" is in v0\.1 and v0\.2 but has no entry/],
    ["an escape function that is not exported", (t: string) => t.replace("down: protocolDown", "down: protocolSideways"), /escape function "protocolSideways" is not exported by schemas\/v0\.2\/from-v0\.1\.ts/],
    ["a transform between non-adjacent versions", (t: string) => t.replace('from: "0.1"', 'from: "0.0.9"'), /transforms connect adjacent versions/],
  ])("rejects %s with a located ONEX_E_TRANSFORM_INVALID", async (_what, edit, message) => {
    const error = await generateError(edit);
    expect(error.code).toBe("ONEX_E_TRANSFORM_INVALID");
    expect(error.message).toMatch(message);
  });
});

describe("the escape functions module", () => {
  const TS = "v0.2/from-v0.1.ts";
  it.each([
    ["a module that does not parse", (t: string) => t.replace("function swapProtocol(", "function swapProtocol((("), /from-v0\.1\.ts:\d+:\d+: the functions module does not parse/],
    ["an export that is commented out", (t: string) => t.replace("export function protocolDown", "// export function protocolDown() {}\nfunction protocolDownX"), /escape function "protocolDown" is not exported/],
    ["a default export of the name", (t: string) => t.replace("export function protocolDown", "export default function protocolDown"), /escape function "protocolDown" is not exported/],
    ["an ambient declaration of the name", (t: string) => t.replace("export function protocolDown", "export declare function protocolDown(scope: JsonObject, restored: unknown, context: LensContext): unknown;\nfunction protocolDownX"), /escape function "protocolDown" is not exported/],
    ["an exported variable without a value", (t: string) => t.replace("export function protocolDown", "export let protocolDown: unknown;\nfunction protocolDownX"), /escape function "protocolDown" is not exported/],
    ["an import of node:fs", (t: string) => `import { writeFileSync } from "node:fs";\n${t}`, /from-v0\.1\.ts:1:\d+: the functions module imports "node:fs"; it may import only "@onex\/runtime\/codegen-v1"/],
    ["a relative import", (t: string) => `export { helper } from "./helper.js";\n${t}`, /from-v0\.1\.ts:1:\d+: the functions module imports "\.\/helper\.js"/],
    ["a module loaded at run time", (t: string) => t.replace("return undefined;", "void import(String(scope.id));\n  return undefined;"), /the functions module imports a module named at run time/],
    ["a require", (t: string) => t.replace("return undefined;", 'require("child_process");\n  return undefined;'), /the functions module imports "child_process"/],
  ])("refuses %s with a located ONEX_E_TRANSFORM_INVALID", async (_what, edit, message) => {
    const error = await generateError(edit, TS);
    expect(error.code).toBe("ONEX_E_TRANSFORM_INVALID");
    expect(error.message).toMatch(message);
  });

  it("a default for a field whose schema reaches another schema is left to check and migrate, not a crash", async () => {
    const { schemas, out } = await copySchemas();
    await writeFile(join(schemas, "v0.2", "records", "build-version.yaml"), "type: string\nminLength: 1\n");
    await editFile(join(schemas, "v0.2", "manifest.yaml"), (t) => t.replace("records:\n", "records:\n  BuildVersion: records/build-version.yaml\n"));
    await editFile(join(schemas, "v0.2", "messages", "node-register.yaml"), (t) => t.replace("      version:\n        type: string\n", "      version:\n        type: string\n        allOf: [{ $ref: ../records/build-version.yaml }]\n"));
    await expect(generate({ schemasDir: schemas, outDir: out })).resolves.toBeDefined();
  });

  it("accepts an escape function exported by name, as TypeScript allows", async () => {
    const { schemas, out } = await copySchemas();
    await editFile(join(schemas, TS), (t) => t.replace("export function protocolDown", "function protocolDown") + "\nexport { protocolDown };\n");
    await expect(generate({ schemasDir: schemas, outDir: out })).resolves.toBeDefined();
  });
});

describe("a version without a transform from the one before", () => {
  it("generates, validates and lists; migrate across the gap says ONEX_E_NO_PATH; a misnamed transform file is refused, not ignored", async () => {
    const { root, schemas } = await copySchemas();
    await trimToV02(schemas);
    const v03 = join(schemas, "v0.3");
    await cp(join(schemas, "v0.2"), v03, { recursive: true });
    await rm(join(v03, "from-v0.1.yaml"));
    await rm(join(v03, "from-v0.1.ts"));
    await editFile(join(v03, "manifest.yaml"), (t) => t.replace('version: "0.2"', 'version: "0.3"').replace(/compatible_with: .*/, 'compatible_with: ["0.2"]').replace("/v0.2/manifest.yaml", "/v0.3/manifest.yaml"));
    await editFile(join(v03, "records", "protocol.yaml"), (t) => t.replace('"0.2"', '"0.3"'));
    const cli = (args: string[], input = "") => runCli([...args], { cwd: root, input });
    expect(cli(["generate"]).status).toBe(0);
    expect(cli(["versions"]).stdout).toContain("v0.3  compatible with: v0.2");
    expect(cli(["validate", "v0.3", "-"]).status).toBe(0);
    const gap = cli(["migrate", "v0.2", "v0.3", "-"]);
    expect([gap.status, gap.stderr]).toEqual([2, expect.stringContaining("ONEX_E_NO_PATH: no transform connects v0.2 and v0.3")]);

    await writeFile(join(v03, "from-0.2.yaml"), "from: \"0.2\"\n");
    const misnamed = cli(["generate"]);
    expect([misnamed.status, misnamed.stderr]).toEqual([3, expect.stringContaining("ONEX_E_TRANSFORM_INVALID: schemas/v0.3/from-0.2.yaml: a transform file is named from-v<older version>.yaml (here from-v0.2.yaml)")]);
  });
});

describe("onex check", () => {
  it("samples every type through every transform and finds them sound", () => {
    const result = runCli(["check", "--samples", "25", "--seed", "7"]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/transforms sound: \d+ type\/direction pairs and \d+ type\/composed-path pairs x 25 samples validated and round-tripped \(seed 7/);
  });
});
