/**
 * The issue's case end to end: a v0.3 that adds `dependentRequired: {root_hash: [endpoint]}`
 * to `signal.artifact.request` was reported FULL with exit 0. It now breaks BACKWARD, and with
 * no lens covering it `onex diff` exits 1 (run `npm run build` first).
 */
import { cp, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diffVersions } from "../../generator/diff/diff-versions.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";
import { trimToV02 } from "../support/v03-from-v02.js";

afterAll(removeTempDirs);

/**
 * A copy of the schemas trimmed back to v0.2 (a v0.3 the project bundles is not this one), with
 * a v0.3 identical to v0.2 (and an empty transform), then `edit` applied to v0.3. The protocol record of both leaves its version unpinned: pinned, each
 * version's would differ (and an unchanged pin is refused by generate).
 */
async function withV03(edit?: (v03: string) => Promise<void>): Promise<string> {
  const { schemas } = await copySchemas();
  await trimToV02(schemas);
  const v03 = join(schemas, "v0.3");
  await editFile(join(schemas, "v0.2", "records", "protocol.yaml"), (t) => t.replace('    const: "0.2"\n', "    type: string\n"));
  await cp(join(schemas, "v0.2"), v03, { recursive: true });
  for (const name of await readdir(v03)) if (name.startsWith("from-")) await rm(join(v03, name));
  await editFile(join(v03, "manifest.yaml"), (t) => t.replace('version: "0.2"', 'version: "0.3"').replace('compatible_with: ["0.1"]', 'compatible_with: ["0.2"]').replace("/v0.2/", "/v0.3/"));
  const types = ["event.agent.started", "event.agent.stopped", "event.artifact.announced", "event.node.failed", "event.node.register", "signal.artifact.have", "signal.artifact.request", "signal.result.ready", "signal.state.update", "signal.task.dispatch"];
  await writeFile(join(v03, "from-v0.2.yaml"), `from: "0.2"\nto: "0.3"\nenvelope: []\ntypes:\n${types.map((t) => `  ${t}: []\n`).join("")}`);
  if (edit) await edit(v03);
  return schemas;
}

const addDependency = (v03: string) =>
  editFile(join(v03, "messages", "artifact-request.yaml"), (t) => t.replace("dependentRequired:\n  name: [version]\n", "dependentRequired:\n  root_hash: [endpoint]\n  name: [version]\n"));

describe("onex diff sees dependentRequired", () => {
  it("an unchanged v0.3 is FULL everywhere (the baseline)", async () => {
    const schemas = await withV03();
    const report = await diffVersions(schemas, "v0.2", "v0.3", dirname(schemas));
    expect(report.types.every((t) => t.verdict === "FULL")).toBe(true);
  });

  it("dependentRequired {root_hash: [endpoint]} added to signal.artifact.request breaks BACKWARD and is uncovered", async () => {
    const schemas = await withV03(addDependency);
    const report = await diffVersions(schemas, "v0.2", "v0.3", dirname(schemas));
    const request = report.types.find((t) => t.type === "signal.artifact.request")!;
    expect(request.verdict).toBe("FORWARD");
    expect(request.changes).toEqual([
      expect.objectContaining({ path: "/payload/root_hash", kind: "constraint-added", detail: 'dependentRequired "root_hash": [] -> [endpoint]', breaking: true, coveredBy: [] }),
    ]);
    expect(report.summary.uncovered).toBe(1);

    const cli = runCli(["diff", "v0.2", "v0.3", "--schemas", schemas]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`error ${ErrorCode.BreakingChange}:`);
    expect(cli.stderr).toContain("signal.artifact.request /payload/root_hash (constraint-added, v0.2 -> v0.3)");
  });
});
