/**
 * Text from messages made safe to print: a forged field must not be able to start a new
 * output line (a fake "OK"), move the cursor, or send terminal escape sequences.
 */
import { stringifyJson } from "@onex/runtime";

// Unicode's control (Cc: C0, DEL, C1) and format (Cf) characters, the other characters it
// calls default-ignorable (shown as nothing), and the line and paragraph separators. Cf holds
// the bidirectional controls that reorder what a reader sees (the embeddings, overrides,
// isolates and the marks ALM, LRM, RLM: a mark moves neutral characters, "OK 12", too) and
// invisible ones that make a forged id look like a genuine one (zero-width space and joiners,
// the byte-order mark, the soft hyphen, tag characters); the default-ignorable ones beyond Cf
// do that too (variation selectors, the combining grapheme joiner, the Hangul fillers).
const UNSAFE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu;

// What JSON.stringify leaves raw inside strings, of UNSAFE (it escapes C0 itself).
const JSON_UNSAFE = /[\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu;

/** `text` with every control, format and other invisible (default-ignorable) character shown as a `\u{..}` escape. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** Characters of one field a per-message report line shows, half from its start and half from its end. */
const SHOWN_CHARACTERS = 2000;

/** A field taken from a message (its type, id, or an error message quoting it) as `printable`, its middle cut when long: a 50 MB field must not make a 50 MB line. */
export function printableField(text: string): string {
  if (text.length <= SHOWN_CHARACTERS) return printable(text);
  const half = SHOWN_CHARACTERS / 2;
  return printable(`${text.slice(0, half)}…(${text.length - SHOWN_CHARACTERS} characters not shown)…${text.slice(-half)}`);
}

/** JSON text of `value` (BigInt as its digits, indented by `indent` when given) with the characters JSON.stringify leaves raw (C1, separators, format and other invisible characters) escaped too; still valid JSON. */
export function printableJson(value: unknown, indent?: number): string {
  // JSON.stringify escapes every C0 control inside a string: a new line left is the indentation's.
  // Each UTF-16 unit escaped (split("") gives units): a tag character beyond the BMP is two.
  return stringifyJson(value, indent).replace(JSON_UNSAFE, (c) => c.split("").map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`).join(""));
}
