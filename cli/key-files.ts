/**
 * Key, grant and record files of the trust commands, handled as ssh handles its keys: a
 * private key readable by others is refused unless the user says otherwise, and key files
 * are written whole, owner-only from their first byte, never through a symlink.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { Flags } from "@oclif/core";
import { ErrorCode, OnexError, assertZoneId, parseJson } from "@onex/runtime";
import { exportPrivateKey, exportPublicKey, importPrivateKey, importPublicKey, type KeyFormat, type KeyPair, type PublicKey } from "@onex/runtime";
import { parseRfc3339 } from "@onex/runtime";
import { ZoneAuthorities } from "@onex/runtime";
import { readFailure } from "./file-errors.js";
import { withFileLock } from "./file-lock.js";
import { decodeUtf8Text, parseJsonBytes } from "./message-input.js";
import { OutputFile } from "./output-file.js";

/** The flag every command reading a private key shares. */
export const privateKeyFlags = {
  "allow-unprotected-key": Flags.boolean({ description: "Use a private key file that other users can read (refused by default, as ssh does).", default: false }),
};

/**
 * The most a key, grant, record or list file holds. These files are small; a path to something
 * that never ends (/dev/zero, /dev/urandom) would otherwise be read until memory runs out.
 * Pipes stay readable (`--key <(pass show node.key)`): they end.
 */
export const MAX_SMALL_FILE_BYTES = 64 * 1024 * 1024;

/** Reads a file's bytes, or throws ONEX_E_FILE_NOT_FOUND / ONEX_E_FILE_UNREADABLE naming it. */
export function readFileBytes(path: string, what: string): Buffer {
  return readOpenFile(path, what, () => undefined).bytes;
}

/**
 * Opens `path`, checks it with `check` (its stat, on the descriptor read), and reads at most
 * MAX_SMALL_FILE_BYTES of it; every failure is ONEX_E_FILE_NOT_FOUND or ONEX_E_FILE_UNREADABLE.
 */
function readOpenFile<T>(path: string, what: string, check: (stat: Stats) => T): { bytes: Buffer; checked: T } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (cause) {
    throw readFailure(cause, path, what);
  }
  try {
    // One descriptor for the checks and the read, so the file checked is the file read.
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error("is a folder"), { code: "EISDIR" });
    const checked = check(stat);
    const tooLarge = () => new OnexError(ErrorCode.FileUnreadable, `cannot read the ${what} ${path}: it holds more than ${MAX_SMALL_FILE_BYTES / (1024 * 1024)} MiB, which no ${what} does (a device such as /dev/zero never ends)`, { file: path });
    if (stat.isFile() && stat.size > MAX_SMALL_FILE_BYTES) throw tooLarge();
    // One scratch buffer, each read copied out at its length: a pipe giving a few bytes a read
    // must not hold a whole buffer per read.
    const scratch = Buffer.allocUnsafe(64 * 1024);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const read = readSync(fd, scratch, 0, scratch.length, null);
      if (read === 0) break;
      total += read;
      if (total > MAX_SMALL_FILE_BYTES) throw tooLarge();
      chunks.push(Buffer.from(scratch.subarray(0, read)));
    }
    return { bytes: Buffer.concat(chunks, total), checked };
  } catch (cause) {
    if (cause instanceof OnexError) throw cause;
    throw readFailure(cause, path, what);
  } finally {
    closeSync(fd);
  }
}

/** Reads a file as UTF-8 text (BOM stripped, invalid UTF-8 refused). */
export function readTextFile(path: string, what: string): string {
  return decodeUtf8Text(readFileBytes(path, what), path);
}

/** Reads a JSON file with the one JSON parser (duplicate member names and rounded numbers refused). */
export function readJsonFile(path: string, what: string): unknown {
  const bytes = readFileBytes(path, what);
  return withWhat(path, what, () => parseJsonBytes(bytes, path));
}

/**
 * Reads the values of a file holding a JSON array, one JSON value, or NDJSON (one value a line,
 * as `onex registry list` prints): what a command's list of records may be given as.
 */
export function readJsonValues(path: string, what: string): unknown[] {
  const text = decodeUtf8Text(readFileBytes(path, what), path);
  let whole: unknown;
  try {
    whole = parseJson(text, { file: path });
  } catch (error) {
    // Not one JSON value: NDJSON when its first line is a JSON value by itself, as the message
    // reader decides (then each line is one, and an error names its line). Otherwise the whole
    // text's error stands: a pretty-printed array with a duplicate member name is refused for
    // that, not as "not valid JSON at line 1" for the `[` alone on its first line.
    const lines = text.split("\n");
    const first = lines.findIndex((line) => line.trim() !== "");
    const read = (line: string, index: number) => parseJson(line, { file: path, firstLine: index + 1 });
    const ndjson = error instanceof OnexError && first >= 0 && isJsonValue(() => read(lines[first]!, first));
    return withWhat(path, what, () => {
      if (!ndjson) throw error;
      return lines.flatMap((line, index) => (line.trim() === "" ? [] : [read(line, index)]));
    });
  }
  return Array.isArray(whole) ? whole : [whole];
}

/** Whether `read` gives a JSON value rather than an OnexError. */
function isJsonValue(read: () => unknown): boolean {
  try {
    read();
    return true;
  } catch (error) {
    if (error instanceof OnexError) return false;
    throw error;
  }
}

