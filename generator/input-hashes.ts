/**
 * The input hashes `onex generate` records in every generated file's header
 * (`// input sha256:<hex>`), computed from the schemas folder alone, without loading,
 * checking or compiling a version. Commands that run on a generated SDK compare them with the
 * headers to find out whether that SDK is current with the schemas (cli/sdk.ts).
 *
 * The formulas are load-version.ts's (a version's manifest and every file it declares) and
 * transforms/emit-adapters.ts's (a hop's transform file with both versions' hashes);
 * test/cli/project-sdk.test.ts checks that both give the same hashes on every bundled version.
 *
 * Which files a manifest declares, and a transform file's functions module, take a YAML parse
 * to know, and a command's first YAML parse costs it 40-80 ms of CPU (the parser's code runs
 * cold) for a few kilobytes. So, told what the headers record, a hash is first computed from
 * the files the text merely mentions; when that gives the recorded hash, those were the files
 * (any other set would hash otherwise), and YAML is never loaded. When it does not, the text
 * is parsed and the hash computed exactly, as without a record.
 */
import { createHash } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ErrorCode, OnexError } from "@onex/runtime";
import { MAX_YAML_DEPTH, yamlNestingBeyond } from "./yaml-depth.js";

/**
 * An input file's text as every hash takes it: CRLF line ends as LF and no leading BOM. A
 * Windows checkout (git core.autocrlf) has the same schemas in CRLF: hashed as bytes, an SDK
 * generated on one checkout was "stale" on the other, `generate --check` failed and every
 * command refused with ONEX_E_SDK_STALE. The generator reads its inputs through this too
 * (yaml-file.ts, load-transforms.ts), so the hashes it records are the same ones.
 */
export function canonicalText(text: string): string {
  const unmarked = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return unmarked.includes("\r\n") ? unmarked.replace(/\r\n/g, "\n") : unmarked;
}

// fatal: a file that is not UTF-8 (a Latin-1 "\xe9chec") was read with U+FFFD in place of its
// bytes, and generated a schema other than the one written, without a word. ignoreBOM: a leading
// BOM stays in the text, as a "utf8" read kept it, for canonicalText to drop.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The text of a user-authored input file (manifest, schema, transform, functions module,
 * template): its bytes must be UTF-8. Otherwise throws `code` at the line and column (as the
 * YAML parser counts them: UTF-16 units, a leading BOM not counted) of the first byte that is not.
 */
export function utf8Text(bytes: Uint8Array, file: string, code: ErrorCode): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    const { line, column, at } = firstNonUtf8Byte(bytes);
    const byte = `0x${bytes[at]!.toString(16).toUpperCase().padStart(2, "0")}`;
    throw new OnexError(code, `${file}:${line}:${column}: not valid UTF-8 (byte ${byte} at offset ${at}); save the file as UTF-8`, { file, line, column, offset: at }, { cause });
  }
}

