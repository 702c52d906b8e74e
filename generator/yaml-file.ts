/** Reading YAML files with enough position information to point users at their mistakes. */
import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { LineCounter, parseDocument, isMap, isNode, isScalar, visit, type Document } from "yaml";
import { ErrorCode, OnexError, parseJson } from "@onex/runtime";
import { canonicalText, utf8Text } from "./input-hashes.js";
import { MAX_YAML_DEPTH, yamlNestingBeyond } from "./yaml-depth.js";
import { FLOAT_WRITTEN_AS_INTEGER, JSON_TAGS, jsonNumberText } from "./yaml-json.js";

/** A parsed YAML file that can map a path inside its value back to a line and column. */
export interface YamlFile {
  /** Path as shown to users (relative to the working directory). */
  file: string;
  text: string;
  value: unknown;
  /** `{file, line, column}` of the node at `path`, or of the nearest ancestor that exists. */
  locate(path: readonly (string | number)[]): { file: string; line?: number; column?: number };
  /** Like `locate`, but of the key of the last segment (`paylaod:` itself rather than its value), when the parent is a mapping. */
  locateKey(path: readonly (string | number)[]): { file: string; line?: number; column?: number };
}

/** Reads and parses one YAML file; throws ONEX_E_FILE_NOT_FOUND, ONEX_E_FILE_UNREADABLE or ONEX_E_YAML_SYNTAX. */
export async function readYamlFile(absPath: string, file: string): Promise<YamlFile> {
  let bytes: Buffer;
  let fd: number | undefined;
  try {
    // Read synchronously: schema files are small, and the callers read them one after the
    // other; the promise API costs four thread-pool round trips per file (open, stat, read,
    // close), 44 ms against 2 ms for the 211 files of a 200-message manifest. Opened without
    // waiting and checked before it is read: a FIFO in the schemas folder hung every command
    // that read it, and a folder was reported as missing.
    fd = openSync(absPath, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error("it is not a regular file"), { code: "ENOTFILE" });
    bytes = readFileSync(fd);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    const code = errno === "ENOENT" || errno === "ENOTDIR" ? ErrorCode.FileNotFound : ErrorCode.FileUnreadable;
    throw new OnexError(code, `cannot read ${file}: ${errno === "ENOTFILE" ? (cause as Error).message : (errno ?? cause)}`, { file, ...(errno === undefined ? {} : { errno }) }, { cause });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  // As input-hashes.ts hashes it: a CRLF checkout of the same schemas is the same input. And
  // strictly: bytes that are not UTF-8 are ONEX_E_YAML_SYNTAX at the first one, never U+FFFD.
  return parseYamlText(canonicalText(utf8Text(bytes, file, ErrorCode.YamlSyntax)), file);
}

/** Throws ONEX_E_YAML_SYNTAX at the line where `text` nests deeper than the parser can follow (yaml-depth.ts). */
export function assertYamlNesting(text: string, file: string): void {
  const line = yamlNestingBeyond(text);
  if (line !== undefined) throw new OnexError(ErrorCode.YamlSyntax, `${file}:${line}: not valid YAML for onex: nested deeper than ${MAX_YAML_DEPTH} levels`, { file, line });
}

/**
 * Parses YAML text; throws ONEX_E_YAML_SYNTAX with the first error's position, or at a value
 * JSON does not have (jsonValuesOnly), and ONEX_E_NUMBER_RANGE at a number a double would change.
 */
export function parseYamlText(text: string, file: string): YamlFile {
  assertYamlNesting(text, file);
  const lineCounter = new LineCounter();
  // intAsBigInt: an integer beyond 2^53 must not be rounded before it can be checked (as a
  // message's is, cli/message-input.ts); no known tags: `!!binary` and the like are refused
  // where they are written, as unknown ones are.
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    intAsBigInt: true,
    resolveKnownTags: false,
    customTags: (tags) => [...tags, FLOAT_WRITTEN_AS_INTEGER],
  });
  const problem = doc.errors[0];
  if (problem) {
    const pos = lineCounter.linePos(problem.pos[0]);
    throw new OnexError(ErrorCode.YamlSyntax, `${file}:${pos.line}:${pos.col}: ${firstLine(problem.message)}`, {
      file,
      line: pos.line,
      column: pos.col,
    });
  }
  jsonValuesOnly(doc, lineCounter, file);
  const read = yamlDocumentValue(doc);
  if ("why" in read) {
    // At the first alias: the error itself says not where.
    let at = 0;
    visit(doc, {
      Alias(_key, node) {
        at = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const pos = lineCounter.linePos(at);
    throw new OnexError(ErrorCode.YamlSyntax, `${file}:${pos.line}:${pos.col}: not valid YAML for onex: ${read.why}`, { file, line: pos.line, column: pos.col });
  }
  const { value } = read;
  return {
    file,
    text,
    value,
    locate: (path) => locateIn(doc, lineCounter, file, path),
    locateKey: (path) => locateKeyIn(doc, lineCounter, file, path),
  };
}

/**
 * Refuses what a manifest, schema or transform must not mean: a value JSON does not have, and a
 * number the generated code would hold as another. The yaml package drops a tag it does not
 * know (`declared_by: !include other.yaml` was the string "other.yaml") and rounds integers
 * beyond 2^53 (`enum: [9007199254740993]` generated 9007199254740992), both silently. Read as
 * a YAML message is (cli/message-input.ts): JSON's own tags only, numbers as the JSON reader
 * reads them. Integers parsed as BigInt (intAsBigInt) are made numbers here when exact.
 */
function jsonValuesOnly(doc: Document, lineCounter: LineCounter, file: string): void {
  const at = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { file, line: pos.line, column: pos.col };
  };
  // A tag the parser does not know, or one of JSON's its value does not fit (`!!int 1.5`), is
  // only a warning: the value is kept as a string, or as a mapping without its tag. At the tag.
  const unresolved = doc.warnings.find((warning) => warning.code === "TAG_RESOLVE_FAILED");
  if (unresolved) {
    const where = at(unresolved.pos[0]);
    const tag = shortTag(unresolved.message.split(" at line")[0]!.replace(/^Unresolved tag: /, ""));
    throw new OnexError(ErrorCode.YamlSyntax, `${file}:${where.line}:${where.column}: not valid YAML for onex: the tag ${tag} is not one onex reads, or its value does not fit it, so the tag would be dropped; write the value plainly`, where);
  }
  let refused: OnexError | undefined;
  const refuse = (code: ErrorCode, node: { range?: [number, number, number] | null }, message: string) => {
    const where = at(node.range?.[0]);
    refused = new OnexError(code, `${file}:${where.line}:${where.column}: ${message}`, where);
    return visit.BREAK;
  };
  const badTag = (node: { tag?: string }) => node.tag !== undefined && !JSON_TAGS.has(node.tag);
  const tagRefusal = (node: { tag?: string }) => `not valid YAML for onex: the tag ${shortTag(node.tag!)} makes a value JSON does not have; write the value plainly`;
  visit(doc, {
    Collection(_key, node) {
      if (badTag(node)) return refuse(ErrorCode.YamlSyntax, node, tagRefusal(node));
      return undefined;
    },
    Scalar(_key, node) {
      if (badTag(node)) return refuse(ErrorCode.YamlSyntax, node, tagRefusal(node));
      const { value } = node;
      // A `%YAML 1.1` document resolves some plain values to objects without a tag (2025-06-01 to a Date).
      if (value !== null && typeof value === "object") return refuse(ErrorCode.YamlSyntax, node, `not valid YAML for onex: ${String(node.source).slice(0, 40)} is read as a value JSON does not have; quote it`);
      if (typeof value === "bigint") {
        if (Number.isSafeInteger(Number(value))) node.value = Number(value);
        else return refuse(ErrorCode.NumberRange, node, `a number onex will not change: integer ${String(value).slice(0, 40)} is beyond 2^53 and would be changed by rounding`);
      } else if (typeof value === "number") {
        // Read by the JSON reader, so a number means the same here as in JSON (exact integers, no underflow to 0).
        const json = typeof node.source === "string" ? jsonNumberText(node.source) : undefined;
        if (json !== undefined) {
          try {
            node.value = parseJson(json);
          } catch (error) {
            if (!(error instanceof OnexError)) throw error;
            // The JSON reader's position is within the number's text; the node's is the file's.
            return refuse(error.code as ErrorCode, node, error.message.replace(/ at line 1 column \d+:/, ":"));
          }
        } else if (!Number.isFinite(value)) return refuse(ErrorCode.NumberRange, node, `a number onex will not change: ${String(node.source).slice(0, 40)} is not a finite number, which JSON cannot hold`);
      }
      return undefined;
    },
  });
  if (refused !== undefined) throw refused;
}

/** A tag as it is written: `!!int` for tag:yaml.org,2002:int. */
function shortTag(tag: string): string {
  return tag.replace(/^tag:yaml\.org,2002:/, "!!");
}

function locateKeyIn(doc: Document, lineCounter: LineCounter, file: string, path: readonly (string | number)[]) {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (isMap(parent)) {
    const last = String(path.at(-1));
    const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === last);
    if (pair && isNode(pair.key) && pair.key.range) {
      const pos = lineCounter.linePos(pair.key.range[0]);
      return { file, line: pos.line, column: pos.col };
    }
  }
  return locateIn(doc, lineCounter, file, path);
}

function locateIn(doc: Document, lineCounter: LineCounter, file: string, path: readonly (string | number)[]) {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = lineCounter.linePos(node.range[0]);
      return { file, line: pos.line, column: pos.col };
    }
  }
  return { file };
}

/** Splits a JSON Pointer (`/a/b~1c`) into its segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === "" || pointer === "/") return [];
  return pointer
    .replace(/^\//, "")
    .split("/")
    .map((s) => decodeURIComponent(s).replace(/~1/g, "/").replace(/~0/g, "~"));
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}

/**
 * A YAML document's value, its aliases expanded up to a limit; or why it has none: an alias
 * with no anchor before it, or aliases that would expand past the limit (a "billion laughs"
 * document), the document's own mistake.
 */
export function yamlDocumentValue(doc: Pick<Document, "toJS">): { value: unknown } | { why: string } {
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) };
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    return { why: /Excessive alias count/i.test(error.message) ? `its aliases expand to too many values (${error.message}); write the values out` : error.message };
  }
}
