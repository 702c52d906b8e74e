/**
 * Schema version probing: which versions a peer speaks, with their content hashes, each
 * compared with the schemas this node knows for that version. A differing hash is flagged
 * (ONEX_E_SCHEMA_HASH_MISMATCH, with the schemas that differ), not thrown: probing reports.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { checkObject, checkPositive } from "../option-check.js";
import { isProtocolBlock, type ProtocolBlock } from "./agreement.js";
import { timeoutSignal } from "../timer.js";
import { checkConnection, requestJson, schemasSubject } from "./negotiation-service.js";
import { differingSchemas, parseSchemaIndex, type SchemaIndex } from "./schema-index.js";

/** One version a peer declares, and how it compares with ours. */
export interface ProbedVersion {
  version: string;
  content_hash: string;
  compatible_with: string[];
  /** This node has a schema index for the version. */
  known: boolean;
  /** The peer's hash equals ours (undefined when the version is unknown here). */
  matches?: boolean;
  /** Schemas whose hash differs, when it does not match. */
  differingSchemas?: string[];
  flag?: { code: typeof ErrorCode.SchemaHashMismatch; message: string };
}

/** What a probe found. */
export interface ProbeResult {
  /** Where the answer came from: `nats:<subject>`, a path or a URL. */
  source: string;
  deployment?: string;
  protocol?: ProtocolBlock;
  versions: ProbedVersion[];
}

/** Probe knobs. */
export interface ProbeOptions {
  /** Needed to probe a deployment by name over NATS. */
  nc?: NatsConnection;
  /** The schema indexes this node knows (the bundled `generated/v*\/index.json`). */
  known: readonly SchemaIndex[];
  /** How long to wait for the answer (default 2 s): more than 0, Infinity for no limit. */
  timeoutMs?: number;
}

/**
 * Probes `target`: a deployment name (asked on `onex.schemas.<name>` over `options.nc`), a
 * schema index or schemas document file (path or `file://`), or an `http(s)://` URL of one.
 */
export async function probe(target: string, options: ProbeOptions): Promise<ProbeResult> {
  checkObject("probe", "options", options, { required: true });
  // Over NATS, nats.js waits its default second for a timeout of 0 or NaN; over HTTP they aborted at once.
  checkPositive("probe", "timeoutMs", options.timeoutMs);
  const timeoutMs = options.timeoutMs ?? 2_000;
  let source: string;
  let document: unknown;
  if (/^https?:\/\//i.test(target)) {
    source = target;
    document = await readDocument(target, timeoutMs);
  } else if (target.startsWith("file:") || /[\\/]/.test(target) || target.endsWith(".json")) {
    source = target.startsWith("file:") ? fileURLToPath(target) : target;
    document = await readDocument(source, timeoutMs);
  } else {
    if (!options.nc) throw new OnexError(ErrorCode.Usage, `probing deployment "${target}" needs a NATS connection`, { peer: target });
    checkConnection("probe", "options.nc", options.nc);
    source = `nats:${schemasSubject(target)}`;
    document = await requestJson(options.nc, schemasSubject(target), {}, timeoutMs, target);
  }
  return compareWithKnown(source, document, options.known);
}

async function readDocument(location: string, timeoutMs: number): Promise<unknown> {
  // A single index file goes through readSchemaIndex (with its checks); a schemas document is read raw and checked below.
  let raw: string;
  if (/^https?:\/\//i.test(location)) {
    let response: Response;
    try {
      response = await fetch(location, { signal: timeoutSignal(timeoutMs), headers: { accept: "application/json" } });
    } catch (cause) {
      throw new OnexError(ErrorCode.SchemaIndexUnavailable, `cannot fetch ${location}: ${(cause as Error).message}`, { url: location }, { cause });
    }
    if (!response.ok) throw new OnexError(ErrorCode.SchemaIndexUnavailable, `fetching ${location} answered HTTP ${response.status}`, { url: location, status: response.status });
    raw = await boundedText(response, location, timeoutMs);
  } else {
    try {
      raw = await readFile(location, "utf8");
    } catch (cause) {
      throw new OnexError(ErrorCode.SchemaIndexUnavailable, `cannot read ${location}: ${(cause as Error).message}`, { file: location }, { cause });
    }
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch (cause) {
    throw new OnexError(ErrorCode.NegotiationInvalid, `${location} is not valid JSON`, { source: location }, { cause });
  }
}

/** A schemas document is tens of kilobytes; a server sending more, or sending it past the timeout, is not serving one. */
const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;

async function boundedText(response: Response, url: string, timeoutMs: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.length;
      // Leaving the loop by a throw cancels the body.
      if (size > MAX_DOCUMENT_BYTES) {
        throw new OnexError(ErrorCode.SchemaIndexUnavailable, `${url} sent more than ${MAX_DOCUMENT_BYTES} bytes: not a schemas document`, { url, limit: MAX_DOCUMENT_BYTES });
      }
      chunks.push(chunk);
    }
  } catch (cause) {
    if (isOnexError(cause)) throw cause;
    // The timeout's signal aborts the body too.
    throw new OnexError(ErrorCode.SchemaIndexUnavailable, `reading ${url} did not finish within ${timeoutMs} ms: ${(cause as Error).message}`, { url, timeoutMs }, { cause });
  }
  return Buffer.concat(chunks).toString("utf8");
}

function compareWithKnown(source: string, document: unknown, known: readonly SchemaIndex[]): ProbeResult {
  const doc = document as { kind?: unknown; deployment?: unknown; protocol?: unknown; indexes?: unknown };
  let indexes: SchemaIndex[];
  const result: ProbeResult = { source, versions: [] };
  if (doc !== null && typeof doc === "object" && doc.kind === "onex.schemas/1") {
    if (!Array.isArray(doc.indexes)) throw new OnexError(ErrorCode.NegotiationInvalid, `${source}: "indexes" is not a list`, { source });
    if (doc.indexes.length === 0) throw new OnexError(ErrorCode.NegotiationInvalid, `${source}: "indexes" lists no schema index`, { source });
    indexes = doc.indexes.map((i, n) => parseSchemaIndex(i, `${source} indexes[${n}]`));
    if (typeof doc.deployment === "string") result.deployment = doc.deployment;
    if (doc.protocol !== undefined) {
      if (!isProtocolBlock(doc.protocol)) throw new OnexError(ErrorCode.NegotiationInvalid, `${source}: "protocol" is not {version, compatible_with, declared_by, schema_manifest_url}`, { source });
      result.protocol = doc.protocol;
    }
  } else {
    indexes = [parseSchemaIndex(document, source)];
  }
  const ours = new Map(known.map((i) => [i.version, i]));
  for (const index of indexes) {
    const mine = ours.get(index.version);
    const entry: ProbedVersion = { version: index.version, content_hash: index.content_hash, compatible_with: index.compatible_with, known: mine !== undefined };
    if (mine !== undefined) {
      // Equal schemas on other subjects do not reach each other either.
      const differing = differingSchemas(mine, index);
      entry.matches = mine.content_hash === index.content_hash && differing.length === 0;
      if (!entry.matches) {
        entry.differingSchemas = differing;
        entry.flag = {
          code: ErrorCode.SchemaHashMismatch,
          message:
            mine.content_hash === index.content_hash
              ? `v${index.version} is published on other subjects than this node publishes it (differing: ${differing.join(", ")})`
              : `v${index.version} hashes to ${index.content_hash}, this node knows it as ${mine.content_hash} (differing: ${differing.join(", ") || "message list"})`,
        };
      }
    }
    result.versions.push(entry);
  }
  return result;
}

