/**
 * The escape functions module of a transform file (`functions: from-v0.1.ts`), read by the
 * TypeScript parser: a text search for `export function name` would accept a commented-out
 * export and a file that does not parse (which the SDK's transpiler then silently "repairs"
 * into code that drops fields), and refuse `export { name }`. The module is copied into the
 * generated SDK and runs wherever it is installed, so it may import nothing but the
 * runtime's codegen entry point: another module would not be there (a relative import), or
 * would give a transform powers no transform needs (`node:fs`). This keeps mistakes out, not
 * a hostile author: code can still reach modules through globals (`process.getBuiltinModule`,
 * `eval`), and the module is trusted as a build script is.
 */
import { ErrorCode, OnexError } from "@onex/runtime";
import { loadTypeScript } from "../load-typescript.js";

/** The only module an escape functions module may import. */
export const CODEGEN_ENTRY = "@onex/runtime/codegen-v1";

/** The names a functions module exports; throws ONEX_E_TRANSFORM_INVALID at file:line:col when it does not parse or imports anything else. */
export async function exportedFunctions(file: string, source: string): Promise<Set<string>> {
  const ts = await loadTypeScript(`read ${file}`);
  const fail = (position: number, message: string): never => {
    const { line, character } = ts.getLineAndCharacterOfPosition(parsed, position);
    throw new OnexError(ErrorCode.TransformInvalid, `${file}:${line + 1}:${character + 1}: ${message}`, { file, line: line + 1, column: character + 1 });
  };
  const transpiled = ts.transpileModule(source, { fileName: file, reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const parsed = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const syntax = transpiled.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
  if (syntax !== undefined) fail(syntax.start ?? 0, `the functions module does not parse: ${ts.flattenDiagnosticMessageText(syntax.messageText, " ")}`);

  // Names exported with a value at run time: not a default export, an ambient `declare`, an
  // overload signature without a body, or a variable without an initial value.
  const exported = new Set<string>();
  const has = (node: import("typescript").Node, kind: import("typescript").SyntaxKind) => ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
  const isExported = (node: import("typescript").Node) => has(node, ts.SyntaxKind.ExportKeyword) && !has(node, ts.SyntaxKind.DefaultKeyword) && !has(node, ts.SyntaxKind.DeclareKeyword);
  for (const statement of parsed.statements) {
    if (ts.isFunctionDeclaration(statement) && statement.name && statement.body && isExported(statement)) exported.add(statement.name.text);
    else if (ts.isVariableStatement(statement) && isExported(statement)) {
      for (const declaration of statement.declarationList.declarations) if (ts.isIdentifier(declaration.name) && declaration.initializer) exported.add(declaration.name.text);
    } else if (ts.isExportDeclaration(statement) && !statement.isTypeOnly && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const element of statement.exportClause.elements) if (!element.isTypeOnly) exported.add(element.name.text);
    }
  }
  const visit = (node: import("typescript").Node): void => {
    const specifier =
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined
        ? node.moduleSpecifier
        : ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)
          ? node.moduleReference.expression
          : ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === "require"))
            ? (node.arguments[0] ?? node)
            : undefined;
    if (specifier !== undefined) {
      const name = ts.isStringLiteral(specifier) ? specifier.text : undefined;
      if (name !== CODEGEN_ENTRY) fail(specifier.getStart(parsed), `the functions module imports ${name === undefined ? "a module named at run time" : `"${name}"`}; it may import only "${CODEGEN_ENTRY}", the one module installed wherever the generated SDK runs`);
    }
    ts.forEachChild(node, visit);
  };
  visit(parsed);
  return exported;
}
