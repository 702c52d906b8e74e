/** Reading key and record files for the trust commands, and writing secrets with owner-only permissions. */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { ErrorCode, OnexError } from "../runtime/errors.js";
import { importPrivateKey, importPublicKey, type KeyPair, type PublicKey } from "../runtime/trust/keys.js";

/** Reads a file as text, or throws ONEX_E_FILE_NOT_FOUND naming it. */
export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (cause) {
    throw new OnexError(ErrorCode.FileNotFound, `cannot read the ${what} ${path}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { file: path }, { cause });
  }
}

/** Reads a JSON file, or throws ONEX_E_FILE_NOT_FOUND / ONEX_E_JSON_SYNTAX naming it. */
export function readJsonFile(path: string, what: string): unknown {
  const text = readTextFile(path, what);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new OnexError(ErrorCode.JsonSyntax, `the ${what} ${path} is not valid JSON: ${(cause as Error).message}`, { file: path }, { cause });
  }
}

/** Reads a private key file (PEM or compact text). */
export function readPrivateKey(path: string): KeyPair {
  return withFile(path, () => importPrivateKey(readTextFile(path, "private key")));
}

/** Reads public key files (PEM or compact; a private key file yields its public half). */
export function readPublicKeys(paths: readonly string[]): PublicKey[] {
  return paths.map((path) => withFile(path, () => importPublicKey(readTextFile(path, "public key"))));
}

/**
 * Writes a secret with mode 0600. Refuses to replace an existing file unless `overwrite`;
 * an existing file keeps its inode, so its mode is reset explicitly.
 */
export function writeSecretFile(path: string, content: string, overwrite: boolean): void {
  try {
    writeFileSync(path, content, { mode: 0o600, flag: overwrite ? "w" : "wx" });
    chmodSync(path, 0o600);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new OnexError(ErrorCode.Usage, `${path} exists; pass --force to replace it`, { file: path }, { cause });
    throw new OnexError(ErrorCode.FileNotFound, `cannot write ${path}: ${code ?? (cause as Error).message}`, { file: path }, { cause });
  }
}

/** Writes a public file (mode 0644), refusing to replace one unless `overwrite`. */
export function writePublicFile(path: string, content: string, overwrite: boolean): void {
  try {
    writeFileSync(path, content, { mode: 0o644, flag: overwrite ? "w" : "wx" });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new OnexError(ErrorCode.Usage, `${path} exists; pass --force to replace it`, { file: path }, { cause });
    throw new OnexError(ErrorCode.FileNotFound, `cannot write ${path}: ${code ?? (cause as Error).message}`, { file: path }, { cause });
  }
}

/** Parses a duration such as `90s`, `15m`, `12h` or `30d` into ms; throws ONEX_E_USAGE. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new OnexError(ErrorCode.Usage, `"${text}" is not a duration like 90s, 15m, 12h or 30d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "ms" | "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

/** Parses an RFC 3339 time flag; throws ONEX_E_USAGE. */
export function parseTime(text: string, flag: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new OnexError(ErrorCode.Usage, `--${flag} "${text}" is not an RFC 3339 time`);
  return ms;
}

function withFile<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof OnexError && error.code === ErrorCode.KeyInvalid) {
      throw new OnexError(error.code, `${path}: ${error.message}`, { ...error.details, file: path }, { cause: error });
    }
    throw error;
  }
}
