import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
});
