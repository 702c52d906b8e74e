/**
 * Reversible encoding of values as NATS subject tokens.
 *
 * A NATS token may not contain `.`, `*`, `>` or whitespace, yet zone ids such as
 * `zone.trusted.org` contain dots. Letters, digits, `_` and `-` stand for themselves;
 * every other character becomes `~` followed by the upper-case hex of its UTF-8 bytes
 * (`zone.trusted.org` -> `zone~2Etrusted~2Eorg`). Only this canonical form decodes, so
 * build and parse are exact inverses in both directions.
 */
import { ErrorCode, OnexError } from "./errors.js";

const SAFE = /^[A-Za-z0-9_-]$/;
// Most values (entity ids, types, names) are all safe characters and are their own token: one
// test instead of a loop. Subjects are built and checked for every message sent and received.
const ALL_SAFE = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextEncoder();
// ignoreBOM: a value may start with U+FEFF, whose bytes a default decoder would drop.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `~XX` for each byte below 0x80 (the common escapes: `.` of zone ids, spaces, `:`). */
const ASCII_ESCAPE = Array.from({ length: 0x80 }, (_, byte) => "~" + byte.toString(16).toUpperCase().padStart(2, "0"));

/** Encodes one value as a subject token; rejects what no token can hold. */
export function encodeSubjectToken(value: string, param = "token"): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new OnexError(ErrorCode.SubjectToken, `subject param "${param}" must be a non-empty string`, { param });
  }
  if (ALL_SAFE.test(value)) return value;
  let out = "";
  // Runs of safe characters are copied whole; each other character is escaped byte by byte.
  let run = 0;
  for (let i = 0; i < value.length; ) {
    const c = value.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d) {
      i++;
      continue;
    }
    out += value.slice(run, i);
    if (c < 0x80) {
      out += ASCII_ESCAPE[c];
      i++;
    } else {
      const cp = value.codePointAt(i)!;
      if (cp >= 0xd800 && cp <= 0xdfff) {
        throw new OnexError(ErrorCode.SubjectToken, `subject param "${param}" holds a lone UTF-16 surrogate`, { param });
      }
      const ch = String.fromCodePoint(cp);
      for (const byte of utf8.encode(ch)) out += "~" + byte.toString(16).toUpperCase().padStart(2, "0");
      i += ch.length;
    }
    run = i;
  }
  return out + value.slice(run);
}

/** Decodes a token made by encodeSubjectToken; rejects any other spelling. */
export function decodeSubjectToken(token: string, param = "token"): string {
  if (typeof token !== "string") throw new OnexError(ErrorCode.SubjectParse, `subject token for "${param}" must be a string, not ${typeof token}`, { param });
  // A token of safe characters only is the value itself (and its own canonical spelling).
  if (ALL_SAFE.test(token)) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; ) {
    const ch = token[i]!;
    if (ch === "~") {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw malformed(token, param);
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else if (SAFE.test(ch)) {
      bytes.push(ch.charCodeAt(0));
      i += 1;
    } else {
      throw malformed(token, param);
    }
  }
  let value: string;
  try {
    value = strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    throw malformed(token, param);
  }
  // Reject non-canonical spellings such as `~41` for `A`: they would not round-trip.
  if (value.length === 0 || encodeSubjectToken(value, param) !== token) throw malformed(token, param);
  return value;
}

/**
 * Splits `subject` into tokens and checks them against a template's literal tokens
 * (`null` marks a placeholder). Returns the tokens.
 */
export function matchSubjectTemplate(subject: string, template: readonly (string | null)[], name: string): string[] {
  const tokens = typeof subject === "string" ? subject.split(".") : [];
  const ok = tokens.length === template.length && template.every((literal, i) => literal === null || literal === tokens[i]);
  if (!ok) {
    const shape = template.map((t) => t ?? "*").join(".");
    throw new OnexError(ErrorCode.SubjectParse, `subject "${String(subject)}" does not match the ${name} template ${shape}`, {
      subject: String(subject),
    });
  }
  return tokens;
}

/**
 * The parts a subject is built or filtered from, checked: ONEX_E_SUBJECT_TOKEN unless they are an
 * object and, for a filter (`params` given), name only the template's params. A filter reads
 * each param it knows and puts `*` for one not given, so a zone passed as a string, or a part
 * under a misspelt name, silently widened a subscription to every zone.
 */
export function checkSubjectParts(parts: unknown, name: string, params?: readonly string[]): void {
  if (parts === null || typeof parts !== "object" || Array.isArray(parts)) {
    throw new OnexError(ErrorCode.SubjectToken, `the parts of a ${name} subject must be an object of its params, not ${parts === null ? "null" : Array.isArray(parts) ? "an array" : typeof parts}`, { subject: name });
  }
  const unknown = params === undefined ? undefined : Object.keys(parts).find((key) => !params.includes(key));
  if (unknown !== undefined) {
    throw new OnexError(ErrorCode.SubjectToken, `"${unknown.slice(0, 64)}" is not a param of the ${name} subject (${params!.join(", ")})`, { subject: name, param: unknown.slice(0, 64) });
  }
}

function malformed(token: string, param: string): OnexError {
  return new OnexError(ErrorCode.SubjectParse, `subject token "${token}" for "${param}" is not a valid onex token encoding`, {
    param,
    token,
  });
}
