// A `$ref` member of instance data (const, enum, default, examples) is data the message must
// carry, not a schema reference: loading keeps it as written, so the generated validator's
// const means what the schema says. A property named like a data keyword is still a schema.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { loadVersion } from "../../generator/load-version.js";
import type { JsonSchema } from "../../generator/model.js";
import { copySchemas, removeTempDirs } from "../support/temp-schemas.js";

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
});
