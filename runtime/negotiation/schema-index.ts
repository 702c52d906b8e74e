/**
 * Schema indexes: what a deployment publishes about each protocol version it speaks
 * (`generated/v<version>/index.json`, emitted by `onex generate`). An index is checked on
 * the way in — its `content_hash` must be the hash of its own entries — so a truncated or
 * edited index is caught before anyone compares it with another.
 */
import { checkPositive } from "../option-check.js";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ErrorCode, OnexError } from "../errors.js";
import { timeoutSignal } from "../timer.js";
import { canonicalize } from "../trust/canonical-json.js";

/** The index format this runtime reads. */
export const SCHEMA_INDEX_FORMAT = "onex.schema-index/1";

/** One message type of an index. */
export interface SchemaIndexMessage {
  type: string;
  name: string;
  schema_id: string;
  subject: string;
  hash: string;
}

/** One named schema (record, payload or message) of an index. */
export interface SchemaIndexSchema {
  name: string;
  kind: string;
  schema_id: string;
  hash: string;
}

/** The published description of one protocol version. */
export interface SchemaIndex {
  format: string;
  version: string;
  compatible_with: string[];
  declared_by: string;
  schema_manifest_url: string;
  manifest_hash: string;
  /** `sha256:` of the canonical `{version, messages, schemas}`: equal hashes mean peers read messages the same way. */
  content_hash: string;
  messages: SchemaIndexMessage[];
  schemas: SchemaIndexSchema[];
  /** Subject template key -> template with each placeholder as the envelope pointer it reads (`{/source/zone}`); absent from older indexes. */
  subjects?: Record<string, string>;
}

/** `sha256:<hex>` of the canonical JSON form of `value` (the hash the generator writes). */
export function contentHashOf(value: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalize(value)).digest("hex")}`;
}

const HASH = /^sha256:[0-9a-f]{64}$/;

/**
 * Checks that `value` is a schema index and that its content hash matches its entries.
 * Throws ONEX_E_NEGOTIATION_INVALID (malformed) or ONEX_E_SCHEMA_HASH_MISMATCH (hash does not match).
 */
export function parseSchemaIndex(value: unknown, source = "schema index"): SchemaIndex {
  const invalid = (why: string): never => {
    throw new OnexError(ErrorCode.NegotiationInvalid, `${source} is not a schema index: ${why}`, { source });
  };
  if (value === null || typeof value !== "object" || Array.isArray(value)) invalid("not a JSON object");
  const index = value as Record<string, unknown>;
  if (index.format !== SCHEMA_INDEX_FORMAT) invalid(`format is ${JSON.stringify(index.format)}, expected "${SCHEMA_INDEX_FORMAT}"`);
  for (const key of ["version", "declared_by", "schema_manifest_url", "manifest_hash", "content_hash"]) {
    if (typeof index[key] !== "string") invalid(`"${key}" is not a string`);
  }
  if (!HASH.test(index.content_hash as string)) invalid("content_hash is not sha256:<64 hex>");
  if (!Array.isArray(index.compatible_with) || index.compatible_with.some((v) => typeof v !== "string")) invalid("compatible_with is not a list of versions");
  const entries = (key: string, fields: string[]) => {
    const list = index[key];
    if (!Array.isArray(list)) invalid(`"${key}" is not a list`);
    for (const [i, entry] of (list as unknown[]).entries()) {
      if (entry === null || typeof entry !== "object") invalid(`${key}[${i}] is not an object`);
      for (const field of fields) {
        if (typeof (entry as Record<string, unknown>)[field] !== "string") invalid(`${key}[${i}].${field} is not a string`);
      }
      if (!HASH.test((entry as { hash: string }).hash)) invalid(`${key}[${i}].hash is not sha256:<64 hex>`);
    }
  };
  entries("messages", ["type", "name", "schema_id", "subject", "hash"]);
  entries("schemas", ["name", "kind", "schema_id", "hash"]);
  const subjects = index.subjects;
  if (subjects !== undefined && (subjects === null || typeof subjects !== "object" || Array.isArray(subjects) || Object.values(subjects).some((t) => typeof t !== "string"))) {
    invalid('"subjects" is not an object of subject templates');
  }
  const parsed = value as SchemaIndex;
  const computed = contentHashOf({ version: parsed.version, messages: parsed.messages, schemas: parsed.schemas });
  if (computed !== parsed.content_hash) {
    throw new OnexError(ErrorCode.SchemaHashMismatch, `${source} (v${parsed.version}) declares content_hash ${parsed.content_hash} but its entries hash to ${computed}: it was edited or truncated`, {
      source,
      version: parsed.version,
      declared: parsed.content_hash,
      computed,
    });
  }
  return parsed;
}

/**
 * Reads a schema index from a file path, a `file://` URL or an `http(s)://` URL. Throws
 * ONEX_E_SCHEMA_INDEX_UNAVAILABLE when it cannot be read, and what `parseSchemaIndex` throws.
 */
export async function readSchemaIndex(location: string | URL, options: { timeoutMs?: number } = {}): Promise<SchemaIndex> {
  // 0 or NaN aborted the request at once, blaming the server.
  checkPositive("readSchemaIndex", "timeoutMs", options.timeoutMs);
  const text = String(location);
  const raw = /^https?:\/\//i.test(text) ? await fetchText(text, options.timeoutMs ?? 5_000) : await readText(text);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (cause) {
    throw new OnexError(ErrorCode.NegotiationInvalid, `${text} is not valid JSON: ${(cause as Error).message}`, { source: text }, { cause });
  }
  return parseSchemaIndex(value, text);
}

async function readText(location: string): Promise<string> {
  const path = location.startsWith("file:") ? fileURLToPath(location) : location;
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new OnexError(ErrorCode.SchemaIndexUnavailable, `cannot read schema index ${path}: ${(cause as Error).message}`, { file: path }, { cause });
  }
}

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: timeoutSignal(timeoutMs), headers: { accept: "application/json" } });
  } catch (cause) {
    throw new OnexError(ErrorCode.SchemaIndexUnavailable, `cannot fetch schema index ${url}: ${(cause as Error).message}`, { url }, { cause });
  }
  if (!response.ok) throw new OnexError(ErrorCode.SchemaIndexUnavailable, `fetching schema index ${url} answered HTTP ${response.status}`, { url, status: response.status });
  return response.text();
}

/** Differences between two indexes of the same version: schema names whose hash differs or that only one side has, then `subject <key>` for each subject template that differs. */
export function differingSchemas(ours: SchemaIndex, theirs: { schemas: readonly { name: string; hash: string }[]; subjects?: Record<string, string> }): string[] {
  const mine = new Map(ours.schemas.map((s) => [s.name, s.hash]));
  const other = new Map(theirs.schemas.map((s) => [s.name, s.hash]));
  const names = new Set([...mine.keys(), ...other.keys()]);
  const schemas = [...names].filter((name) => mine.get(name) !== other.get(name)).sort();
  // Subject templates, named `subject <key>`, when both indexes list them.
  if (ours.subjects === undefined || theirs.subjects === undefined) return schemas;
  const keys = new Set([...Object.keys(ours.subjects), ...Object.keys(theirs.subjects)]);
  return [...schemas, ...[...keys].filter((key) => ours.subjects![key] !== theirs.subjects![key]).sort().map((key) => `subject ${key}`)];
}
