/**
 * User-authored inputs that are not UTF-8 (a Latin-1 editor's "\xe9chec") are refused at their
 * first such byte. They were read with U+FFFD in its place: generate, diff, asyncapi and docs
 * exited 0, the validator's enum held "\ufffdchec" (so a correct "échec" failed validation) and
 * a description came out as "caf\ufffd" in every output.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import { utf8Text } from "../../generator/input-hashes.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

/** Replaces the first `find` in the file with `latin1`, written as Latin-1 bytes (one byte a character). */
async function putLatin1(path: string, find: string, latin1: string, prefix: Buffer = Buffer.alloc(0)): Promise<void> {
  const bytes = await readFile(path);
  const at = bytes.indexOf(find);
  if (at < 0) throw new Error(`${find} is not in ${path}`);
  await writeFile(path, Buffer.concat([prefix, bytes.subarray(0, at), Buffer.from(latin1, "latin1"), bytes.subarray(at + Buffer.byteLength(find))]));
}

const taskDispatch = (schemas: string) => join(schemas, "v0.2", "messages", "task-dispatch.yaml");
const latin1Enum = (schemas: string) => putLatin1(taskDispatch(schemas), "enum: [timeout, failed, unreachable]", 'enum: [timeout, "\xe9chec", unreachable]');
// Line 57 is `          enum: [timeout, "\xe9chec", unreachable]`: 27 characters before the byte.
const enumAt = { file: "schemas/v0.2/messages/task-dispatch.yaml", line: 57, column: 28 };

async function generateError(options: Parameters<typeof generate>[0]): Promise<OnexError> {
  const error = await generate(options).then(
    () => new Error("generate succeeded on input that is not UTF-8"),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnexError);
  return error as OnexError;
}

