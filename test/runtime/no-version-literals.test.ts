/**
 * Protocol knowledge lives in generated code: the runtime's code names no protocol version.
 * Every token of every runtime source (comments excluded, which the TypeScript scanner skips)
 * is checked: no string or template literal that is, or contains, a version (`0.1`, `v0.0.9`,
 * `onex/v0.2`), and no identifier named after one (`v0_1`). Versions come from the SDK a
 * caller passes in, never from the runtime.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const RUNTIME = join(PROJECT_ROOT, "runtime");

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === "dist" || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

// A version in a literal: digits, a dot, digits (and maybe one more part), not inside a longer
// dotted number such as an IP address, nor HTTP's own (`HTTP/1.1`, which the data plane's
// piece client speaks), nor an npm range of a package's versions (`~3.3.1`, `^1.1.2`, which
// the registry names in the install it advises); optionally written with its `v`.
const VERSION_IN_TEXT = /(?<![\w.~^])(?<!HTTP\/)v?\d+\.\d+(?:\.\d+)?(?![\w.]*\d)/;
const VERSION_IDENTIFIER = /^v\d+_\d+(?:_\d+)?$/;

/** Version literals in the code (not the comments) of one TypeScript source. */
export function versionLiteralsIn(text: string): { line: number; token: string }[] {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, /* skipTrivia */ true, ts.LanguageVariant.Standard, text);
  const found: { line: number; token: string }[] = [];
  const lineOf = (pos: number) => text.slice(0, pos).split("\n").length;
  // What each open `{` belongs to: a block or object, or a template's `${`.
  const open: ("brace" | "template")[] = [];
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    if (kind === ts.SyntaxKind.CloseBraceToken && open.pop() === "template") {
      // The `}` closing a substitution: the template goes on from here.
      kind = scanner.reScanTemplateToken(false);
    }
    if (kind === ts.SyntaxKind.OpenBraceToken) open.push("brace");
    if (kind === ts.SyntaxKind.TemplateHead || kind === ts.SyntaxKind.TemplateMiddle) open.push("template");
    const literal =
      kind === ts.SyntaxKind.StringLiteral ||
      kind === ts.SyntaxKind.NoSubstitutionTemplateLiteral ||
      kind === ts.SyntaxKind.TemplateHead ||
      kind === ts.SyntaxKind.TemplateMiddle ||
      kind === ts.SyntaxKind.TemplateTail;
    if (literal && VERSION_IN_TEXT.test(scanner.getTokenValue())) found.push({ line: lineOf(scanner.getTokenStart()), token: scanner.getTokenText() });
    if (kind === ts.SyntaxKind.Identifier && VERSION_IDENTIFIER.test(scanner.getTokenValue())) found.push({ line: lineOf(scanner.getTokenStart()), token: scanner.getTokenText() });
  }
  return found;
}

describe("no protocol version in the runtime", () => {
  it("finds version literals where they are, and none in comments", () => {
    const sample = [
      "// v0.1 is the specification's version",
      "/** reads `protocol.version` (v0.1 on) */",
      'const a = "0.1";',
      "const b = `onex/v0.2`;",
      "const c = `${x} speaks ${{ a: 1 }.a} v0.0.9 ${y}`;",
      "import * as v0_1 from 'x';",
      'const ip = "127.0.0.1", offer = "onex.offer/1", ratio = 0.5, path = `v${version}`;',
      'const status = "HTTP/1.1 200 OK", request = `GET ${path} HTTP/1.1`, other = "onex/0.2";',
      'const ranges = { kv: "~3.3.1", etcd3: "^1.1.2" };',
      'const spelt = "v0.3.1";',
    ].join("\n");
    expect(versionLiteralsIn(sample).map((f) => f.line)).toEqual([3, 4, 5, 6, 8, 10]);
  });

  it("runtime/ has none outside comments", async () => {
    const offending: string[] = [];
    for (const file of await sources(RUNTIME)) {
      for (const { line, token } of versionLiteralsIn(await readFile(file, "utf8"))) offending.push(`${relative(PROJECT_ROOT, file)}:${line}: ${token}`);
    }
    expect(offending).toEqual([]);
  });
});
