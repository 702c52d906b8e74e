/**
 * Emitting generated/transforms/: one adapter module per adjacent version pair, a copy of
 * each pair's escape-hatch functions, and the version graph (index.ts).
 */
import { createHash } from "node:crypto";
import type { VersionModel } from "../model.js";
import type { RenderFn } from "../templates.js";
import { compileConversion, compileConvertHelpers, invertLenses } from "./compile-lenses.js";
import type { TransformModel } from "./load-transforms.js";

/** Templates this emitter renders (besides the header). */
export const TRANSFORM_TEMPLATES = ["transform-pair.ts.hbs", "transforms-index.ts.hbs"] as const;

/** `0.0.9` -> `V0_0_9`, the version part of adapter names. */
export function versionIdent(version: string): string {
  return `V${version.replace(/\./g, "_")}`;
}

/** `migrateV0_2ToV0_1`: the adapter object of one direction. */
export function adapterName(from: string, to: string): string {
  return `migrate${versionIdent(from)}To${versionIdent(to)}`;
}

/** Files under transforms/ (relative path -> content) for `transforms` between `models`. */
export function emitTransforms(transforms: readonly TransformModel[], models: readonly VersionModel[], render: RenderFn, runtimeImport: string): Map<string, string> {
  const files = new Map<string, string>();
  const byVersion = new Map(models.map((m) => [m.version, m]));
  const pairs = transforms.map((t, index) => {
    const older = byVersion.get(t.from)!;
    const newer = byVersion.get(t.to)!;
    const pairId = `${older.id}-${newer.id}`;
    const hash = createHash("sha256").update(`${older.hash}\0${newer.hash}\0${t.text}`).digest("hex");
    const header = { manifestFile: t.file, hash };
    if (t.functions) {
      const lensHeader = render("header.hbs", { manifestFile: t.functions.file, hash }).replace(/\n+$/, "");
      files.set(`transforms/lenses/${pairId}.ts`, `${lensHeader}\n${t.functions.source}`);
    }
    const helpers: string[] = [];
    const types = [...t.types].map(([type, own], i) => {
      const message = newer.messages.find((m) => m.type === type)!;
      const upLenses = [...t.envelope, ...own];
      const prefix = `t${i}`;
      helpers.push(...compileConvertHelpers(upLenses, prefix));
      const names = (context: string) => ({ functions: "lensFunctions", context });
      return {
        type,
        name: message.name,
        // A message class may be renamed between versions (its type stays): each side by its own name.
        olderName: older.messages.find((m) => m.type === type)!.name,
        method: message.name.charAt(0).toLowerCase() + message.name.slice(1),
        // `pair` + the PascalCase name: one name per message, and none the template declares
        // itself. SCREAMING_CASE made `UpCONTEXT` the template's UP_CONTEXT, and `ABc` and `ABC` one
        // constant: a module that generated without a word and then did not load.
        constName: `pair${message.name}`,
        up: indent(compileConversion(upLenses, names("UP_CONTEXT"), prefix, "up")),
        down: indent(compileConversion(invertLenses(upLenses), names("DOWN_CONTEXT"), prefix, "down")),
      };
    });
    const view = {
      ...header,
      file: t.file,
      runtimeImport,
      older: t.from,
      newer: t.to,
      olderId: older.id,
      newerId: newer.id,
      pairId,
      alias: `pair${index}`,
      functionsModule: Boolean(t.functions),
      helpers,
      types,
      upName: adapterName(t.from, t.to),
      downName: adapterName(t.to, t.from),
      newTypes: t.newTypes,
      removedTypes: t.removedTypes,
    };
    files.set(`transforms/${pairId}.ts`, render("transform-pair.ts.hbs", view));
    return view;
  });

  const combined = createHash("sha256");
  for (const p of pairs) combined.update(`${p.pairId}\0${p.hash}\0`);
  const versions = models.map((m) => ({
    version: m.version,
    id: m.id,
    alias: versionIdent(m.version).toLowerCase(),
    messages: m.messages.map((msg) => ({ type: msg.type, name: msg.name })),
  }));
  files.set(
    "transforms/index.ts",
    render("transforms-index.ts.hbs", {
      manifestFile: "schemas/*/from-*.yaml",
      hash: combined.digest("hex"),
      runtimeImport,
      versions,
      versionList: models.map((m) => m.version),
      first: models[0]?.version ?? "",
      last: models.at(-1)?.version ?? "",
      pairs,
    }),
  );
  return files;
}

function indent(body: string): string {
  return body
    .split("\n")
    .map((line) => (line === "" ? line : `  ${line}`))
    .join("\n");
}
