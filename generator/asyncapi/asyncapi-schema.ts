/**
 * Model schemas (JSON Schema 2020-12, refs in `onex:<Name>#<pointer>` form) as AsyncAPI
 * Schema Objects, the payload format every AsyncAPI 3.0 tool reads (a superset of JSON
 * Schema draft-07).
 *
 * Why not declare the payloads as 2020-12: `@asyncapi/parser` has no 2020-12 schema parser
 * and warns on that schemaFormat, and Modelina, Studio and the html-template read draft-07.
 * The keywords onex schemas use are the same in both drafts except for names, so each
 * schema is translated keyword for keyword (`dependentRequired` and `dependentSchemas`
 * become draft-07 `dependencies`, `$defs` becomes `definitions`) and accepts exactly what
 * the original accepts. A keyword with no draft-07 equivalent is refused rather than
 * dropped, since dropping it would silently widen the contract.
 */
import type { Ajv2020 } from "ajv/dist/2020.js";
import { ErrorCode, OnexError } from "@onex/runtime";
import { createAjv } from "../meta-schema.js";
import type { JsonSchema } from "../model.js";
import { pascalCase } from "../views.js";
import { pointerSegments } from "../yaml-file.js";

/** Where the bundled schemas live inside the document. */
export const SCHEMAS_POINTER = "#/components/schemas/";

/** 2020-12 keywords whose meaning draft-07 cannot express. */
const NO_DRAFT_07_EQUIVALENT = new Set([
  "prefixItems",
  "unevaluatedProperties",
  "unevaluatedItems",
  "$dynamicRef",
  "$dynamicAnchor",
  "$anchor",
  "$vocabulary",
  "minContains",
  "maxContains",
]);

/** Keywords whose value is one schema. */
const SCHEMA_VALUED = new Set(["items", "additionalItems", "additionalProperties", "propertyNames", "contains", "not", "if", "then", "else"]);
/** Keywords whose value is a map of name -> schema. */
const SCHEMA_MAP_VALUED = new Set(["properties", "patternProperties", "$defs", "definitions"]);
/** Keywords whose value is a list of schemas. */
const SCHEMA_LIST_VALUED = new Set(["allOf", "anyOf", "oneOf"]);

/**
 * Translates one model schema named `name` (`NodeRegisterPayload`); refs point into
 * `#/components/schemas/`.
 *
 * Every object and enum schema gets a `title` made from the manifest name and the property
 * path (`NodeRegisterPayloadBuild`, `TrustLevel`): code generators such as Modelina name
 * their types after it, and without it users get `AnonymousSchema_18`. A schema's own
 * `title` is left out, so no other name can reach them.
 */
export function toAsyncApiSchema(schema: JsonSchema, name: string): JsonSchema {
  const where = name;
  const walk = (node: JsonSchema, path: string, title = titleAt(name, path)): JsonSchema => {
    const out: JsonSchema = {};
    if (typeof node.$ref !== "string" && (isObject(node.properties) || Array.isArray(node.enum))) out.title = title;
    for (const [key, value] of Object.entries(node)) {
      const at = `${path}/${key}`;
      refuseUnknownKeyword(where, path, at, key);
      // Only path titles name types, as in onex generate (type-names.ts): a schema's own title
      // could give a payload field the name of a record (`title: Trust`), and code generators
      // would then emit one of the two shapes under that name for both.
      if (key === "title") continue;
      if (NO_DRAFT_07_EQUIVALENT.has(key)) {
        throw new OnexError(
          ErrorCode.AsyncApiUnsupported,
          `${where}${path || "/"} uses "${key}", which has no equivalent in the AsyncAPI Schema Object (JSON Schema draft-07); onex asyncapi will not drop it and widen the contract`,
          { schema: where, pointer: at, keyword: key },
        );
      }
      if (key === "$ref" && typeof value === "string") out.$ref = refOf(value);
      else if (key === "$defs" || key === "definitions") out.definitions = mergeDefinitions(out.definitions as JsonSchema | undefined, mapOfSchemas(value, at), at);
      else if (key === "dependentRequired" || key === "dependentSchemas" || key === "dependencies") {
        out.dependencies = mergeDependencies(out.dependencies as JsonSchema | undefined, mapOfSchemas(value, at));
      } else if (SCHEMA_VALUED.has(key) && isObject(value)) out[key] = walk(value, at);
      else if (SCHEMA_VALUED.has(key) && Array.isArray(value)) out[key] = value.map((item, i) => walk(item as JsonSchema, `${at}/${i}`));
      else if (SCHEMA_MAP_VALUED.has(key)) out[key] = mapOfSchemas(value, at);
      else if (SCHEMA_LIST_VALUED.has(key) && Array.isArray(value)) out[key] = value.map((item, i) => walk(item as JsonSchema, `${at}/${i}`));
      else {
        refuseMisreadData(where, at, value);
        out[key] = value;
      }
    }
    return out;
  };
  // Draft-07 has one keyword where 2020-12 has two or three ($defs and definitions;
  // dependentRequired, dependentSchemas and the older dependencies): the second must not
  // replace what the first said, which would drop a constraint or repoint a $ref.
  const mergeDefinitions = (earlier: JsonSchema | undefined, more: JsonSchema, path: string): JsonSchema => {
    const merged = { ...earlier };
    for (const [name, definition] of Object.entries(more)) {
      if (Object.hasOwn(merged, name)) {
        throw new OnexError(
          ErrorCode.AsyncApiUnsupported,
          `${where}${path.replace(/\/[^/]*$/, "") || "/"} defines "${name}" under both $defs and definitions; draft-07 has only definitions, so one would replace the other and a $ref to it could reach the wrong schema: rename one`,
          { schema: where, pointer: `${path}/${name}`, name },
        );
      }
      merged[name] = definition;
    }
    return merged;
  };
  const mergeDependencies = (earlier: JsonSchema | undefined, more: JsonSchema): JsonSchema => {
    const merged = { ...earlier };
    const asSchema = (dependency: unknown) => (Array.isArray(dependency) ? { required: dependency } : dependency);
    // A property both keywords name gets one entry that demands both.
    for (const [name, dependency] of Object.entries(more)) merged[name] = Object.hasOwn(merged, name) ? { allOf: [asSchema(merged[name]), asSchema(dependency)] } : dependency;
    return merged;
  };
  const mapOfSchemas = (value: unknown, path: string): JsonSchema =>
    Object.fromEntries(
      Object.entries(value as JsonSchema).map(([name, sub]) => {
        refuseMisreadKey(where, `${path}/${name}`, name, "a property or definition name");
        return [name, isObject(sub) ? walk(sub, `${path}/${name}`) : sub];
      }),
    );
  return walk(schema, "");
}

