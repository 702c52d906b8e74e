/**
 * Checks of one schema file that ajv either reports badly (an invalid regex at 1:1, a huge
 * object as a stack overflow with the generated code attached) or not at all (a draft-07
 * `$schema`, which ajv 2020 would read with 2020-12 meanings). Each problem is located at the
 * key or value that causes it.
 */
import { ErrorCode } from "@onex/runtime";
import { analyse } from "scslre";
import type { Problems } from "./problems.js";
import type { YamlFile } from "./yaml-file.js";

/** The dialect every onex schema is read as. */
export const JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema";

/**
 * Properties one object may list. ajv's generated validator nests a block per property and
 * overflows the stack somewhere between 1,800 and 2,100 of them; the limit keeps a margin.
 */
export const MAX_PROPERTIES = 1000;
/** Nesting of subschemas inside one file. */
export const MAX_DEPTH = 32;
/** Subschemas (objects) in one file. */
export const MAX_SCHEMA_NODES = 20000;

type Path = (string | number)[];

/** Keywords whose value maps names to subschemas: a key there is a name, never a keyword. */
const NAME_MAPS = new Set(["properties", "patternProperties", "dependentSchemas", "$defs", "definitions"]);

/** Reports every dialect, regex and size problem of `yaml` (a schema file) into `problems`. */
export function checkSchemaFile(yaml: YamlFile, problems: Problems): void {
  const root = yaml.value as Record<string, unknown>;
  const at = (path: Path, key = false) => (key ? yaml.locateKey(path) : yaml.locate(path));
  const report = (code: ErrorCode, path: Path, message: string, key = false) => {
    const where = at(path, key);
    problems.add(code, { file: where.file, line: where.line, column: where.column }, message);
  };

  const dialect = root.$schema;
  if (dialect !== undefined && (typeof dialect !== "string" || dialect.replace(/#$/, "") !== JSON_SCHEMA_2020_12)) {
    report(
      ErrorCode.SchemaInvalid,
      ["$schema"],
      `$schema ${JSON.stringify(dialect)} is not JSON Schema 2020-12; onex reads every schema as ${JSON_SCHEMA_2020_12}, where keywords such as items, dependencies and $ref siblings mean other things. Port the schema and declare ${JSON_SCHEMA_2020_12}`,
    );
  }

  let nodes = 0;
  let tooMany = false;
  const visit = (node: unknown, path: Path, depth: number): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, [...path, i], depth));
      return;
    }
    if (node === null || typeof node !== "object") return;
    if (++nodes > MAX_SCHEMA_NODES && !tooMany) {
      tooMany = true;
      report(ErrorCode.SchemaTooLarge, [], `the schema has more than ${MAX_SCHEMA_NODES} subschemas; split it into records`);
    }
    if (depth > MAX_DEPTH) {
      report(ErrorCode.SchemaTooLarge, path, `subschemas are nested more than ${MAX_DEPTH} deep here; move the inner part into a record and $ref it`);
      return;
    }
    const schema = node as Record<string, unknown>;
    // The root's $id is dropped when the file is read; one inside was handed on to ajv and
    // json-schema-to-typescript, which took it for a second schema (the same id as a record:
    // "resolves to more than one schema") or a type name (`Trust1`), both ONEX_E_INTERNAL.
    if (path.length > 0 && typeof schema.$id === "string" && !NAME_MAPS.has(String(path.at(-1)))) {
      report(ErrorCode.SchemaInvalid, [...path, "$id"], `$id ${JSON.stringify(schema.$id)} inside a schema: onex identifies schemas by their manifest name and resolves $ref by file, so only a file's root may carry $id; remove it, or make this part a record of its own`, true);
    }
    const properties = schema.properties;
    if (properties !== null && typeof properties === "object" && !Array.isArray(properties) && Object.keys(properties).length > MAX_PROPERTIES) {
      report(
        ErrorCode.SchemaTooLarge,
        [...path, "properties"],
        `this object lists ${Object.keys(properties).length} properties; onex generates validators for at most ${MAX_PROPERTIES} per object. Group them into nested records, or describe a map with additionalProperties`,
        true,
      );
    }
    if (typeof schema.pattern === "string") checkRegex(schema.pattern, [...path, "pattern"], false);
    const patterns = schema.patternProperties;
    if (patterns !== null && typeof patterns === "object" && !Array.isArray(patterns)) {
      for (const pattern of Object.keys(patterns)) checkRegex(pattern, [...path, "patternProperties", pattern], true);
    }
    for (const [key, value] of Object.entries(schema)) {
      // Values of these keywords are data, not subschemas.
      if (key === "const" || key === "enum" || key === "examples" || key === "default") continue;
      visit(value, [...path, key], depth + 1);
    }
  };
  const checkRegex = (pattern: string, path: Path, key: boolean) => {
    const what = `${key ? "patternProperties key" : "pattern"} ${JSON.stringify(pattern)}`;
    try {
      // ajv compiles patterns with the `u` flag; a pattern valid only without it would fail there.
      new RegExp(pattern, "u");
    } catch (error) {
      report(ErrorCode.SchemaInvalid, path, `${what} is not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, "")}`, key);
      return;
    }
    // Every validator of the SDK runs the pattern on what a peer sends: with exponential
    // backtracking (`^(a+)+$`), a string of a few dozen characters stalls it for minutes.
    if (analyse({ source: pattern, flags: "u" }).reports.some((r) => r.exponential)) {
      report(ErrorCode.SchemaInvalid, path, `${what} can take exponential time to reject a string (a repeated part that can match the same text in more than one way, such as (a+)+): a value of a few dozen characters would stall every validator of it. Write it so each character can be matched only one way (^a+$ for ^(a+)+$)`, key);
    }
  };
  visit(root, [], 0);
  reportPrototypeKeys(root, [], (path) => report(ErrorCode.ReservedName, path, `key "__proto__" is reserved: JavaScript objects read it as their prototype, so the SDK, the AsyncAPI document and the reference site would each lose it or refuse it; rename it`, true));
}

