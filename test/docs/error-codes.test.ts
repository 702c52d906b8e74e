import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exitCodeFor } from "../../cli/exit-codes.js";
import { ErrorCode } from "../../runtime/errors.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

describe("docs/errors.md", () => {
  it("documents every error code, and no code that does not exist", async () => {
    const doc = await readFile(join(PROJECT_ROOT, "docs", "errors.md"), "utf8");
    const documented = new Set([...doc.matchAll(/^\| `(ONEX_E_[A-Z_]+)` \|/gm)].map((m) => m[1]));
    const codes = new Set<string>(Object.values(ErrorCode));
    expect([...codes].filter((c) => !documented.has(c))).toEqual([]);
    expect([...documented].filter((c) => !codes.has(c!))).toEqual([]);
  });

  it("gives each code the exit status its table row names, and names every code whose exit status is not 3", async () => {
    const doc = await readFile(join(PROJECT_ROOT, "docs", "errors.md"), "utf8");
    const rows = [...doc.matchAll(/^\| (\d+) \| [^|]+ \| ([^\n]+) \|$/gm)].map((m) => ({ exit: Number(m[1]), codes: [...m[2]!.matchAll(/`(ONEX_E_[A-Z_]+)`/g)].map((c) => c[1]!) }));
    expect(rows.map((r) => r.exit)).toEqual([0, 1, 2, 3, 69, 73, 70]);
    const listed = rows.flatMap(({ exit, codes }) => codes.map((code) => [code, exit] as const));
    expect(listed.filter(([code, exit]) => exitCodeFor(code) !== exit)).toEqual([]);
    // Exit 3 is "every other code"; exit 1 also names the verification failures by what they check.
    const named = new Set(listed.map(([code]) => code));
    const verification = /SIGNATURE|SIGNER|TRUST_EXPIRED|ZONE_MISMATCH|ORIGIN|GRANT|IDENTITY|TRACE|REPLAY/;
    const unnamed = Object.values(ErrorCode).filter((code) => exitCodeFor(code) !== 3 && !named.has(code) && !(exitCodeFor(code) === 1 && verification.test(code)));
    expect(unnamed).toEqual([]);
  });
});