/** Where the first byte of `bytes` that is not UTF-8 is (only called when there is one). */
function firstNonUtf8Byte(bytes: Uint8Array): { line: number; column: number; at: number } {
  // A lenient decoding spells the bytes exactly up to its first U+FFFD that is no EF BF BD of theirs.
  const lenient = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  let at = 0;
  let line = 1;
  let column = 1;
  for (const char of lenient) {
    const point = char.codePointAt(0)!;
    if (point === 0xfffd && !(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) break;
    at += point < 0x80 ? 1 : point < 0x800 ? 2 : point < 0x10000 ? 3 : 4;
    if (point === 0x0a) {
      line++;
      column = 1;
    } else if (!(point === 0xfeff && at === 3)) column += char.length;
  }
  return { line, column, at };
}

/** Reads an input file as its hash takes it (canonicalText). */
async function readText(path: string): Promise<string> {
  // Strictly, as the generator reads it: a file it refuses has no hash (the SDK is not current).
  return canonicalText(utf8Text(await readFile(path), path, ErrorCode.YamlSyntax));
}

/** What the headers of one schemas folder's generated SDK should say. */
export interface InputHashes {
  /** Version folder (`v0.1`) -> the hash in the headers of `generated/v0.1/*`. */
  versions: Map<string, string>;
  /** The hash in the header of `versions.ts`. */
  combined: string;
  /** Hop (`v0.1-v0.2`) -> the hash in the header of `transforms/v0.1-v0.2.ts`. */
  transforms: Map<string, string>;
}

/** What a generated SDK's headers record: version folder -> hash, hop (`v0.1-v0.2`) -> hash (undefined: no such file). */
export interface RecordedHashes {
  versions: ReadonlyMap<string, string | undefined>;
  transforms: ReadonlyMap<string, string | undefined>;
}

/**
 * The input hashes of `versions` (oldest first, as protocol-versions.ts lists them) of
 * `schemasDir`. A manifest that cannot be read or parsed gives no hash for its version (the
 * caller reports the version as not current); `onex generate` is where such mistakes are named.
 * With `recorded`, a hash that comes out as recorded is found without parsing YAML (see above).
 */
export async function inputHashes(schemasDir: string, versions: readonly string[], recorded?: RecordedHashes): Promise<InputHashes> {
  const ids = versions.map((v) => `v${v}`);
  const hashes = new Map<string, string>();
  for (const id of ids) {
    const hash = await versionHash(join(schemasDir, id), recorded?.versions.get(id)).catch(() => undefined);
    if (hash !== undefined) hashes.set(id, hash);
  }
  const combined = createHash("sha256");
  for (const id of ids) combined.update(`${id}\0${hashes.get(id) ?? ""}\0`);
  const transforms = new Map<string, string>();
  for (const [i, id] of ids.entries()) {
    const older = ids[i - 1];
    if (older === undefined) continue;
    const hop = `${older}-${id}`;
    const hash = await transformHash(join(schemasDir, id), hashes.get(older), hashes.get(id), recorded?.transforms.get(hop)).catch(() => undefined);
    if (hash !== undefined) transforms.set(hop, hash);
  }
  return { versions: hashes, combined: combined.digest("hex"), transforms };
}

/** The hash of a version folder: its manifest's bytes, then each declared file's path (as the manifest names it) and bytes, in path order. */
async function versionHash(versionDir: string, recorded: string | undefined): Promise<string> {
  const manifestText = await readText(join(versionDir, "manifest.yaml"));
  if (recorded !== undefined) {
    // A file the manifest's text merely mentions (a comment's example) may be one the generator never reads: undecodable, it sends this to the full path.
    const hash = await existing(versionDir, mentionedFiles(manifestText)).then((files) => hashOfVersion(versionDir, manifestText, files)).catch(() => undefined);
    if (hash === recorded) return hash;
  }
  const manifest = (await parseYaml(manifestText)) as {
    envelope: string;
    records?: Record<string, string>;
    messages: { payload: string }[];
  };
  const files = new Set<string>([join(versionDir, manifest.envelope)]);
  for (const file of Object.values(manifest.records ?? {})) files.add(join(versionDir, file));
  for (const m of manifest.messages) files.add(join(versionDir, m.payload));
  return hashOfVersion(versionDir, manifestText, files);
}

async function hashOfVersion(versionDir: string, manifestText: string, files: ReadonlySet<string>): Promise<string> {
  const hash = createHash("sha256").update(manifestText);
  for (const abs of [...files].sort(compare)) {
    hash.update(`\0${relative(versionDir, abs).split(sep).join("/")}\0${await readText(abs)}`);
  }
  return hash.digest("hex");
}

/** The hash of the one transform file into `versionDir` (and its functions module), with both versions' hashes. */
async function transformHash(versionDir: string, olderHash: string | undefined, newerHash: string | undefined, recorded: string | undefined): Promise<string | undefined> {
  if (olderHash === undefined || newerHash === undefined) return undefined;
  const names = (await readdir(versionDir)).filter((n) => /^from-v.+\.ya?ml$/.test(n)).sort(compare);
  if (names.length !== 1) return undefined;
  const yamlText = await readText(join(versionDir, names[0]!));
  const hashWith = async (functions: string | undefined) => {
    const text = functions === undefined ? "" : `\0${await readText(join(versionDir, functions))}`;
    return createHash("sha256").update(`${olderHash}\0${newerHash}\0${yamlText}${text}`).digest("hex");
  };
  if (recorded !== undefined) {
    const mentioned = /^functions:[ \t]*["']?([^"'#\s]+)/m.exec(yamlText)?.[1];
    const hash = await hashWith(mentioned).catch(() => undefined);
    if (hash === recorded) return hash;
  }
  const doc = (await parseYaml(yamlText)) as { functions?: string };
  return hashWith(typeof doc.functions === "string" ? doc.functions : undefined);
}

/** Every relative path with a .json, .yaml or .yml name the text names anywhere (values, comments, URLs' tails). */
function mentionedFiles(text: string): string[] {
  return text.match(/[\w./-]+\.(?:json|ya?ml)\b/g) ?? [];
}

/** Of `paths` (relative to `dir`), the files that exist, as absolute paths. */
async function existing(dir: string, paths: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const path of new Set(paths.map((p) => join(dir, p)))) {
    if (await stat(path).then((s) => s.isFile(), () => false)) found.add(path);
  }
  return found;
}

/** YAML's parser, loaded only when a hash needs it (see the module comment). */
async function parseYaml(text: string): Promise<unknown> {
  // As the yaml package's own errors are thrown here: a file it cannot parse is one it cannot hash.
  const deep = yamlNestingBeyond(text);
  if (deep !== undefined) throw new SyntaxError(`line ${deep}: YAML nested deeper than ${MAX_YAML_DEPTH} levels`);
  const { parse } = await import("yaml");
  return parse(text);
}

/** Plain code-unit comparison, as the generator orders files. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The hash a generated file's header records (`// input sha256:<hex>` in its first lines), if any. */
export function headerHash(text: string): string | undefined {
  return /^\/\/ input sha256:([0-9a-f]{64})\b/m.exec(text.slice(0, 2000))?.[1];
}
