/** `onex asyncapi` and `onex generate --asyncapi` on the built CLI (run `npm run build` first, as `npm test` does). */
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { GENERATED_MARKER } from "../../generator/writer.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { BUNDLED_VERSION_FOLDERS } from "../support/bundled-versions.js";

afterAll(removeTempDirs);

describe("onex asyncapi", () => {
  it("prints the YAML document of a version, the same on every run", () => {
    const first = runCli(["asyncapi", "v0.2"]);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    const doc = parseYaml(first.stdout) as { asyncapi: string; info: { version: string } };
    expect(doc).toMatchObject({ asyncapi: "3.0.0", info: { version: "0.2" } });
    expect(runCli(["asyncapi", "0.2"]).stdout).toBe(first.stdout);
  });

  it("writes JSON to --out, the format taken from the extension, and names the server given", async () => {
    const out = join(await tempDir(), "asyncapi-v0.1.json");
    const result = runCli(["asyncapi", "v0.1", "--out", out, "--server", "nats.example.org:4222"]);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(`wrote ${out}`);
    const doc = JSON.parse(await readFile(out, "utf8")) as { servers: { nats: { host: string } } };
    expect(doc.servers.nats.host).toBe("nats.example.org:4222");

    const again = runCli(["asyncapi", "v0.1", "--out", out]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^error ONEX_E_FILE_EXISTS: .*exists; pass --force to replace it/);
    expect(runCli(["asyncapi", "v0.1", "--out", out, "--force"]).status).toBe(0);
    expect(JSON.parse(await readFile(out, "utf8"))).toMatchObject({ servers: { nats: { host: "localhost:4222" } } });
    // The extension in capitals names JSON too.
    const upper = join(dirname(out), "ASYNCAPI.JSON");
    expect(runCli(["asyncapi", "v0.1", "--out", upper]).status).toBe(0);
    expect(JSON.parse(await readFile(upper, "utf8"))).toMatchObject({ asyncapi: "3.0.0" });
  });

  it("exits 2 with ONEX_E_UNKNOWN_VERSION and no stack trace for an unknown version", () => {
    const result = runCli(["asyncapi", "v7"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^error ONEX_E_UNKNOWN_VERSION: unknown protocol version "v7"/);
    expect(result.stderr).toContain(`(known: ${BUNDLED_VERSION_FOLDERS.join(", ")})`);
    expect(result.stderr).not.toContain("    at ");
  });

  it("exits 2 for a format it does not write", () => {
    const result = runCli(["asyncapi", "v0.2", "--format", "xml"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("ONEX_E_USAGE");
  });
});

describe("the YAML document", () => {
  it("reads back in YAML 1.1 as the JSON document: line separators, NEL, words and dates YAML 1.1 types, and 1e+21", async () => {
    const { root, schemas } = await copySchemas();
    const file = join(schemas, "v0.2", "messages", "agent-started.yaml");
    const schema = (await readFile(file, "utf8"))
      .replace("description: An agent started on a node.", 'description: "An agent started\\u2028on a node,\\u0085its capabilities\\nlisted below."')
      .replace("properties:\n", 'properties:\n  weight:\n    type: number\n    maximum: 1e21\n  mood:\n    enum: ["yes", "2026-12-07", "1:20", "017"]\n');
    await writeFile(file, schema);
    const yaml = runCli(["asyncapi", "v0.2", "--schemas", schemas], { cwd: root });
    const json = runCli(["asyncapi", "v0.2", "--schemas", schemas, "--format", "json"], { cwd: root });
    expect([yaml.status, json.status, yaml.stderr]).toEqual([0, 0, ""]);
    const expected = JSON.parse(json.stdout) as unknown;
    expect(JSON.stringify(expected)).toContain('"maximum":1e+21');
    expect(yaml.stdout).not.toMatch(/[\u2028\u0085]/);
    for (const version of ["1.1", "1.2"] as const) expect([version, parseYaml(yaml.stdout, { version })]).toEqual([version, expected]);
  });
});

describe("a property named __proto__", () => {
  it("is refused with ONEX_E_RESERVED_NAME at its key by asyncapi, docs and generate alike, not dropped by one and failed on by another", async () => {
    const { root, schemas, out } = await copySchemas();
    const file = join(schemas, "v0.2", "messages", "agent-started.yaml");
    await writeFile(file, `${(await readFile(file, "utf8")).replace("capabilities]", "capabilities, __proto__]")}  __proto__:\n    type: string\n`);
    for (const args of [["asyncapi", "v0.2"], ["docs", "--out", join(root, "site")], ["generate", "--out", out]]) {
      const result = runCli([...args, "--schemas", schemas], { cwd: root });
      expect([args[0], result.status, result.stderr]).toEqual([args[0], 3, expect.stringMatching(/^error ONEX_E_RESERVED_NAME: .*agent-started\.yaml:\d+:3: key "__proto__" is reserved/)]);
    }
  });
});

describe("onex generate --asyncapi", () => {
  it("writes v<version>/asyncapi.yaml beside the SDK, and --check without the option calls it extra", async () => {
    const { root, schemas, out } = await copySchemas();
    const generated = runCli(["generate", "--schemas", schemas, "--out", out, "--asyncapi", "yaml"], { cwd: root });
    expect(generated.status).toBe(0);
    for (const version of BUNDLED_VERSION_FOLDERS) {
      const text = await readFile(join(out, version, "asyncapi.yaml"), "utf8");
      expect(text.slice(0, 200)).toContain(GENERATED_MARKER);
      // The same document `onex asyncapi` prints, apart from the command it names.
      const alone = runCli(["asyncapi", version, "--schemas", schemas], { cwd: root }).stdout;
      expect(text).toBe(alone.replace("Code generated by `onex asyncapi`", "Code generated by `onex generate`"));
    }
    expect(runCli(["generate", "--schemas", schemas, "--out", out, "--asyncapi", "yaml", "--check"], { cwd: root }).status).toBe(0);
    const check = runCli(["generate", "--schemas", schemas, "--out", out, "--check"], { cwd: root });
    expect(check.status).toBe(1);
    expect(check.stdout).toContain("extra   ");
    expect(check.stdout).toContain("/v0.2/asyncapi.yaml");
  });
});
