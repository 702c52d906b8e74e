/**
 * What every v0.3 the tests grow from the bundled v0.2 starts from, as a protocol team starts
 * one: the project trimmed back to v0.2, v0.2 copied as v0.3 with its manifest's version,
 * compatibility, URL and changelog, and the escape-hatch lenses of the envelope's `protocol`
 * block (as schemas/v0.2/from-v0.1.ts has them for v0.2). Each test then makes its own changes.
 */
import { cp, rm } from "node:fs/promises";
import { join } from "node:path";
import { compareVersions, versionsIn } from "../../generator/protocol-versions.js";
import { editFile } from "./temp-schemas.js";

/** Leaves `schemas` as the project was at v0.2, whatever versions the bundled schemas have gained since. */
export async function trimToV02(schemas: string): Promise<void> {
  for (const v of await versionsIn(schemas)) if (compareVersions(v, "0.2") > 0) await rm(join(schemas, `v${v}`), { recursive: true });
}

/**
 * Copies v0.2 as `schemas/v0.3` (without v0.2's transform from v0.1), its manifest naming v0.3
 * and `changes` as its changelog; returns the folder. Trims `schemas` to v0.2 first: a copy
 * over a v0.3 the project bundles would keep that v0.3's other files.
 */
export async function copyV02AsV03(schemas: string, changes: readonly [change: string, why: string][]): Promise<string> {
  await trimToV02(schemas);
  const v03 = join(schemas, "v0.3");
  await cp(join(schemas, "v0.2"), v03, { recursive: true });
  await rm(join(v03, "from-v0.1.yaml"));
  await rm(join(v03, "from-v0.1.ts"));
  await editFile(join(v03, "manifest.yaml"), (text) =>
    text
      .replace('version: "0.2"', 'version: "0.3"')
      .replace('compatible_with: ["0.1"]', 'compatible_with: ["0.2"]')
      .replace("https://onex.dev/schemas/v0.2/manifest.yaml", "https://onex.dev/schemas/v0.3/manifest.yaml")
      .replace(/changelog:\n(?: {2}- change:.*\n {4}why:.*\n)+/, ["changelog:", ...changes.flatMap(([change, why]) => [`  - change: ${JSON.stringify(change)}`, `    why: ${JSON.stringify(why)}`]), ""].join("\n")),
  );
  return v03;
}

/** The text of v0.3's `from-v0.2.ts` up to the lenses a test adds of its own. */
export const PROTOCOL_LENSES = `/** Escape-hatch lenses of the v0.2 -> v0.3 transform (named in from-v0.2.yaml). */
import { jsonEqual, type JsonObject, type LensContext } from "@onex/runtime/codegen-v1";

/** v0.2 \`protocol\` block -> v0.3 block. */
export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);
  return undefined;
}

/** v0.3 \`protocol\` block -> v0.2 block. */
export function protocolDown(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);
  return undefined;
}

function swapProtocol(block: JsonObject, context: LensContext): JsonObject {
  const source = context.sourceProtocol();
  const target = context.targetProtocol();
  if (jsonEqual(block, source)) return target;
  const renamed = { ...block, version: target.version };
  if (jsonEqual(renamed, target)) return { ...source, version: target.version };
  return renamed;
}
`;
