/** Reading YAML files with enough position information to point users at their mistakes. */
import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { LineCounter, parseDocument, isMap, isNode, isScalar, visit, type Document } from "yaml";
import { ErrorCode, OnexError } from "@onex/runtime";
import { canonicalText, utf8Text } from "./input-hashes.js";
import { MAX_YAML_DEPTH, yamlNestingBeyond } from "./yaml-depth.js";
import { YamlAliases } from "./yaml-aliases.js";
import { mergeProblem, YAML_AS_JSON, yamlJsonProblem } from "./yaml-json.js";

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
 * Parses YAML text; throws ONEX_E_YAML_SYNTAX with the first error's position, or at what JSON
 * has not (yaml-json.ts; a key repeated, also as two keys of one JSON name, is this code as the
 * file's other YAML mistakes are), ONEX_E_NUMBER_RANGE at a number a double would change, and
 * ONEX_E_CANONICAL_JSON at a lone surrogate, each at file:line:column.
 */
export function parseYamlText(text: string, file: string): YamlFile {
  assertYamlNesting(text, file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...YAML_AS_JSON, lineCounter });
  // Read as a YAML message is: the yaml package drops a tag it does not know (`declared_by:
  // !include other.yaml` was the string "other.yaml"), rounds integers beyond 2^53 (`enum:
  // [9007199254740993]` generated 9007199254740992) and keeps the last of `1:` and `"1":`, each
  // silently; a lone surrogate failed later, as a content hash's error naming no file. Integers
  // are refused beyond 2^53: the generated code holds numbers, never BigInts.
  // Aliases judged as message input judges them (yaml-aliases.ts), then resolved by the yaml
  // package within its small count (yamlDocumentValue): an alias inside the value it names (`a:
  // &a [*a]`) made a cycle the generator's checks recursed into until the stack ran out.
  const { problem, merges } = yamlJsonProblem(doc, { bigIntegers: "refuse", duplicateKey: ErrorCode.YamlSyntax, aliases: new YamlAliases("schema") });
  const refused = problem ?? mergeProblem(merges, doc);
  if (refused !== undefined) {
    const pos = lineCounter.linePos(refused.offset);
    throw new OnexError(refused.code, `${file}:${pos.line}:${pos.col}: ${refused.message}`, { file, line: pos.line, column: pos.col });
  }
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
