/** The schema indexes of the bundled protocol versions (`generated/v<version>/index.json`), shipped in the package. */
import { join } from "node:path";
import { versions } from "../generated/versions.js";
import { PACKAGE_ROOT } from "../generator/package-root.js";
import { readSchemaIndex, type SchemaIndex } from "../runtime/negotiation/schema-index.js";

/** Reads (and checks) every bundled version's schema index, oldest first. */
export function loadBundledIndexes(): Promise<SchemaIndex[]> {
  return Promise.all(Object.keys(versions).map((v) => readSchemaIndex(join(PACKAGE_ROOT, "generated", `v${v}`, "index.json"))));
}
