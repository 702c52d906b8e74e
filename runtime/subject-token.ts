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
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Encodes one value as a subject token; rejects what no token can hold. */
export function encodeSubjectToken(value: string, param = "token"): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new OnexError(ErrorCode.SubjectToken, `subject param "${param}" must be a non-empty string`, { param });
  }
  let out = "";
  for (const ch of value) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      throw new OnexError(ErrorCode.SubjectToken, `subject param "${param}" holds a lone UTF-16 surrogate`, { param });
    }
    for (const byte of utf8.encode(ch)) out += "~" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Decodes a token made by encodeSubjectToken; rejects any other spelling. */
export function decodeSubjectToken(token: string, param = "token"): string {
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

function malformed(token: string, param: string): OnexError {
  return new OnexError(ErrorCode.SubjectParse, `subject token "${token}" for "${param}" is not a valid onex token encoding`, {
    param,
    token,
  });
}
