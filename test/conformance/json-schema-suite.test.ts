/**
 * The JSON Schema 2020-12 test suite, run through the path generated validators take:
 * `createAjv` (with the JSON-data checks emit-validators.ts compiles into every validator,
 * which must change no answer on JSON data) → ajv standalone code → `standaloneValidatorSource` (requires rewritten to
 * imports of `@onex/runtime/codegen-v1`) → an ES module written to disk and imported, so a
 * defect of the rewrite or of the runtime entry shows up here. A file with failing cases is run
 * through ajv's run-time `ajv.compile` as well, which must fail exactly those. Cases ajv cannot handle are listed in SUITE_EXCEPTIONS with the reason
 * (mirrored in docs/conformance.md); the test fails when a listed case starts passing as well
 * as when an unlisted one fails, so the list stays exact.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { standaloneValidatorSource } from "../../generator/emit-validators.js";
import { addJsonCheckKeyword, withJsonChecks } from "../../generator/json-checks.js";
import { createAjv } from "../../generator/meta-schema.js";
import type { JsonSchema } from "../../generator/model.js";
import { SUITE_EXCEPTIONS } from "./suite-exceptions.js";

// Copied into the repository (see corpora/README.md for its source commit), so a fresh clone runs it.
const SUITE_ROOT = fileURLToPath(new URL("./corpora/json-schema-test-suite/", import.meta.url));
const TESTS_DIR = join(SUITE_ROOT, "tests-draft2020-12");
const REMOTES_DIR = join(SUITE_ROOT, "remotes");
// The suite expects `remotes/` to be served here.
const REMOTE_BASE = "http://localhost:1234/";
// The specifier generated code uses; vitest aliases it to runtime/codegen-v1.ts.
const RUNTIME_IMPORT = "@onex/runtime/codegen-v1";

interface SuiteTest {
  description: string;
  data: unknown;
  valid: boolean;
}

interface SuiteCase {
  description: string;
  schema: unknown;
  tests: SuiteTest[];
}

type Validator = (data: unknown) => boolean;

/** `file › case › test`: the id used in SUITE_EXCEPTIONS and docs/conformance.md. */
function testId(file: string, suiteCase: SuiteCase, test: SuiteTest): string {
  return `${file} › ${suiteCase.description} › ${test.description}`;
}

async function listJsonFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".json"))
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join("/"))
    .sort();
}

/**
 * Remote documents for draft 2020-12. The folders of other drafts and of the unreleased `v1`
 * declare meta-schemas Ajv2020 does not know, and no 2020-12 test refers to them.
 */