/**
 * Reports every `__proto__` key, property name or data alike. The YAML reader keeps it as an
 * own member, but each later step that copies a schema by assignment would set a prototype
 * instead: one command then drops the property silently while another fails on it. One
 * refusal here gives every command the same answer.
 */
function reportPrototypeKeys(node: unknown, path: Path, report: (path: Path) => void): void {
  if (Array.isArray(node)) node.forEach((item, i) => reportPrototypeKeys(item, [...path, i], report));
  else if (node !== null && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "__proto__") report([...path, key]);
      else reportPrototypeKeys(value, [...path, key], report);
    }
  }
}

/**
 * The envelope must declare `type` and `payload` and require both: without `payload` every
 * message type's payload would silently become optional, and without `type` nothing says which
 * message a value is.
 */
export function checkEnvelopeFile(yaml: YamlFile, problems: Problems): void {
  const root = yaml.value as Record<string, unknown>;
  const properties = (root.properties ?? {}) as Record<string, unknown>;
  const required = Array.isArray(root.required) ? (root.required as unknown[]) : [];
  for (const field of ["type", "payload"]) {
    if (!Object.hasOwn(properties, field)) {
      const where = yaml.locateKey(root.properties === undefined ? [] : ["properties"]);
      problems.add(ErrorCode.SchemaInvalid, { file: where.file, line: where.line, column: where.column }, `the envelope has no "${field}" property; onex sets it per message type, so every envelope declares it (for example \`${field}: {type: ${field === "type" ? "string" : "object"}}\`)`);
    } else if (!required.includes(field)) {
      const where = yaml.locateKey(root.required === undefined ? ["properties", field] : ["required"]);
      problems.add(ErrorCode.SchemaInvalid, { file: where.file, line: where.line, column: where.column }, `the envelope does not require "${field}", so every message could omit it${field === "payload" ? " and every payload would be optional" : ""}; add it to required`);
    }
  }
}