let keywords: Ajv2020 | undefined;

/**
 * Refuses a key at a schema position that is no JSON Schema 2020-12 keyword (`externalDocs`,
 * `x-parser-schema-id`). `onex generate` refuses it too (ajv's strict mode, the same keyword
 * set asked here), but this command would hand it on, and AsyncAPI readers take such keys as
 * their own: the Schema Object's `externalDocs` is shown as a link (a `javascript:` URL runs
 * on a reader's click), and `x-` extensions steer the parser, renderers and code generators.
 */
function refuseUnknownKeyword(schema: string, path: string, pointer: string, key: string): void {
  keywords ??= createAjv();
  // The table ajv's strict mode looks a key up in (annotations such as `description` included).
  if (Object.hasOwn(keywords.RULES.keywords, key)) return;
  throw new OnexError(
    ErrorCode.SchemaInvalid,
    `${schema}${path || "/"} uses "${key}", which is no JSON Schema 2020-12 keyword (onex generate refuses it as unknown); AsyncAPI readers would take it for their own, so it is not handed on: remove it, or say it in "description"`,
    { schema, pointer, keyword: key },
  );
}

/**
 * Keys AsyncAPI readers do not take as plain keys: `$ref` anywhere is a reference to them
 * (@asyncapi/parser follows it, fetching a URL, and fails on a non-string), and `<<` is a YAML
 * merge key (the parser reads JSON as YAML too). Emitted as a name or in data, either would
 * make the document say something the schema does not, so such a key is refused.
 */
const MISREAD_KEYS = new Set(["$ref", "<<"]);

function refuseMisreadKey(schema: string, pointer: string, key: string, what: string): void {
  if (!MISREAD_KEYS.has(key)) return;
  throw new OnexError(
    ErrorCode.AsyncApiUnsupported,
    `${schema}${pointer} uses "${key}" as ${what}; AsyncAPI readers take ${key === "$ref" ? "every $ref key for a reference (and fetch it)" : 'a "<<" key for a YAML merge'}, so the document would not mean what the schema means; rename it`,
    { schema, pointer, key },
  );
}

/** Refuses a misread key anywhere inside keyword data (`const`, `enum`, `default`, `examples`, ...). */
function refuseMisreadData(schema: string, pointer: string, value: unknown): void {
  if (Array.isArray(value)) value.forEach((item, i) => refuseMisreadData(schema, `${pointer}/${i}`, item));
  else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      refuseMisreadKey(schema, `${pointer}/${key}`, key, "a key of data");
      refuseMisreadData(schema, `${pointer}/${key}`, item);
    }
  }
}

/** `onex:Trust` -> `#/components/schemas/Trust`; `onex:X#/$defs/y` -> `#/components/schemas/X/definitions/y`. */
export function refOf(modelRef: string): string {
  const match = /^onex:([^#]+)(?:#(.*))?$/.exec(modelRef);
  if (!match) throw new OnexError(ErrorCode.Internal, `model $ref "${modelRef}" is not in onex:<Name> form`);
  const segments = match[2] ? pointerSegments(match[2]).map((s) => (s === "$defs" ? "definitions" : s === "dependentSchemas" ? "dependencies" : s)) : [];
  return `${SCHEMAS_POINTER}${match[1]}${segments.map((s) => `/${s.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("")}`;
}

/** `NodeRegisterPayload` + `/properties/build/properties/version` -> `NodeRegisterPayloadBuildVersion`. */
function titleAt(name: string, path: string): string {
  const parts = path.split("/").filter((segment, i, all) => segment !== "" && !SCHEMA_MAP_VALUED.has(segment) && !(all[i - 1] && SCHEMA_LIST_VALUED.has(all[i - 1]!)) && !SCHEMA_LIST_VALUED.has(segment));
  const word = (segment: string) => (segment === "items" ? "Item" : segment === "additionalProperties" ? "Value" : pascalCase(segment.replace(/[^A-Za-z0-9_]/g, "_")));
  return name + parts.map(word).join("");
}

function isObject(value: unknown): value is JsonSchema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
