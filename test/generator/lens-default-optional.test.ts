/**
 * A `remove` with a `default` of a field that is optional in the older version, or an `add`
 * with a `default` of a field that is optional in the newer one, passed `onex generate`: the
 * default then turns up in every round-tripped message that had no such field (v0.2 -> v0.3
 * -> v0.2 gave each state update without a `detail` one of "n/a"), and only `onex check`'s
 * sampling caught it. `onex generate` refuses both, at the lens's `default`, as it refuses an
 * optional add of a field that is required; `optional: true` generates.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeGrownV03 } from "../support/grown-v03.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

const TRANSFORM = "v0.3/from-v0.2.yaml";

/** A grown v0.3 project with `edit` made to its files (relative to `schemas/`); returns the project root. */
async function grownProject(edits: Record<string, (text: string) => string>): Promise<string> {
  const { root, schemas } = await copySchemas();
  await writeGrownV03(schemas);
  for (const [file, edit] of Object.entries(edits)) await editFile(join(schemas, file), edit);
  return root;
}

/** `signal.state.update`'s payload lenses in the v0.2 -> v0.3 transform. */
const stateUpdateLenses = (lens: string) => (text: string) =>
  text.replace("  signal.state.update: []\n", ["  signal.state.update:", "    - in:", "        name: payload", "        lenses:", `          - ${lens}`, "            lossy: true", ""].join("\n"));

/** `event.agent.started`'s payload lenses in the v0.2 -> v0.3 transform. */
const agentStartedLenses = (lens: string) => (text: string) =>
  text.replace("  event.agent.started: []\n", ["  event.agent.started:", "    - in:", "        name: payload", "        lenses:", `          - ${lens}`, "            lossy: true", ""].join("\n"));

/** v0.3 without the optional `detail` of v0.2's state update. */
const dropDetail = (text: string) => text.replace("  detail:\n    type: string\n", "");
/** v0.3's agent started with an optional `runtime`. */
const addRuntime = (text: string) => `${text.trimEnd()}\n  runtime:\n    type: string\n`;

async function lineOf(root: string, needle: string): Promise<number> {
  const text = await readFile(join(root, "schemas", TRANSFORM), "utf8");
  const index = text.indexOf(needle);
  if (index < 0) throw new Error(`${needle} not in ${TRANSFORM}`);
  return text.slice(0, index).split("\n").length;
}

/** Runs generate on `root` and expects the refusal of `lens`, at its line, with `message`. */
async function expectRefused(root: string, lens: string, message: RegExp): Promise<void> {
  const run = runCli(["generate", "--out", join(root, "generated")], { cwd: root });
  expect(run.status, run.stderr).toBe(3);
  expect(run.stderr).toContain("ONEX_E_TRANSFORM_INVALID");
  expect(run.stderr).toContain(`schemas/${TRANSFORM}:${await lineOf(root, lens)}:`);
  expect(run.stderr).toMatch(message);
}

describe("a default for a field that is optional where the lens creates it", () => {
  it("refuses a remove with a default of a field the older version has as optional, at the lens", async () => {
    const lens = 'remove: { name: detail, default: "n/a" }';
    const root = await grownProject({ "v0.3/messages/state-update.yaml": dropDetail, [TRANSFORM]: stateUpdateLenses(lens) });
    await expectRefused(
      root,
      lens,
      /remove "detail": \/payload\/detail is optional in v0\.2 signal\.state\.update, and a remove with a default gives it "n\/a" in every message without it that goes to the other version and back; make the lens "optional: true" instead/,
    );
  });

  it("refuses an add with a default of a field the newer version has as optional, at the lens", async () => {
    const lens = "add: { name: runtime, default: unknown }";
    const root = await grownProject({ "v0.3/messages/agent-started.yaml": addRuntime, [TRANSFORM]: agentStartedLenses(lens) });
    await expectRefused(
      root,
      lens,
      /add "runtime": \/payload\/runtime is optional in v0\.3 event\.agent\.started, and an add with a default gives it "unknown" in every message without it that goes to the other version and back; make the lens "optional: true" instead/,
    );
  });

  it("judges no default of a field its object may require under a condition (dependentRequired): it may be required", async () => {
    const lens = "add: { name: runtime, default: unknown }";
    const requiredWithCapabilities = (text: string) => `${addRuntime(text)}dependentRequired:\n  capabilities: [runtime]\n`;
    const root = await grownProject({ "v0.3/messages/agent-started.yaml": requiredWithCapabilities, [TRANSFORM]: agentStartedLenses(lens) });
    const run = runCli(["generate", "--out", join(root, "generated")], { cwd: root });
    expect(run.status, run.stderr).toBe(0);
  });

  it("generates the same changes with `optional: true` lenses", async () => {
    const root = await grownProject({
      "v0.3/messages/state-update.yaml": dropDetail,
      "v0.3/messages/agent-started.yaml": addRuntime,
      [TRANSFORM]: (text) => agentStartedLenses("add: { name: runtime, optional: true }")(stateUpdateLenses("remove: { name: detail, optional: true }")(text)),
    });
    const run = runCli(["generate", "--out", join(root, "generated")], { cwd: root });
    expect(run.status, run.stderr).toBe(0);
  });
});