/** Every file under `dir` with its bytes, to compare a folder before and after. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) files.set(join(e.parentPath, e.name).slice(dir.length + 1), readFileSync(join(e.parentPath, e.name), "base64"));
  }
  return files;
}

describe("input files that are not UTF-8", () => {
  it("a schema file with a Latin-1 byte is ONEX_E_YAML_SYNTAX at that byte's line and column, and generate writes nothing", async () => {
    const { schemas, out } = await copySchemas();
    await latin1Enum(schemas);
    const error = await generateError({ schemasDir: schemas, outDir: out });
    expect(error.code).toBe(ErrorCode.YamlSyntax);
    expect(error.details).toMatchObject(enumAt);
    expect(error.message).toContain(`${enumAt.file}:57:28: not valid UTF-8 (byte 0xE9`);
    expect(error.message).not.toContain("\ufffd");
    expect(existsSync(out)).toBe(false);
  });

  it("a manifest with a Latin-1 byte after a BOM and a multi-byte character: the column counts characters, not bytes, and not the BOM", async () => {
    const { schemas, out } = await copySchemas();
    // Line 1 is `# O.N.E. protocol v0.2 — the next version ...`; the em dash is three bytes, one character.
    await putLatin1(join(schemas, "v0.2", "manifest.yaml"), "the next version", "th\xe9 next version", Buffer.from([0xef, 0xbb, 0xbf]));
    const error = await generateError({ schemasDir: schemas, outDir: out });
    expect([error.code, error.details]).toEqual([ErrorCode.YamlSyntax, expect.objectContaining({ file: "schemas/v0.2/manifest.yaml", line: 1, column: 28 })]);
    expect(existsSync(out)).toBe(false);
  });

  it("a transform's functions module with a Latin-1 byte is ONEX_E_TRANSFORM_INVALID at that byte", async () => {
    const { schemas, out } = await copySchemas();
    await putLatin1(join(schemas, "v0.2", "from-v0.1.ts"), " * Escape-hatch", " * \xc9scape-hatch");
    const error = await generateError({ schemasDir: schemas, outDir: out });
    expect([error.code, error.details]).toEqual([ErrorCode.TransformInvalid, expect.objectContaining({ file: "schemas/v0.2/from-v0.1.ts", line: 2, column: 4 })]);
    // Only that: a module it could not read leaves no "escape function is not exported" after it.
    expect(error.details.problems).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it("a --templates file with a Latin-1 byte is ONEX_E_TEMPLATE at that byte", async () => {
    const { schemas, out } = await copySchemas();
    const templates = await tempDir();
    const template = join(templates, "subjects.ts.hbs");
    const bundled = await readFile(join(PROJECT_ROOT, "templates", "subjects.ts.hbs"), "utf8");
    await writeFile(template, Buffer.from(bundled.replace("{{> header}}", "{{> header}}\n// caf\xe9"), "latin1"));
    const line = bundled.slice(0, bundled.indexOf("{{> header}}")).split("\n").length + 1;
    const error = await generateError({ schemasDir: schemas, outDir: out, templatesDir: templates });
    expect([error.code, error.details]).toEqual([ErrorCode.TemplateError, expect.objectContaining({ file: template, line, column: 7 })]);
    expect(existsSync(out)).toBe(false);
  });

  it("the CLI: generate, generate --check, diff, asyncapi and docs exit 3 with the code and location and no stack trace; generated/ is left as it was", async () => {
    const { root, schemas } = await copySchemas();
    expect(runCli(["generate", "--schemas", "schemas", "--out", "generated"], { cwd: root }).status).toBe(0);
    const before = snapshot(join(root, "generated"));
    await latin1Enum(schemas);
    for (const args of [["generate", "--out", "generated"], ["generate", "--check", "--out", "generated"], ["diff", "v0.1", "v0.2"], ["asyncapi", "v0.2"], ["docs", "--out", "site"]]) {
      const result = runCli([...args, "--schemas", "schemas"], { cwd: root });
      expect([args, result.status]).toEqual([args, 3]);
      expect(result.stderr).toContain(`error ${ErrorCode.YamlSyntax}:`);
      expect(result.stderr).toContain(`${enumAt.file}:57:28: not valid UTF-8`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(snapshot(join(root, "generated"))).toEqual(before);
    expect(existsSync(join(root, "site"))).toBe(false);
  }, 120_000);

  it("a file the manifest only mentions (in a comment), not UTF-8 and never read by generate, leaves the generated SDK current", async () => {
    const { root, schemas } = await copySchemas();
    const manifest = join(schemas, "v0.2", "manifest.yaml");
    await writeFile(manifest, `# an example message: examples/sample.json\n${await readFile(manifest, "utf8")}`);
    // UTF-16 with its byte order mark: no UTF-8.
    await mkdir(join(schemas, "v0.2", "examples"), { recursive: true });
    await writeFile(join(schemas, "v0.2", "examples", "sample.json"), Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]));
    expect(runCli(["generate", "--schemas", "schemas", "--out", "generated"], { cwd: root }).status).toBe(0);
    // The recorded hash is found again (the mentioned file read strictly failed that quick path, which made it ONEX_E_SDK_STALE for good).
    const versions = runCli(["versions", "--schemas", "schemas", "--generated", "generated"], { cwd: root });
    expect([versions.status, versions.stderr]).toEqual([0, ""]);
  }, 120_000);
});

describe("utf8Text", () => {
  const at = (bytes: number[]) => {
    try {
      utf8Text(Uint8Array.from(bytes), "f", ErrorCode.YamlSyntax);
    } catch (error) {
      const { line, column, offset } = (error as OnexError).details;
      return { line, column, offset };
    }
    return undefined;
  };

  it("decodes UTF-8 as it is, a leading BOM kept (canonicalText drops it, as before)", () => {
    expect(utf8Text(Buffer.from("\ufeffa: é\n", "utf8"), "f", ErrorCode.YamlSyntax)).toBe("\ufeffa: é\n");
  });

  it("names the first byte that is not UTF-8, past a real U+FFFD, a four-byte character (two columns) and line breaks", () => {
    const text = (s: string) => [...Buffer.from(s, "utf8")];
    expect(at([...text("a\n\ufffd😀x"), 0xe9])).toEqual({ line: 2, column: 5, offset: 10 });
    // A sequence cut short: at its first byte, also at the end of the file.
    expect(at([...text("ab"), 0xe2, 0x82, 0x41])).toEqual({ line: 1, column: 3, offset: 2 });
    expect(at([...text("ab\r\ncd"), 0xe2, 0x82])).toEqual({ line: 2, column: 3, offset: 6 });
    // An encoded surrogate and an overlong form are not UTF-8 either.
    expect(at([0x61, 0xed, 0xa0, 0x80])).toEqual({ line: 1, column: 2, offset: 1 });
    expect(at([0xc0, 0xaf])).toEqual({ line: 1, column: 1, offset: 0 });
  });
});
