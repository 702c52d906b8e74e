/**
 * YAML that every reader reads back as the JSON data it was written from: `onex migrate`'s
 * output when its input was YAML, and `onex asyncapi`'s YAML.
 *
 * The yaml package wrote a string plain unless YAML 1.2's core schema would read it as something
 * else, so `yes`, `on`, `n`, `2026-12-07`, `017`, `1_000` and `1:20` went out unquoted, and a
 * YAML 1.1 reader (PyYAML, many Go and Ruby tools) read them back as booleans, dates and
 * numbers: a message's `time` came back as a date. It wrote U+2028, U+2029, U+0085 (line breaks to
 * YAML 1.1), DEL and the C1 controls raw, which PyYAML refuses outright, and `1e+21` as it is,
 * which YAML 1.1 reads as a string.
 *
 * This writer is for JSON data only (objects, arrays, strings, finite numbers, BigInt integers,
 * booleans, null) and keeps the yaml package's block layout, indented by two. A string is written
 * plain only when no YAML 1.1 or 1.2 reader can read it as anything but that string (the
 * resolvers of the YAML 1.1 types, of 1.2's core and JSON schemas, PyYAML's, Ruby's Psych's, Go's
 * strconv, which yaml.v2 falls back on, all covered, and more: quoting a string in doubt costs two
 * characters); otherwise double-quoted, with control, format, invisible and line or paragraph
 * separator characters escaped (`\u2028`), so no reader finds a line break where there was none
 * and no invisible character hides in the text. Nothing is folded: a string of several lines is
 * a literal block (`|-`) where every reader reads it line for line, any other scalar one line.
 */
import { ErrorCode, OnexError, stringifyJson } from "@onex/runtime";

/** Characters never written raw: controls (C0, DEL, C1: NEL is a YAML 1.1 line break), format and other invisible characters, line and paragraph separators, noncharacters (U+FFFE, U+FFFF are no YAML characters) and lone surrogates. */
const ESCAPED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}\p{Cs}]/u;
const ESCAPED_ALL = new RegExp(ESCAPED.source, "gu");

/**
 * Plain text some reader resolves to another type than a string. Words in any case (Psych reads
 * `yEs` as true); numbers with YAML 1.1's `_` and Psych's `,` between digits, sexagesimal (`1:20`),
 * YAML 1.1's odd floats (`1.2.3`, `.`; the yaml package's YAML 1.1 reads `e7` as NaN), binary, octal (`017`, `0o17`), hexadecimal and Go's
 * hexadecimal floats; infinities and NaN, with or without their point (strconv reads `+inf`); YAML
 * 1.1 timestamps (`2026-12-07`, `2026-12-07T10:00:00Z`, `2026-1-7 1:02:03`); the YAML 1.1 merge
 * and value keys.
 */
const IMPLICIT: readonly RegExp[] = [
  /^(?:~|null|true|false|y|yes|n|no|on|off)$/i,
  /^(?:<<|=)$/,
  /^[-+]?(?:[0-9.][0-9_,.:]*(?:e[-+]?[0-9]+)?|e[-+]?[0-9]+)$/i,
  /^[-+]?0(?:b[01_,]+|o[0-7_,]+|x[0-9a-f_,]*(?:\.[0-9a-f_,]*)?(?:p[-+]?[0-9]+)?)$/i,
  /^[-+]?\.?(?:inf|infinity|nan)$/i,
  /^-?[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:$|[Tt\s])/,
];

/**
 * Text YAML's plain style cannot hold as it is: an indicator first (`-` followed by a space or
 * alone, `?`, `:` — a Ruby symbol —, `,[]{}#&*!|>'"%@` and the backquote), a document marker
 * (`---`, `...`), space at either end, `: ` or ` #` inside, `:` last.
 */