/** What `read` returns, its OnexError naming the file as the `what` it was read as. */
function withWhat<T>(path: string, what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof OnexError) throw new OnexError(error.code, `the ${what} ${path}: ${error.message}`, error.details, { cause: error });
    throw error;
  }
}

/**
 * Reads a private key file (PEM or compact). Refuses, with ONEX_E_KEY_PERMISSIONS, a file
 * that group or others may read, unless `allowUnprotected`: a key others can read is a key
 * others may hold.
 */
export function readPrivateKey(path: string, options: { allowUnprotected?: boolean } = {}): KeyPair {
  const { bytes, checked: mode } = readOpenFile(path, "private key", (stat) => stat.mode & 0o777);
  // What the file is comes first (a public key passed as --key is named as such), then who may read it.
  const key = withFile(path, () => importPrivateKey(decodeUtf8Text(bytes, path)));
  if ((mode & 0o077) !== 0 && !options.allowUnprotected && process.platform !== "win32") {
    throw new OnexError(
      ErrorCode.KeyPermissions,
      `private key ${path} is readable by others (mode ${mode.toString(8).padStart(4, "0")}); run \`chmod 600 ${path}\`, or pass --allow-unprotected-key`,
      { file: path, mode },
    );
  }
  return key;
}

/** Reads public key files (PEM or compact; a private key file yields its public half); weak keys are refused. */
export function readPublicKeys(paths: readonly string[]): PublicKey[] {
  return paths.map((path) => withFile(path, () => importPublicKey(readTextFile(path, "public key"))));
}

/**
 * Reads `--authority` values, each `ZONE=FILE` or `FILE`: an authority is trusted for one zone
 * only. A bare FILE speaks for `defaultZone`; without one it is a usage error.
 */
export function readZoneAuthorities(specs: readonly string[], defaultZone: string | undefined, defaultZoneFlag: string): ZoneAuthorities {
  const authorities = new ZoneAuthorities();
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const zone = eq > 0 ? spec.slice(0, eq) : defaultZone;
    const path = eq > 0 ? spec.slice(eq + 1) : spec;
    if (zone === undefined || zone === "") {
      throw new OnexError(ErrorCode.Usage, `--authority ${spec} names no zone: write --authority ZONE=${spec} (an authority speaks for one zone), or give ${defaultZoneFlag}`);
    }
    // An authority of a zone no message can name counts for no grant a message is judged by; it is
    // refused before its key file is read, named as the flag (a bare FILE's zone is --zone's, or
    // the grant's own, which `grant inspect` otherwise called valid).
    assertZoneId(zone, eq > 0 ? "--authority" : `--authority ${spec}`);
    for (const key of readPublicKeys([path])) authorities.trust(zone, key);
  }
  return authorities;
}

/**
 * Writes a key pair as `<prefix>.key` (0600) and `<prefix>.pub` (0644): both or neither.
 * Without `force` nothing is written when either file exists. `<prefix>.key.lock` is held while
 * the two are moved into place, so runs at once leave one run's pair, never a mix; a failure
 * leaves the old pair (OutputFile.commitAll), never a new .key beside an old .pub.
 */
export function writeKeyPairFiles(prefix: string, key: KeyPair, format: KeyFormat, force: boolean): { privatePath: string; publicPath: string } {
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  const secret = OutputFile.create(privatePath, { force, mode: 0o600 });
  let publicFile: OutputFile;
  try {
    publicFile = OutputFile.create(publicPath, { force, mode: 0o644 });
  } catch (error) {
    secret.discard();
    throw error;
  }
  try {
    secret.write(exportPrivateKey(key, format).trimEnd() + "\n");
    publicFile.write(exportPublicKey(key.publicKey, format).trimEnd() + "\n");
  } catch (error) {
    secret.discard();
    publicFile.discard();
    throw error;
  }
  // One run at a time moves its pair into place: two `keygen --force` at once each replaced both
  // files, and one's .key could stand beside the other's .pub (a fifth of the runs), both saying done.
  // The .key moves last: a failure before it leaves the old pair (the .pub put back), and a run
  // killed (SIGKILL) between the two moves leaves the old private key in place, beside the new .pub.
  try {
    withFileLock(privatePath, () => OutputFile.commitAll([publicFile, secret]));
  } catch (error) {
    secret.discard();
    publicFile.discard();
    throw error;
  }
  return { privatePath, publicPath };
}

/** Parses a time flag as strict RFC 3339 with offset; throws ONEX_E_USAGE. */
export function parseTime(text: string, flag: string): number {
  const ms = parseRfc3339(text);
  if (Number.isNaN(ms)) throw new OnexError(ErrorCode.Usage, `--${flag} "${text}" is not an RFC 3339 time with offset (like 2027-01-01T00:00:00Z)`);
  return ms;
}

function withFile<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof OnexError && (error.code === ErrorCode.KeyInvalid || error.code === ErrorCode.KeyWeak)) {
      throw new OnexError(error.code, `${path}: ${error.message}`, { ...error.details, file: path }, { cause: error });
    }
    // A key file that is not even UTF-8 text is no key.
    if (error instanceof OnexError && error.code === ErrorCode.JsonSyntax) {
      throw new OnexError(ErrorCode.KeyInvalid, `${path}: not a key file (${error.message})`, { ...error.details, file: path }, { cause: error });
    }
    throw error;
  }
}