async function loadRemotes(): Promise<[string, unknown][]> {
  const files = (await listJsonFiles(REMOTES_DIR)).filter((f) => !/^(draft(3|4|6|7|2019-09)|v1)\//.test(f));
  return Promise.all(files.map(async (f) => [REMOTE_BASE + f, JSON.parse(await readFile(join(REMOTES_DIR, f), "utf8"))] as [string, unknown]));
}

function suiteAjv(remotes: [string, unknown][]): Ajv2020 {
  const ajv = createAjv({ strict: false });
  // Unknown formats and keywords are part of the suite; ajv's warnings about them are noise here.
  Object.assign(ajv, { logger: { log() {}, warn() {}, error() {} } });
  addJsonCheckKeyword(ajv);
  for (const [url, schema] of remotes) ajv.addSchema(schema as object, url);
  return ajv;
}

let workDir = "";
let remotes: [string, unknown][] = [];
let moduleCount = 0;

/**
 * Compiles `cases` into one standalone module, writes and imports it. Throws when ajv
 * cannot add or compile one of the schemas; the caller then retries case by case.
 */
async function loadValidators(file: string, cases: SuiteCase[]): Promise<Validator[]> {
  const ajv = suiteAjv(remotes);
  const refs: Record<string, string> = {};
  cases.forEach((c, i) => {
    ajv.addSchema(withJsonChecks(c.schema as JsonSchema) as object, `suite:case${i}`);
    refs[`case${i}`] = `suite:case${i}`;
  });
  const source = standaloneValidatorSource(ajv, refs, RUNTIME_IMPORT, { language: "js" });
  const path = join(workDir, `${file.replace(/[^A-Za-z0-9]+/g, "_")}_${moduleCount++}.mjs`);
  await writeFile(path, source);
  const module = (await import(pathToFileURL(path).href)) as Record<string, Validator>;
  return cases.map((_c, i) => module[`case${i}`]!);
}

interface FileOutcome {
  /** Ids of tests whose result differs from the suite's `valid`, with what went wrong. */
  failures: Map<string, string>;
  testCount: number;
}

async function runFile(file: string): Promise<FileOutcome> {
  const cases = JSON.parse(await readFile(join(TESTS_DIR, file), "utf8")) as SuiteCase[];
  let validators: (Validator | Error)[];
  try {
    validators = await loadValidators(file, cases);
  } catch {
    // One schema ajv rejects (or two cases sharing an `$id`) must not hide the other cases.
    validators = [];
    for (const c of cases) {
      try {
        validators.push((await loadValidators(file, [c]))[0]!);
      } catch (error) {
        validators.push(error as Error);
      }
    }
  }
  return { failures: failuresOf(file, cases, validators), testCount: cases.reduce((n, c) => n + c.tests.length, 0) };
}

/** The tests whose result differs from the suite's `valid`, with what went wrong, given each case's validator (or why it has none). */
function failuresOf(file: string, cases: SuiteCase[], validators: (Validator | Error)[]): Map<string, string> {
  const failures = new Map<string, string>();
  cases.forEach((c, i) => {
    const validate = validators[i]!;
    for (const t of c.tests) {
      const id = testId(file, c, t);
      if (validate instanceof Error) {
        failures.set(id, `compile error: ${validate.message.split("\n")[0]}`);
        continue;
      }
      let got: boolean | string;
      try {
        got = validate(t.data);
      } catch (error) {
        got = `threw ${(error as Error).message}`;
      }
      if (got !== t.valid) failures.set(id, `expected ${t.valid ? "valid" : "invalid"}, got ${String(got)}`);
    }
  });
  return failures;
}

/** The same file through ajv's own run-time `ajv.compile`, each case with an instance of its own: docs/conformance.md says every exception fails there the same way. */
async function runtimeFailures(file: string): Promise<Map<string, string>> {
  const cases = JSON.parse(await readFile(join(TESTS_DIR, file), "utf8")) as SuiteCase[];
  const validators = cases.map((c): Validator | Error => {
    try {
      return suiteAjv(remotes).compile(c.schema as object) as Validator;
    } catch (error) {
      return error as Error;
    }
  });
  return failuresOf(file, cases, validators);
}

const files = await listJsonFiles(TESTS_DIR);
const excepted = new Map(SUITE_EXCEPTIONS.flatMap((group) => group.tests.map((id) => [id, group.reason] as const)));

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "onex-suite-"));
  remotes = await loadRemotes();
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("JSON Schema 2020-12 test suite through the standalone validator path", () => {
  it("finds the suite in the repository", () => {
    expect(files.filter((f) => !f.startsWith("optional/")).length).toBeGreaterThan(40);
  });

  it("lists each exception once", () => {
    const ids = SUITE_EXCEPTIONS.flatMap((g) => g.tests);
    expect(ids.length).toBe(new Set(ids).size);
  });

  it("lists exceptions only for files of the suite", () => {
    const unknown = [...excepted.keys()].filter((id) => !files.includes(id.split(" › ")[0]!));
    expect(unknown).toEqual([]);
  });

  for (const file of files) {
    it(file, async () => {
      const { failures, testCount } = await runFile(file);
      expect(testCount).toBeGreaterThan(0);
      const unexpected = [...failures].filter(([id]) => !excepted.has(id)).map(([id, why]) => `${id}: ${why}`);
      const nowPassing = [...excepted.keys()].filter((id) => id.startsWith(`${file} › `) && !failures.has(id));
      expect(unexpected, "tests that fail and are not in SUITE_EXCEPTIONS").toEqual([]);
      expect(nowPassing, "SUITE_EXCEPTIONS entries that pass now (or name no test): remove them").toEqual([]);
      // The standalone path and the rewrite of its requires add no failure of their own.
      if (failures.size > 0) expect([...(await runtimeFailures(file)).keys()].sort(), "failures under ajv.compile").toEqual([...failures.keys()].sort());
    });
  }
});
