/** Temporary copies of the bundled schemas, for tests that break or reorder them. */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

const made: string[] = [];

/** A fresh temp folder, removed by `removeTempDirs`. */
export async function tempDir(prefix = "onex-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Copies `schemas/` into a temp project folder and returns `{ root, schemas, out }`. */
export async function copySchemas(): Promise<{ root: string; schemas: string; out: string }> {
  const root = await tempDir();
  await cp(join(PROJECT_ROOT, "schemas"), join(root, "schemas"), { recursive: true });
  return { root, schemas: join(root, "schemas"), out: join(root, "generated") };
}

/** Rewrites one file in place with `edit`. */
export async function editFile(path: string, edit: (text: string) => string): Promise<void> {
  const before = await readFile(path, "utf8");
  const after = edit(before);
  if (after === before) throw new Error(`edit of ${path} changed nothing`);
  await writeFile(path, after);
}

/** Removes every folder `tempDir` made. */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}
