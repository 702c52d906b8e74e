/**
 * Text from messages made safe to print: a forged field must not be able to start a new
 * output line (a fake "OK"), move the cursor, or send terminal escape sequences.
 */
import { stringifyJson } from "@onex/runtime";

// C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional controls that
// reorder what a reader sees: Unicode's Bidi_Control, the embeddings, overrides and isolates and
// the marks (ALM U+061C, LRM, RLM) alike, since a mark moves neutral characters ("OK 12") too.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

// What JSON.stringify leaves raw inside strings, of UNSAFE.
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control character shown as a `\u{..}` escape. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** Characters of one field a per-message report line shows, half from its start and half from its end. */
const SHOWN_CHARACTERS = 2000;

/** A field taken from a message (its type, id, or an error message quoting it) as `printable`, its middle cut when long: a 50 MB field must not make a 50 MB line. */
export function printableField(text: string): string {
  if (text.length <= SHOWN_CHARACTERS) return printable(text);
  const half = SHOWN_CHARACTERS / 2;
  return printable(`${text.slice(0, half)}…(${text.length - SHOWN_CHARACTERS} characters not shown)…${text.slice(-half)}`);
}

/** JSON text of `value` (BigInt as its digits, indented by `indent` when given) with the controls JSON.stringify leaves raw (C1, separators, bidi) escaped too; still valid JSON. */
export function printableJson(value: unknown, indent?: number): string {
  // JSON.stringify escapes every C0 control inside a string: a new line left is the indentation's.
  return stringifyJson(value, indent).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
