/** The schema indexes of the bundled protocol versions (`v<version>/index.json`), shipped in `@onex/sdk`. */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readSchemaIndex, type SchemaIndex } from "@onex/runtime/negotiation";
import { versions } from "@onex/sdk/versions";

const SDK_ROOT = dirname(createRequire(import.meta.url).resolve("@onex/sdk/package.json"));

/** Reads (and checks) every bundled version's schema index, oldest first. */
export function loadBundledIndexes(): Promise<SchemaIndex[]> {
  return Promise.all(Object.keys(versions).map((v) => readSchemaIndex(join(SDK_ROOT, `v${v}`, "index.json"))));
}
