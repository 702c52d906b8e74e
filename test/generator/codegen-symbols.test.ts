/**
 * The codegen contract (generator/codegen-symbols.ts): generated code imports the runtime
 * only through the table, the runtime's codegen entry point exports exactly the table, and
 * every symbol in it is used by the bundled output, so nothing is promised that no SDK needs.
 */
import { existsSync } from "node:fs";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { CODEGEN_V1_SYMBOLS, DEFAULT_RUNTIME_IMPORT, runtimeImportLine } from "../../generator/codegen-symbols.js";
import { generate } from "../../generator/generate.js";
import { ErrorCode } from "../../runtime/errors.js";
import { PROJECT_ROOT, copySchemas, removeTempDirs, tempDir } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

const TABLE = Object.keys(CODEGEN_V1_SYMBOLS).sort();

/** The names every `import … from "<runtime import>"` in the TypeScript files under `dir` binds. */
async function runtimeImportsUnder(dir: string, specifier = DEFAULT_RUNTIME_IMPORT): Promise<{ file: string; names: string[] }[]> {
  const found: { file: string; names: string[] }[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.parentPath.includes("dist")) continue;
    const file = join(entry.parentPath, entry.name);
    const source = ts.createSourceFile(file, await readFile(file, "utf8"), ts.ScriptTarget.ES2022);
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement) || (statement.moduleSpecifier as ts.StringLiteral).text !== specifier) continue;
      const bindings = statement.importClause?.namedBindings;
      if (!bindings || !ts.isNamedImports(bindings)) throw new Error(`${file}: a runtime import must name its symbols`);
      found.push({ file, names: bindings.elements.map((e) => (e.propertyName ?? e.name).text) });
    }
  }
  return found;
}

describe("the codegen-v1 symbol table", () => {
  it("is exactly what @onex/runtime/codegen-v1 exports, values and types", () => {
    const entry = join(PROJECT_ROOT, "runtime", "codegen-v1.ts");
    const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true });
    const checker = program.getTypeChecker();
    const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    const exported = checker.getExportsOfModule(moduleSymbol).map((s) => s.name).sort();
    expect(exported).toEqual(TABLE);
  });

  it("covers every runtime import of the bundled SDK, and the SDK uses every symbol in it", async () => {
    const imports = await runtimeImportsUnder(join(PROJECT_ROOT, "generated"));
    expect(imports.length).toBeGreaterThan(0);
    const outside = imports.flatMap(({ file, names }) => names.filter((n) => !Object.hasOwn(CODEGEN_V1_SYMBOLS, n)).map((n) => `${file}: ${n}`));
    expect(outside).toEqual([]);
    const used = [...new Set(imports.flatMap(({ names }) => names))].sort();
    expect(used).toEqual(TABLE);
  });

  it("marks types as type-only imports, so the emitted JavaScript imports values alone", () => {
    expect(runtimeImportLine("@onex/runtime/codegen-v1", ["OnexMessage", "MessageInit"], { alias: true })).toBe(
      'import { OnexMessage as $OnexMessage, type MessageInit as $MessageInit } from "@onex/runtime/codegen-v1";',
    );
  });

  it("refuses a template that imports a runtime symbol outside the table (ONEX_E_TEMPLATE)", async () => {
    const { schemas, out } = await copySchemas();
    const templates = await tempDir("onex-templates-");
    const bundled = await readFile(join(PROJECT_ROOT, "templates", "subjects.ts.hbs"), "utf8");
    expect(bundled).toContain('{{importRuntime "checkSubjectParts"');
    await writeFile(join(templates, "subjects.ts.hbs"), bundled.replace('{{importRuntime "checkSubjectParts"', '{{importRuntime "connect" "checkSubjectParts"'));
    await expect(generate({ schemasDir: schemas, outDir: out, templatesDir: templates })).rejects.toMatchObject({
      code: ErrorCode.TemplateError,
      message: expect.stringContaining('"connect"'),
    });
    // The same folder with the bundled template generates, so the refusal is the symbol's.
    await cp(join(PROJECT_ROOT, "templates", "subjects.ts.hbs"), join(templates, "subjects.ts.hbs"));
    await expect(generate({ schemasDir: schemas, outDir: out, templatesDir: templates })).resolves.toBeDefined();
  });
  it("refuses a --runtime-import that starts with ./ (ONEX_E_USAGE), writing nothing: it named a different file from each generated folder", async () => {
    const { schemas, out } = await copySchemas();
    await expect(generate({ schemasDir: schemas, outDir: out, runtimeImport: "./runtime.js" })).rejects.toMatchObject({
      code: ErrorCode.Usage,
      message: expect.stringContaining("../runtime.js"),
    });
    expect(existsSync(out)).toBe(false);
    // One folder up names the output folder itself, from every file that imports the runtime.
    await generate({ schemasDir: schemas, outDir: out, runtimeImport: "../runtime.js" });
    const imports = await runtimeImportsUnder(out, "../runtime.js");
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter(({ file }) => relative(out, file).split(sep).length !== 2)).toEqual([]);
  });
});
