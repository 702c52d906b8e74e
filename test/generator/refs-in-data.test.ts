// A `$ref` member of instance data (const, enum, default, examples) is data the message must
// carry, not a schema reference: loading keeps it as written, so the generated validator's
// const means what the schema says. A property named like a data keyword is still a schema.
// So is a data string that reads like a model-form reference (`onex:Address`): only `$ref`s
// are rewritten when the types and validators are emitted.
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseYaml, stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import { loadVersion } from "../../generator/load-version.js";
import type { JsonSchema } from "../../generator/model.js";
import { copySchemas, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

describe("$ref inside data", () => {
  it("is left as written in const, enum, default and examples, while a property named const keeps its reference resolved", async () => {
    const { root, schemas } = await copySchemas();
    const file = join(schemas, "v0.2", "messages", "agent-started.yaml");
    const payload = parseYaml(await readFile(file, "utf8")) as { properties: Record<string, unknown> };
    const link = { $ref: "../records/address.yaml" };
    payload.properties.schema_link = { type: "object", const: link };
    payload.properties.links = { type: "object", enum: [link], default: link, examples: [link] };
    payload.properties.const = { $ref: "../records/address.yaml" };
    await writeFile(file, stringify(payload));
    const { model } = await loadVersion(schemas, "v0.2", root);
    const properties = model.schemas.find((s) => s.name === "AgentStartedPayload")!.schema.properties as Record<string, JsonSchema>;
    expect(properties.schema_link).toEqual({ type: "object", const: link });
    expect(properties.links).toEqual({ type: "object", enum: [link], default: link, examples: [link] });
    expect(properties.const).toEqual({ $ref: "onex:Address" });
  });

  it("a string of data that reads like a model reference (onex:Address) reaches the type and the validator as written", async () => {
    const { schemas, out } = await copySchemas();
    const file = join(schemas, "v0.2", "messages", "agent-started.yaml");
    const payload = parseYaml(await readFile(file, "utf8")) as { properties: Record<string, unknown> };
    payload.properties.marker = { const: "onex:Address" };
    payload.properties.kind = { enum: ["onex:Trust#/properties/level", "plain"] };
    await writeFile(file, stringify(payload));
    await generate({ schemasDir: schemas, outDir: out });
    const types = await readFile(join(out, "v0.2", "types.ts"), "utf8");
    expect(types).toContain('marker?: "onex:Address"');
    expect(types).toContain('kind?: ("onex:Trust#/properties/level" | "plain")');
    const validators = (await import(pathToFileURL(join(out, "v0.2", "validators.ts")).href)) as Record<string, (value: unknown) => boolean>;
    const example = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8").split("\n").find((l) => l.includes('"event.agent.started"'))!;
    const withPayload = (extra: object) => {
      const message = JSON.parse(example) as { payload: object };
      return { ...message, payload: { ...message.payload, ...extra } };
    };
    expect(validators.AgentStarted!(withPayload({ marker: "onex:Address", kind: "onex:Trust#/properties/level" }))).toBe(true);
    // What the text rewrite had made of them: the schema id, and the types' local reference.
    expect(validators.AgentStarted!(withPayload({ marker: "https://onex.dev/schemas/v0.2/Address.json" }))).toBe(false);
    expect(validators.AgentStarted!(withPayload({ kind: "https://onex.dev/schemas/v0.2/Trust.json#/properties/level" }))).toBe(false);
  }, 60_000);
});
