/**
 * Text from messages made safe to print: a forged field must not be able to start a new
 * output line (a fake "OK"), move the cursor, or send terminal escape sequences.
 */
import { stringifyJson } from "@onex/runtime";

// C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides that reorder what a reader sees.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Characters of one piece of text a report line shows: a 50 MB field must not make a 50 MB line. */
const SHOWN_CHARACTERS = 2000;

/** `text` with every control character shown as a `\u{..}` escape, cut after SHOWN_CHARACTERS. */
export function printable(text: string): string {
  const shown = text.length > SHOWN_CHARACTERS ? `${text.slice(0, SHOWN_CHARACTERS)}… (${text.length - SHOWN_CHARACTERS} more characters)` : text;
  return shown.replace(UNSAFE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** JSON text of `value` (BigInt as its digits) with the controls JSON.stringify leaves raw (C1, separators, bidi) escaped too; still valid JSON. */
export function printableJson(value: unknown): string {
  return stringifyJson(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
