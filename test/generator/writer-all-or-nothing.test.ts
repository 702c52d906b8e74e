/**
 * `onex generate` writes its files all or nothing: every file goes to a temporary first, and
 * only once all are written are they renamed into place. One write that failed used to leave
 * the files written before it in place (transforms/index.ts importing a ../v0.3/ that was
 * never written, versions.ts still the old one): a tree that did not load.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { applyOutput, diffOutput, GENERATED_MARKER } from "../../generator/writer.js";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { BIN } from "../cli/cli-harness.js";

afterAll(removeTempDirs);

function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe("applyOutput", () => {
  it("leaves the old tree untouched, with no temporary and no new folder, when one file cannot be written", async () => {
    const out = await tempDir();
    const old = `// ${GENERATED_MARKER}\nexport const old = 1;\n`;
    mkdirSync(join(out, "transforms"));
    writeFileSync(join(out, "transforms", "index.ts"), old);
    writeFileSync(join(out, "versions.ts"), old);
    // The last file's temporary cannot be written (as in a read-only folder or on a full disk):
    // a non-empty folder stands at its name, after the others' temporaries and v0.3/ were made.
    mkdirSync(join(out, `.versions.ts.onex-${process.pid}.tmp`, "x"), { recursive: true });
    const before = tree(out);
    const files = new Map([
      ["transforms/index.ts", `// ${GENERATED_MARKER}\nexport * from "../v0.3/index.js";\n`],
      ["v0.3/index.ts", `// ${GENERATED_MARKER}\nexport const v = 3;\n`],
      ["versions.ts", `// ${GENERATED_MARKER}\nexport const versions = ["0.3"];\n`],
    ]);
    const error = await applyOutput(out, files, await diffOutput(out, files)).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).code).toBe(ErrorCode.WriteFailed);
    expect(tree(out)).toEqual(before);
    expect(readFileSync(join(out, "transforms", "index.ts"), "utf8")).toBe(old);
    expect(readFileSync(join(out, "versions.ts"), "utf8")).toBe(old);
  });

  it("writes every file when all can be written", async () => {
    const out = await tempDir();
    const files = new Map([
      ["a/b/one.ts", `// ${GENERATED_MARKER}\n1\n`],
      ["two.ts", `// ${GENERATED_MARKER}\n2\n`],
    ]);
    await applyOutput(out, files, await diffOutput(out, files));
    expect(tree(out)).toEqual(["a", "a/b", "a/b/one.ts", "two.ts"]);
    expect(await diffOutput(out, files)).toEqual([]);
  });

  // A read-only file system takes a mount. A user namespace (`unshare -rm`) gives one without
  // root, mounted for the one command and gone with it. Where the system allows neither (user
  // namespaces forbidden, not root) the test fails, saying so, rather than pass unseen.
  const mountReadOnly = ["-rm", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"'];
  const probe = mkdtempSync(join(tmpdir(), "onex-ro-probe-"));
  const canMount = spawnSync("unshare", [...mountReadOnly, probe, "true"]).status === 0;
  rmSync(probe, { recursive: true, force: true });

  it("a read-only file system is named as one (EROFS), not as a missing folder: Node's recursive mkdir said ENOENT", async () => {
    expect(canMount, "`unshare -rm` cannot mount a read-only tmpfs here: run as root, or allow user namespaces").toBe(true);
    const dir = await tempDir();
    const run = spawnSync("unshare", [...mountReadOnly, dir, process.execPath, BIN, "generate", "--schemas", join(PROJECT_ROOT, "schemas"), "--out", join(dir, "generated")], { encoding: "utf8" });
    expect([run.status, run.stderr]).toEqual([73, expect.stringMatching(/^error ONEX_E_WRITE_FAILED: cannot write \S+: EROFS: read-only file system, mkdir '[^']*generated'\n$/)]);
  });
});