const NOT_PLAIN = /^(?:[?:,[\]{}#&*!|>'"%@`]|-(?:$|[\s-])|\.\.\.)|^\s|\s$|:\s|\s#|:$/u;

/**
 * Go's YAML readers (yaml.v2, v3) drop every `_` of a plain scalar that starts as a number may (a
 * sign, a digit, a point) before they try it as one (`0_x10` is 16, `1e_5` 100000), and
 * SnakeYAML reads `-_1` as -1: such text is tried without its underscores too.
 */
const NUMBER_START = /^[-+0-9.]/;

/** Whether some reader resolves plain `text` to another type than a string. */
function implicit(text: string): boolean {
  if (IMPLICIT.some((pattern) => pattern.test(text))) return true;
  if (!NUMBER_START.test(text) || !text.includes("_")) return false;
  const bare = text.replace(/_/g, "");
  return /^[-+]_/.test(text) || IMPLICIT.some((pattern) => pattern.test(bare));
}

/** Whether `text` may be written plain: it reads back as this very string in every YAML reader. */
export function plainIsSafe(text: string): boolean {
  return text !== "" && !ESCAPED.test(text) && !NOT_PLAIN.test(text) && !implicit(text);
}

/** A YAML double-quoted string of `text`: `"` and `\` escaped as JSON escapes them, and every ESCAPED character as `\uXXXX` (`\UXXXXXXXX` beyond the BMP). */
export function doubleQuoted(text: string): string {
  const escaped = text.replace(/["\\]/g, (c) => `\\${c}`).replace(ESCAPED_ALL, (c) => {
    const code = c.codePointAt(0)!;
    switch (code) {
      case 0x09:
        return "\\t";
      case 0x0a:
        return "\\n";
      case 0x0d:
        return "\\r";
      default:
        return code > 0xffff ? `\\U${code.toString(16).toUpperCase().padStart(8, "0")}` : `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
    }
  });
  return `"${escaped}"`;
}

/** A string as a scalar: plain when that is safe, else double-quoted. */
function stringScalar(text: string): string {
  return plainIsSafe(text) ? text : doubleQuoted(text);
}

/**
 * A number as YAML 1.1 and 1.2 both read it: JSON's text, with `.0` added to a mantissa
 * without a point (`1e+21` is a string to YAML 1.1, whose floats have a point; `1.0e+21` is the
 * same double to every reader, onex's too).
 */
function numberScalar(value: number | bigint): string {
  const text = stringifyJson(value);
  return /^-?[0-9]+[eE]/.test(text) ? text.replace(/[eE]/, ".0e") : text;
}

/** The scalar text of a value that is no collection, or of an empty one. */
function inline(value: unknown): string | undefined {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return stringScalar(value);
    case "number":
    case "bigint":
      return numberScalar(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (Array.isArray(value)) return value.length === 0 ? "[]" : undefined;
      return members(value as Record<string, unknown>).length === 0 ? "{}" : undefined;
    default:
      // undefined, a function, a symbol: no JSON data, which migrate validated its output to be.
      throw new OnexError(ErrorCode.Internal, `YAML output of a ${typeof value}, which is no JSON data`);
  }
}

/**
 * A string of several lines as a literal block, `|-` (or `|`, ending in one line break) and its
 * lines at `indent`; undefined where a reader could read the block otherwise: a character that
 * is escaped besides the line break, a first line that starts with a space (a block's
 * indentation is taken from it), a line of spaces alone, or more than one line break at the end.
 */
function literalBlock(text: string, indent: string): string | undefined {
  if (!text.includes("\n") || text.endsWith("\n\n") || ESCAPED.test(text.replace(/\n/g, ""))) return undefined;
  const endsInBreak = text.endsWith("\n");
  const lines = (endsInBreak ? text.slice(0, -1) : text).split("\n");
  if (lines[0] === "" || lines[0]!.startsWith(" ") || lines.some((line) => /^ +$/.test(line))) return undefined;
  return `${endsInBreak ? "|" : "|-"}\n${lines.map((line) => (line === "" ? "\n" : `${indent}${line}\n`)).join("")}`;
}

/** An object's members as JSON writes them: those whose value is undefined are left out. */
function members(object: Record<string, unknown>): [string, unknown][] {
  return Object.entries(object).filter(([, value]) => value !== undefined);
}

/** Longest key written as an implicit key: YAML and PyYAML allow 1024 characters before its `:`. */
const IMPLICIT_KEY_MAX = 1000;

/** The lines of a non-empty collection, each starting with `indent`. */
function block(value: object, indent: string, out: string[]): void {
  const deeper = `${indent}  `;
  if (Array.isArray(value)) {
    // JSON writes an undefined element as null.
    for (const element of value as unknown[]) {
      const item = element === undefined ? null : element;
      const literal = typeof item === "string" ? literalBlock(item, deeper) : undefined;
      if (literal !== undefined) {
        out.push(`${indent}- ${literal}`);
        continue;
      }
      const scalar = inline(item);
      if (scalar !== undefined) {
        out.push(`${indent}- ${scalar}\n`);
        continue;
      }
      // The collection's first line goes beside the dash: `- key: value` and `- - item`.
      const first = out.length;
      block(item as object, deeper, out);
      out[first] = `${indent}- ${out[first]!.slice(deeper.length)}`;
    }
    return;
  }
  for (const [name, member] of members(value as Record<string, unknown>)) {
    const key = stringScalar(name);
    const scalar = inline(member);
    // A key too long for an implicit key is an explicit one: `? key` then `: value`.
    const [keyLine, valueLead] = key.length > IMPLICIT_KEY_MAX ? [`${indent}? ${key}\n`, `${indent}:`] : ["", `${indent}${key}:`];
    if (keyLine !== "") out.push(keyLine);
    const literal = typeof member === "string" ? literalBlock(member, deeper) : undefined;
    if (literal !== undefined) {
      out.push(`${valueLead} ${literal}`);
      continue;
    }
    if (scalar !== undefined) {
      out.push(`${valueLead} ${scalar}\n`);
      continue;
    }
    out.push(`${valueLead}\n`);
    block(member as object, deeper, out);
  }
}

/** `value` (JSON data) as one YAML document's text, ending in a newline. */
export function stringifyYaml(value: unknown): string {
  const scalar = inline(value);
  if (scalar !== undefined) return `${scalar}\n`;
  const out: string[] = [];
  block(value as object, "", out);
  return out.join("");
}
