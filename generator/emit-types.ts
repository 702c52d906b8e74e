/**
 * TypeScript types with json-schema-to-typescript. All named schemas of a version go
 * through one call as `$defs` of a single root, so each gets exactly one type named after
 * its manifest key and references become imports of that one type, never copies.
 */
import { compile } from "json-schema-to-typescript";
import { ErrorCode, OnexError } from "@onex/runtime";
import { SDK_TYPE_NAMES, type JsonSchema, type VersionModel } from "./model.js";
import { mapSchemaRefs } from "./model-refs.js";
import { checkNestedNames, nameNestedSchemas, type NestedName } from "./type-names.js";
import { pascalCase } from "./views.js";

/** The name of the union of all message data types in types.ts. */
export const ANY_MESSAGE_DATA = "AnyMessageData";

/** types.ts: its body (without header) and the names of the nested types it declares, sorted. */
export interface EmittedTypes {
  source: string;
  nestedNames: string[];
}

/** Emits the body of types.ts (without header). */
export async function emitTypes(model: VersionModel): Promise<EmittedTypes> {
  const $defs: Record<string, JsonSchema> = {};
  const nested: NestedName[] = [];
  for (const s of model.schemas) {
    // The title is what names the type: the root keeps its manifest name, nested schemas get their path's.
    $defs[s.name] = { ...nameNestedSchemas(toLocalRefs(s.schema), s.name, nested), title: s.name };
  }
  checkNestedNames(nested, [
    ...model.schemas.map((s) => s.name),
    ...model.messages.flatMap((m) => [`${m.name}Init`, `${m.name}Data`]),
    ...model.subjects.map((s) => `${pascalCase(s.key)}SubjectParts`),
    ...SDK_TYPE_NAMES,
  ]);
  $defs[ANY_MESSAGE_DATA] = {
    title: ANY_MESSAGE_DATA,
    description: `Any message of protocol v${model.version}, as plain data.`,
    anyOf: model.messages.map((m) => ({ $ref: `#/$defs/${m.name}` })),
  };
  // json-schema-to-typescript emits unreferenced `$defs` only under an object root; the
  // root itself is an empty placeholder interface that is dropped below.
  const root: JsonSchema = { title: ROOT, type: "object", additionalProperties: false, $defs };
  let source: string;
  try {
    source = await compile(root as never, ROOT, {
      bannerComment: "",
      format: false,
      unreachableDefinitions: true,
      declareExternallyReferenced: true,
      strictIndexSignatures: true,
      $refOptions: { resolve: { external: false } } as never,
    });
  } catch (cause) {
    if (cause instanceof RangeError) {
      // Ref cycles are refused before this point, so a stack overflow here means sheer size.
      throw new OnexError(ErrorCode.SchemaTooLarge, `${model.manifestFile}: the schemas of v${model.version} are too large or too deeply nested for onex to generate types for; split large schemas into records`, { file: model.manifestFile, version: model.version }, { cause });
    }
    throw new OnexError(ErrorCode.SchemaInvalid, `json-schema-to-typescript failed for ${model.manifestFile}: ${(cause as Error).message.split("\n")[0]}`, { file: model.manifestFile, version: model.version }, { cause });
  }
  const body = indentTypeScript(dropRootArtifacts(source));
  // json-schema-to-typescript numbers a name it sees twice (`Trust1`): every declared name
  // must be one given above, or the output is not what the manifest says.
  const expected = new Set([...model.schemas.map((s) => s.name), ...nested.map((n) => n.name), ANY_MESSAGE_DATA]);
  const unexpected = [...body.matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]!).filter((n) => !expected.has(n));
  if (unexpected.length > 0) {
    throw new OnexError(ErrorCode.Internal, `json-schema-to-typescript declared types onex did not name (${unexpected.join(", ")}) for ${model.manifestFile}`, { file: model.manifestFile, names: unexpected });
  }
  return { source: body, nestedNames: [...new Set(nested.map((n) => n.name))].sort() };
}

const ROOT = "OnexGeneratedRoot";

function dropRootArtifacts(source: string): string {
  return source
    .replace(new RegExp(`export interface ${ROOT} \\{\\s*\\}\\n?`), "")
    .replace(new RegExp(`\\n?\\s*\\*?\\s*This interface was referenced by \`${ROOT}\`'s JSON-Schema\\n\\s*\\*?\\s*via the \`definition\` "[^"]+"\\.`, "g"), "")
    .replace(/\n\s*\*\s*\n(\s*\*\/)/g, "\n$1")
    .replace(/\/\*\*\s*\*\/\n/g, "");
}

function toLocalRefs(schema: JsonSchema): JsonSchema {
  return mapSchemaRefs(schema, (ref) => {
    const match = /^onex:([A-Za-z0-9]+)(?:#(.*))?$/s.exec(ref);
    return match ? `#/$defs/${match[1]!}${match[2] ?? ""}` : ref;
  });
}

/**
 * Indents json-schema-to-typescript's unformatted output by brace depth. Running Prettier
 * per schema is what makes that tool slow; the output is simple enough for this.
 */
export function indentTypeScript(source: string): string {
  let depth = 0;
  const out: string[] = [];
  for (const raw of source.split("\n")) {
    const line = raw.trim();
    if (line === "") {
      if (out.length > 0 && out[out.length - 1] !== "") out.push("");
      continue;
    }
    const code = line.startsWith("*") || line.startsWith("/*") || line.startsWith("//") ? "" : stripStrings(line);
    const closesFirst = /^[}\])]/.test(code) ? 1 : 0;
    const indent = Math.max(0, depth - closesFirst);
    out.push("  ".repeat(indent) + (line.startsWith("*") ? " " + line : line));
    depth = Math.max(0, depth + count(code, /[{[(]/g) - count(code, /[}\])]/g));
    if (depth === 0 && closesFirst) out.push(""); // a blank line after each top-level declaration
  }
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out.join("\n") + "\n";
}

function stripStrings(line: string): string {
  return line.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}
