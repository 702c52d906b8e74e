/**
 * TypeScript types with json-schema-to-typescript. All named schemas of a version go
 * through one call as `$defs` of a single root, so each gets exactly one type named after
 * its manifest key and references become imports of that one type, never copies.
 */
import { compile } from "json-schema-to-typescript";
import { ErrorCode, OnexError } from "../runtime/errors.js";
import type { JsonSchema, VersionModel } from "./model.js";

/** The name of the union of all message data types in types.ts. */
export const ANY_MESSAGE_DATA = "AnyMessageData";

/** Emits the body of types.ts (without header). */
export async function emitTypes(model: VersionModel): Promise<string> {
  const $defs: Record<string, JsonSchema> = {};
  for (const s of model.schemas) {
    // The title is what names the type; nested titles would mint extra names, so only the root keeps one.
    $defs[s.name] = { ...(stripTitles(toLocalRefs(s.schema)) as JsonSchema), title: s.name };
  }
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
  return indentTypeScript(dropRootArtifacts(source));
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
  return JSON.parse(
    JSON.stringify(schema).replace(/"onex:([A-Za-z0-9]+)(?:#([^"]*))?"/g, (_m, target: string, pointer: string | undefined) =>
      JSON.stringify(`#/$defs/${target}${pointer ?? ""}`),
    ),
  ) as JsonSchema;
}

function stripTitles(node: unknown): never {
  if (Array.isArray(node)) return node.map(stripTitles) as never;
  if (node === null || typeof node !== "object") return node as never;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "title" && typeof value === "string") continue;
    // `properties` maps names to schemas; a property *named* title must survive.
    out[key] = key === "properties" ? mapValues(value as JsonSchema, stripTitles) : stripTitles(value);
  }
  return out as never;
}

function mapValues(record: JsonSchema, fn: (v: unknown) => unknown): JsonSchema {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]));
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
