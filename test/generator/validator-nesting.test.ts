/**
 * onex compiles validators with ajv but does not evaluate the code of most of them (see
 * emit-validators.ts): a validator that could nest too deep for V8's parser must still be
 * evaluated, so it is refused at generation, with its file, instead of when the SDK is imported.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { copySchemas, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

/** An object schema of `count` string properties whose last one is `inner`: ajv nests one block per property. */
function chain(count: number, inner?: object): object {
  const properties: Record<string, object> = {};
  for (let i = 0; i < count; i++) properties[`f${i}`] = { type: "string" };
  if (inner) properties.inner = inner;
  return { type: "object", additionalProperties: false, properties };
}

describe("validators nested too deep to parse", () => {
  it("are refused with ONEX_E_SCHEMA_TOO_LARGE at the payload's file, though each object stays within the limits", async () => {
    const { schemas, out } = await copySchemas();
    // Three objects of 900 properties, one inside the next: within MAX_PROPERTIES and MAX_DEPTH, too deep for the parser.
    const payload = { $schema: "https://json-schema.org/draft/2020-12/schema", description: "A node reports (or is reported) failed.", ...chain(900, chain(900, chain(900))) };
    await writeFile(join(schemas, "v0.1/messages/node-failed.yaml"), JSON.stringify(payload));
    const error = await generate({ schemasDir: schemas, outDir: out }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).code).toBe(ErrorCode.SchemaTooLarge);
    expect((error as OnexError).message).toMatch(/node-failed\.yaml:\d+:\d+: schema NodeFailedPayload is too large/);
  }, 60_000);
});
