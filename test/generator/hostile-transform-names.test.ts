/**
 * Message names in the version transforms (generated/transforms/), which hostile-names.test.ts
 * does not reach: it generates one version, so no transform. Each shared message type gets a
 * module-level constant there; names the manifest accepts must neither take the name of one
 * the template declares (`UP_CONTEXT`) nor share one with another message (`ABc`, `ABC`).
 * Either generated without a word and left a transforms module that does not load.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import { copySchemas, editFile, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

/** Message name in the bundled manifests -> the hostile name it is given in every version. */
const RENAMED: Record<string, string> = { AgentStarted: "UpCONTEXT", NodeFailed: "DownCONTEXT", StateUpdate: "ABC", ResultReady: "ABc" };

describe("message names in the version transforms", () => {
  it("names that clashed as SCREAMING_CASE constants generate transforms that load and migrate", async () => {
    const { schemas, out } = await copySchemas();
    for (const version of ["v0.0.9", "v0.1", "v0.2"]) {
      await editFile(join(schemas, version, "manifest.yaml"), (text) => Object.entries(RENAMED).reduce((t, [from, to]) => t.replace(`name: ${from}\n`, `name: ${to}\n`), text));
    }
    await generate({ schemasDir: schemas, outDir: out });
    const transforms = (await import(pathToFileURL(join(out, "transforms", "index.ts")).href)) as { migrate(message: unknown, from: string, to: string): Record<string, unknown> };
    const examples = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string });
    const migrated = ["event.agent.started", "event.node.failed", "signal.state.update", "signal.result.ready"].map((type) => {
      const message = examples.find((m) => m.type === type)!;
      return [type, transforms.migrate(message, "0.2", "0.0.9").type];
    });
    expect(migrated).toEqual([
      ["event.agent.started", "event.agent.started"],
      ["event.node.failed", "event.node.failed"],
      ["signal.state.update", "signal.state.update"],
      ["signal.result.ready", "signal.result.ready"],
    ]);
  }, 120_000);
});
