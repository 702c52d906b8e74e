/**
 * One module discovers and orders protocol versions (issue 14, found 5): generate, diff and
 * the others used to order versions in three places and discover them by two rules, so a
 * `v0.3-draft` folder with a manifest was a version to `onex diff` and not to `onex generate`.
 */
import { cp, mkdir, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diffVersions } from "../../generator/diff/diff-versions.js";
import { generate } from "../../generator/generate.js";
import { compareVersions, isVersion, versionsIn } from "../../generator/protocol-versions.js";
import { ErrorCode } from "../../runtime/errors.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

describe("version order", () => {
  it("orders by numeric parts, a leading v ignored, 0.1 equal to 0.1.0", () => {
    const versions = ["0.10", "v0.2", "0.0.9", "1.0", "0.1.1", "0.1"];
    expect([...versions].sort(compareVersions)).toEqual(["0.0.9", "0.1", "0.1.1", "v0.2", "0.10", "1.0"]);
    expect(compareVersions("0.1", "0.1.0")).toBe(0);
  });

  it("knows a version when it sees one", () => {
    expect(["0.1", "0.0.9", "1.10.2"].every(isVersion)).toBe(true);
    expect(["0.3-draft", "1", "01.2", "0.1.2.3", ""].some(isVersion)).toBe(false);
  });
});

/**
 * The bundled version folders (`v` and a number: the schemas folder holds nothing else of that
 * shape), oldest first; read here rather than written down, so a version the project adds
 * needs no edit of this file.
 */
async function versionFolders(schemas: string): Promise<string[]> {
  return (await readdir(schemas)).filter((name) => /^v\d/.test(name)).map((name) => name.slice(1)).sort(compareVersions);
}

describe("version discovery", () => {
  it("finds the bundled versions, oldest first, and ignores folders that do not look like versions", async () => {
    const { schemas } = await copySchemas();
    const bundled = await versionFolders(schemas);
    expect(bundled.slice(0, 3)).toEqual(["0.0.9", "0.1", "0.2"]);
    await mkdir(join(schemas, "drafts"));
    expect(await versionsIn(schemas)).toEqual(bundled);
  });

  it("orders v0.10 after v0.2 (a plain string sort would not)", async () => {
    const { schemas } = await copySchemas();
    const bundled = await versionFolders(schemas);
    await cp(join(schemas, "v0.2"), join(schemas, "v0.10"), { recursive: true });
    expect(await versionsIn(schemas)).toEqual([...bundled, "0.10"]);
  });

  it.each([
    ["v0.3-draft", /folder "v0\.3-draft" looks like a protocol version but is not one/],
    ["v1", /folder "v1" looks like a protocol version/],
    ["v01.2", /folder "v01\.2" looks like a protocol version/],
  ])("refuses a folder named %s, which looks like a version but is not one", async (name, message) => {
    const { schemas } = await copySchemas();
    await cp(join(schemas, "v0.2"), join(schemas, name), { recursive: true });
    await expect(versionsIn(schemas)).rejects.toMatchObject({ code: ErrorCode.VersionFolder, message: expect.stringMatching(message) });
  });

  it("refuses a version folder that is a link or a file, where it skipped the version (and generate deleted its SDK), and passes other files by", async () => {
    const { schemas } = await copySchemas();
    const bundled = await versionFolders(schemas);
    await writeFile(join(schemas, "v2-plan.md"), "notes\n");
    expect(await versionsIn(schemas)).toEqual(bundled);
    await rename(join(schemas, "v0.2"), join(schemas, "..", "real-v0.2"));
    await symlink(join(schemas, "..", "real-v0.2"), join(schemas, "v0.2"));
    await expect(versionsIn(schemas)).rejects.toMatchObject({ code: ErrorCode.VersionFolder, message: expect.stringContaining('"v0.2" is named like a version folder but is a symbolic link') });
    await rm(join(schemas, "v0.2"));
    await symlink("v9.9", join(schemas, "v9.9"));
    await expect(versionsIn(schemas)).rejects.toMatchObject({ code: ErrorCode.VersionFolder, message: expect.stringContaining("is a symbolic link") });
    await rm(join(schemas, "v9.9"));
    await writeFile(join(schemas, "v9.9"), "");
    await expect(versionsIn(schemas)).rejects.toMatchObject({ code: ErrorCode.VersionFolder, message: expect.stringContaining('"v9.9" is named like a version folder but is not a folder') });
  });

  it("refuses a version folder without a manifest, and two folders naming one version", async () => {
    const { schemas } = await copySchemas();
    // v9.9: a version no schemas folder of the project will have, so the folder is new.
    await mkdir(join(schemas, "v9.9"));
    await expect(versionsIn(schemas)).rejects.toMatchObject({ code: ErrorCode.VersionFolder, message: expect.stringContaining('version folder "v9.9" has no manifest.yaml') });

    const second = await copySchemas();
    await cp(join(second.schemas, "v0.1"), join(second.schemas, "v0.1.0"), { recursive: true });
    await expect(versionsIn(second.schemas)).rejects.toMatchObject({ code: ErrorCode.VersionFolder, message: expect.stringContaining("folders v0.1 and v0.1.0 name the same protocol version") });
  });

  it("generate and diff agree: a v0.2-draft with a manifest is refused by both, not a version to one and invisible to the other", async () => {
    const { schemas, out } = await copySchemas();
    await cp(join(schemas, "v0.2"), join(schemas, "v0.2-draft"), { recursive: true });
    await editFile(join(schemas, "v0.2-draft", "manifest.yaml"), (t) => t.replace('version: "0.2"', 'version: "0.2-draft"'));
    await expect(generate({ schemasDir: schemas, outDir: out, check: true })).rejects.toMatchObject({ code: ErrorCode.VersionFolder });
    await expect(diffVersions(schemas, "v0.1", "v0.2", dirname(schemas))).rejects.toMatchObject({ code: ErrorCode.VersionFolder });
  });

  it("generate and diff see the same versions", async () => {
    const { schemas, out } = await copySchemas();
    const generated = await generate({ schemasDir: schemas, outDir: out, check: true });
    expect(generated.versions).toEqual(await versionsIn(schemas));
  });
});
