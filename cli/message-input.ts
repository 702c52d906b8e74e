/**
 * Reading messages from a file or stdin: one JSON document, a JSON array of messages, or
 * NDJSON (one message per line, streamed so a log of any size reads in constant memory).
 */
import { createReadStream } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import type { Readable } from "node:stream";
import { LineCounter, parseAllDocuments } from "yaml";
import { ErrorCode, OnexError } from "../runtime/errors.js";

/** How the input held its messages: one per line, one JSON document, a JSON array, or YAML documents. */
export type InputShape = "ndjson" | "document" | "array" | "yaml";

/** One input message: its 1-based line, its value or why it could not be read, the input's shape and (NDJSON) the line itself. */
export type InputItem = ({ line: number; value: unknown } | { line: number; error: OnexError }) & { shape?: InputShape; raw?: string };

/** Opens `path`, or stdin for `-` or no path. */
export function openInput(path: string | undefined): Readable {
  if (path === undefined || path === "-") return process.stdin;
  const stream = createReadStream(path);
  stream.on("error", () => {}); // reported by the reader below
  return stream;
}

/**
 * Yields every message of the input. The first non-blank line decides the shape: if it is a
 * complete JSON value the input is NDJSON; otherwise the whole input is one JSON document
 * (an array yields its elements).
 */
export async function* readMessages(input: Readable, file: string): AsyncGenerator<InputItem> {
  for await (const batch of readMessageBatches(input, file)) yield* batch;
}

/**
 * Like `readMessages`, one batch per chunk read: NDJSON is split by hand rather than line by
 * line through readline, since per-line awaiting dominates the cost of a large log.
 */
export async function* readMessageBatches(input: Readable, file: string): AsyncGenerator<InputItem[]> {
  const decoder = new StringDecoder("utf8");
  let carry = "";
  let lineNo = 0;
  let mode: "ndjson" | "document" | undefined;
  let document = "";
  let documentStart = 0;
  const take = (raw: string, batch: InputItem[]) => {
    lineNo++;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (mode === "document") {
      document += "\n" + line;
      return;
    }
    if (line.trim() === "") return;
    const parsed = tryParse(line);
    if (mode === undefined && !parsed.ok && /^\s*[[{]/.test(line)) {
      mode = "document";
      document = line;
      documentStart = lineNo;
      return;
    }
    mode = "ndjson";
    batch.push(parsed.ok ? { line: lineNo, value: parsed.value, shape: "ndjson", raw: line } : { line: lineNo, error: jsonError(file, lineNo, parsed.message), shape: "ndjson", raw: line });
  };
  try {
    for await (const chunk of input) {
      const lines = (carry + (typeof chunk === "string" ? chunk : decoder.write(chunk as Buffer))).split("\n");
      carry = lines.pop()!;
      const batch: InputItem[] = [];
      for (const line of lines) take(line, batch);
      if (batch.length > 0) yield batch;
    }
  } catch (cause) {
    throw new OnexError(ErrorCode.FileNotFound, `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { file }, { cause });
  }
  const last: InputItem[] = [];
  carry += decoder.end();
  if (carry !== "") take(carry, last);
  if (last.length > 0) yield last;
  if (mode !== "document") return;
  const parsed = tryParse(document);
  if (!parsed.ok) {
    yield [{ line: documentStart, error: jsonError(file, documentStart, parsed.message), shape: "document" }];
  } else if (Array.isArray(parsed.value)) {
    yield parsed.value.map((value: unknown) => ({ line: documentStart, value, shape: "array" as const }));
  } else {
    yield [{ line: documentStart, value: parsed.value, shape: "document" }];
  }
}

/** Yields every document of a YAML stream (`---` separated) with the line it starts on; YAML is read whole, not streamed. */
export async function* readYamlMessages(input: Readable, file: string): AsyncGenerator<InputItem> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of input) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  } catch (cause) {
    throw new OnexError(ErrorCode.FileNotFound, `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { file }, { cause });
  }
  const text = Buffer.concat(chunks).toString("utf8");
  const lineCounter = new LineCounter();
  for (const doc of parseAllDocuments(text, { lineCounter })) {
    const line = lineCounter.linePos(doc.range[0]).line;
    const problem = doc.errors[0];
    if (problem) {
      const pos = lineCounter.linePos(problem.pos[0]);
      yield { line: pos.line, error: new OnexError(ErrorCode.YamlSyntax, `not valid YAML: ${problem.message.split("\n")[0]}`, { file, line: pos.line, column: pos.col }), shape: "yaml" };
      continue;
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value === null && doc.contents === null) continue; // an empty document, e.g. after a trailing `---`
    yield { line, value, shape: "yaml" };
  }
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

function jsonError(file: string, line: number, message: string): OnexError {
  return new OnexError(ErrorCode.JsonSyntax, `not valid JSON: ${message}`, { file, line });
}
