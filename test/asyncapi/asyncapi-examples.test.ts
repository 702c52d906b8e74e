// The example message of each type is derived from the schemas: ordinary string constraints
// must give an example quickly, and a field no example can be found for must be a user's
// error naming the field (exit 3), never a hang or ONEX_E_INTERNAL.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { versionAsyncApi } from "../../generator/asyncapi/version-asyncapi.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

const PAYLOAD = join("v0.2", "messages", "agent-started.yaml");

/** A copy of the bundled schemas whose AgentStarted payload requires `fields` besides its own. */
async function withRequiredFields(fields: Record<string, unknown>, records: Record<string, unknown> = {}): Promise<string> {
  const { schemas } = await copySchemas();
  const payload = parseYaml(await readFile(join(schemas, PAYLOAD), "utf8")) as { properties: Record<string, unknown>; required: string[] };
  Object.assign(payload.properties, fields);
  payload.required.push(...Object.keys(fields));
  await writeFile(join(schemas, PAYLOAD), stringify(payload));
  if (Object.keys(records).length > 0) {
    const manifestFile = join(schemas, "v0.2", "manifest.yaml");
    const manifest = parseYaml(await readFile(manifestFile, "utf8")) as { records: Record<string, string> };
    for (const [name, schema] of Object.entries(records)) {
      manifest.records[name] = `records/${name.toLowerCase()}.yaml`;
      await writeFile(join(schemas, "v0.2", "records", `${name.toLowerCase()}.yaml`), stringify(schema));
    }
    await writeFile(manifestFile, stringify(manifest));
  }
  return schemas;
}

async function examplePayload(schemas: string): Promise<Record<string, unknown>> {
  const doc = JSON.parse(await versionAsyncApi(schemas, "v0.2", "json")) as { components: { messages: Record<string, { examples: { payload: { payload: Record<string, unknown> } }[] }> } };
  return doc.components.messages.AgentStarted!.examples[0]!.payload.payload;
}

describe("example strings", () => {
  it("meet a pattern with a minimum length, a Unicode property class and a lookahead, and the CLI finishes", () => {
    // Run through the CLI: before, the first of these looped forever, which no in-process timeout can stop.
    return withRequiredFields({
      fingerprint: { type: "string", pattern: "^[0-9a-f]+$", minLength: 64 },
      display_name: { type: "string", pattern: "^\\p{L}+$" },
      code: { type: "string", pattern: "^(?=[a-z])[a-z0-9]+$", maxLength: 4 },
    }).then((schemas) => {
      const cli = runCli(["asyncapi", "v0.2", "--schemas", schemas, "--format", "json"]);
      expect([cli.status, cli.stderr]).toEqual([0, ""]);
      const payload = (JSON.parse(cli.stdout) as { components: { messages: { AgentStarted: { examples: { payload: { payload: Record<string, string> } }[] } } } }).components.messages.AgentStarted.examples[0]!.payload.payload;
      expect(payload.fingerprint).toMatch(/^[0-9a-f]{64}$/u);
      expect(payload.display_name).toMatch(/^\p{L}+$/u);
      expect(payload.code).toMatch(/^(?=[a-z])[a-z0-9]{1,4}$/u);
    });
  }, 90_000);

  it("follow a chain of 16 records each requiring the next", async () => {
    const records: Record<string, unknown> = {};
    for (let i = 0; i < 16; i++) records[`R${i}`] = { type: "object", required: ["next"], properties: { next: i < 15 ? { $ref: `r${i + 1}.yaml` } : { type: "string" } } };
    const schemas = await withRequiredFields({ chain: { $ref: "../records/r0.yaml" } }, records);
    let node: unknown = (await examplePayload(schemas)).chain;
    for (let i = 0; i < 15; i++) node = (node as { next: unknown }).next;
    expect((node as { next: unknown }).next).toBe("next-1");
  });

  it("are refused with ONEX_E_ASYNCAPI_UNSUPPORTED naming the field when no string can be found (a backreference, an impossible length), and the CLI exits 3", async () => {
    for (const [field, schema] of [
      ["pair", { type: "string", pattern: "^(a)\\1$" }],
      ["short_hex", { type: "string", pattern: "^[0-9a-f]{8}$", minLength: 64 }],
    ] as const) {
      const schemas = await withRequiredFields({ [field]: schema });
      await expect(versionAsyncApi(schemas, "v0.2", "yaml")).rejects.toMatchObject({
        code: ErrorCode.AsyncApiUnsupported,
        message: expect.stringMatching(new RegExp(`example of AgentStarted: onex found no string for field "${field}" .*give the field an \`examples\` value`)),
      });
    }
    const schemas = await withRequiredFields({ pair: { type: "string", pattern: "^(a)\\1$" } });
    const cli = runCli(["asyncapi", "v0.2", "--schemas", schemas]);
    expect([cli.status, cli.stderr]).toEqual([3, expect.stringContaining(`error ${ErrorCode.AsyncApiUnsupported}: example of AgentStarted`)]);
    // With an example given, the field is no longer a problem.
    const given = await withRequiredFields({ pair: { type: "string", pattern: "^(a)\\1$", examples: ["aa"] } });
    expect((await examplePayload(given)).pair).toBe("aa");
  });

  it("refuse a record that requires itself with ONEX_E_ASYNCAPI_UNSUPPORTED, not ONEX_E_INTERNAL", async () => {
    const schemas = await withRequiredFields({ loop: { $ref: "../records/loop.yaml" } }, { Loop: { type: "object", required: ["again"], properties: { again: { $ref: "loop.yaml" } } } });
    await expect(versionAsyncApi(schemas, "v0.2", "yaml")).rejects.toMatchObject({
      code: ErrorCode.AsyncApiUnsupported,
      message: expect.stringContaining('field "again" requires Loop again inside itself'),
    });
  });
});
