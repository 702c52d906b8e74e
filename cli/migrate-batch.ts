/**
 * What `onex migrate` does to a batch of input messages, wherever it runs (in the command's
 * thread or on a worker): validate and migrate each message, encode the good ones in the
 * input's shape, and describe each bad one. The result is a list of pieces in input order —
 * runs of output text and bad messages — so the command applies `--on-error` to them in
 * order, the same whichever thread produced them.
 */
import { OnexError, isOnexError } from "@onex/runtime";
import { stringifyJson } from "@onex/runtime";
import type { InputItem, InputShape } from "./message-input.js";
import { stringifyYaml } from "../generator/yaml-output.js";

/** Output text of consecutive good messages (UTF-8 bytes when it comes from a worker). */
export interface WrittenPiece {
  text: string | Uint8Array;
  written: number;
}

/** A message that could not be migrated, with its dead letter already written out. */
export interface BadPiece {
  line: number;
  index?: number;
  /** The message's `type`, or "-". */
  type: string;
  code: string;
  message: string;
  /** The dead-letter NDJSON line: line, code, message and the input. */
  letter: string;
}

export type MigratedPiece = WrittenPiece | BadPiece;

/** A generated SDK's `migrate` (its transforms module, opened by cli/sdk.ts). */
export type MigrateFn = (message: unknown, from: string, to: string) => unknown;

/** Where a batch's output text goes: gathered into a string, or encoded as it comes (OutputBytes). */
export interface OutputText {
  add(text: string): void;
  /** What was added since the last call, as one piece's text. */
  take(): string | Uint8Array;
}

/** Output gathered into one string per piece (the command's own thread writes it as it is). */
class OutputString implements OutputText {
  #text = "";

  add(text: string): void {
    this.#text += text;
  }

  take(): string {
    const text = this.#text;
    this.#text = "";
    return text;
  }
}

/**
 * Migrates `items` from `from` to `to`; `shape` is the input's (its first message's) and
 * `writtenBefore` how many messages were written before this batch (a JSON array's commas).
 */
export function migrateBatch(items: Iterable<InputItem>, from: string, to: string, shape: InputShape, writtenBefore: number, migrate: MigrateFn, output: OutputText = new OutputString()): MigratedPiece[] {
  const pieces: MigratedPiece[] = [];
  let written = 0;
  for (const item of items) {
    const result = migrateItem(item, from, to, migrate);
    if (!(result instanceof OnexError)) {
      output.add(encodeOutput(result, shape, writtenBefore + written));
      written++;
      continue;
    }
    if (written > 0) pieces.push({ text: output.take(), written });
    writtenBefore += written;
    written = 0;
    pieces.push({
      line: item.line,
      ...(item.index === undefined ? {} : { index: item.index }),
      type: typeOf(item),
      code: result.code,
      message: result.message,
      letter: stringifyJson({ line: item.line, ...(item.index === undefined ? {} : { index: item.index }), code: result.code, message: result.message, ...deadLetterInput(item) }),
    });
  }
  if (written > 0) pieces.push({ text: output.take(), written });
  return pieces;
}

/** What ends the output after the last message in the input's shape. */
export function closeOutput(shape: InputShape | undefined, written: number): string {
  if (shape === "yaml-sequence") return written === 0 ? "[]\n" : "";
  if (shape !== "array") return "";
  return written === 0 ? "[]\n" : "\n]\n";
}

/** What a dead letter keeps of the input: the message, the line's text, or its bytes when they are not UTF-8. */
function deadLetterInput(item: InputItem): Record<string, unknown> {
  if ("value" in item) return { input: item.value };
  // A line too long to hold was never read: it has no bytes to keep (rawBytes is empty).
  if (item.rawBytes !== undefined && item.rawBytes.length > 0) return { raw_base64: item.rawBytes.toString("base64") };
  return { raw: item.raw ?? null };
}

function migrateItem(item: InputItem, from: string, to: string, migrate: MigrateFn): unknown {
  if ("error" in item) return item.error;
  try {
    return migrate(item.value, from, to);
  } catch (error) {
    if (isOnexError(error)) return error;
    throw error;
  }
}

function typeOf(item: InputItem): string {
  const value = "value" in item ? item.value : undefined;
  const type = value !== null && typeof value === "object" ? (value as { type?: unknown }).type : undefined;
  return typeof type === "string" ? type : "-";
}

/** One migrated message in the input's shape: NDJSON stays NDJSON, a JSON array stays an array, YAML stays YAML (documents or a sequence). */
function encodeOutput(value: unknown, shape: InputShape, index: number): string {
  switch (shape) {
    case "array":
      return `${index === 0 ? "[\n" : ",\n"}${indentJson(value)}`;
    case "document":
      return `${stringifyJson(value, 2)}\n`;
    // YAML every reader reads back as the message, YAML 1.1's too (generator/yaml-output.ts).
    case "yaml":
      return `${index === 0 ? "" : "---\n"}${stringifyYaml(value)}`;
    case "yaml-sequence":
      // One-element sequences written one after another are one sequence.
      return stringifyYaml([value]);
    default:
      return `${stringifyJson(value)}\n`;
  }
}

function indentJson(value: unknown): string {
  return stringifyJson(value, 2)
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}
