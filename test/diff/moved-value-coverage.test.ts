/**
 * A lens that moves a value (rename, hoist, plunge) covers the property leaving one path and
 * appearing at another, not what the value holds. A v0.3 renaming `signal.result.ready`'s
 * `output` to `result` while making it a string (v0.2's is an object), or required (v0.2's is
 * optional), passed `onex diff` as covered by the rename, and `onex migrate` then failed on
 * every such message. The moved value's schema is now compared where it was with where it went
 * (run `npm run build` first: the exit status is the built CLI's).
 */
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diffVersions } from "../../generator/diff/diff-versions.js";
import type { ChangeReport, DiffReport } from "../../generator/diff/report.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";
import { copyV02AsV03, PROTOCOL_LENSES } from "../support/v03-from-v02.js";

afterAll(removeTempDirs);

const TYPE = "signal.result.ready";
const SHARED_TYPES = ["event.agent.started", "event.agent.stopped", "event.artifact.announced", "event.node.failed", "event.node.register", "signal.artifact.have", "signal.artifact.request", "signal.state.update", "signal.task.dispatch"];

/** Escape lenses giving `result` a value on the way up when it has none, and taking it away again on the way down. */
const RESULT_DEFAULT_LENSES = `
export function resultRequired(scope: JsonObject): unknown {
  if (scope.result !== undefined) return undefined;
  scope.result = {};
  return true;
}

export function resultOptional(scope: JsonObject, restored: unknown): unknown {
  if (restored === true) delete scope.result;
  return undefined;
}
`;

/**
 * The bundled schemas up to v0.2 and a v0.3 copied from it (its protocol block at 0.3, with the
 * usual escape lenses for it) whose transform gives `signal.result.ready` the payload lenses
 * `payloadLenses`; `edit` rewrites v0.3's `result-ready.yaml`.
 */
async function withV03(payloadLenses: string[], edit: (text: string) => string, functions = ""): Promise<string> {
  const { schemas } = await copySchemas();
  const v03 = await copyV02AsV03(schemas, [["`signal.result.ready` payload field moved.", "A test of onex diff."]]);
  await editFile(join(v03, "records", "protocol.yaml"), (text) => text.replace('const: "0.2"', 'const: "0.3"'));
  await editFile(join(v03, "messages", "result-ready.yaml"), edit);
  await writeFile(join(v03, "from-v0.2.ts"), PROTOCOL_LENSES + functions);
  await writeFile(
    join(v03, "from-v0.2.yaml"),
    [
      'from: "0.2"',
      'to: "0.3"',
      "functions: from-v0.2.ts",
      "envelope:",
      "  - escape: { up: protocolUp, down: protocolDown, touches: [protocol] }",
      "types:",
      ...SHARED_TYPES.map((t) => `  ${t}: []`),
      `  ${TYPE}:`,
      "    - in:",
      "        name: payload",
      "        lenses:",
      ...payloadLenses.map((lens) => `          - ${lens}`),
      "new_types: []",
      "removed_types: []",
      "",
    ].join("\n"),
  );
  return schemas;
}

const renamed = (text: string) => text.replace("  output:\n", "  result:\n");
const RENAME = "rename: { from: output, to: result }";

async function diff(schemas: string): Promise<DiffReport> {
  return diffVersions(schemas, "v0.2", "v0.3", dirname(schemas));
}

/** The changes of signal.result.ready at `path`. */
function changesAt(report: DiffReport, path: string): ChangeReport[] {
  return report.types.find((t) => t.type === TYPE)!.changes.filter((c) => c.path === path);
}

const lenses = (change: ChangeReport) => (change.coveredBy ?? []).map((c) => `${c.section}: ${c.lens}`);

describe("onex diff compares what a moved value holds", () => {
  it("a rename that keeps the schema stays covered by the rename, and diff exits 0", async () => {
    const schemas = await withV03([RENAME], renamed);
    const report = await diff(schemas);
    const result = changesAt(report, "/payload/result");
    expect(result.map((c) => c.kind)).toEqual(["property-added"]);
    expect(lenses(result[0]!)).toEqual([`types.${TYPE}: rename output -> result`]);
    expect(report.types.flatMap((t) => t.changes).filter((c) => c.movedFrom !== undefined)).toEqual([]);
    expect(report.summary.uncovered).toBe(0);

    const cli = runCli(["diff", "v0.2", "v0.3", "--schemas", schemas]);
    expect(cli.stderr).toBe("");
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain("every breaking change covered by a transform");
  });

  it("a rename that changes the type (object -> string) is a breaking change no lens covers: exit 1", async () => {
    const schemas = await withV03([RENAME], (text) => renamed(text).replace("  result:\n    type: object\n", "  result:\n    type: string\n"));
    const report = await diff(schemas);
    // The property moving is still the rename's; what it holds is not.
    expect(lenses(changesAt(report, "/payload/output").find((c) => c.kind === "property-removed")!)).toEqual([`types.${TYPE}: rename output -> result`]);
    const moved = changesAt(report, "/payload/result").filter((c) => c.movedFrom !== undefined);
    expect(moved).toEqual([
      expect.objectContaining({
        kind: "object-to-scalar",
        movedFrom: "/payload/output",
        detail: "moved from /payload/output by rename output -> result: object -> string",
        backward: true,
        forward: true,
        breaking: true,
        coveredBy: [],
      }),
    ]);
    expect(report.summary.uncovered).toBe(1);

    const cli = runCli(["diff", "v0.2", "v0.3", "--schemas", schemas]);
    expect(cli.status).toBe(1);
    expect(cli.stdout).toContain("/payload/result  object-to-scalar: moved from /payload/output by rename output -> result: object -> string  [breaks BACKWARD+FORWARD]  NOT COVERED");
    expect(cli.stdout).toContain("1 breaking change NOT covered by any transform");
    expect(cli.stderr).toContain(`error ${ErrorCode.BreakingChange}:`);
    expect(cli.stderr).toContain(`${TYPE} /payload/result (object-to-scalar, v0.2 -> v0.3)`);
    // The CI gate (every adjacent pair) fails on it too.
    expect(runCli(["diff", "--schemas", schemas]).status).toBe(1);
  });

  it("a rename of an optional field to a required one breaks BACKWARD (the way up) and is not covered: exit 1", async () => {
    const schemas = await withV03([RENAME], (text) => renamed(text).replace("required: [task_id, status]", "required: [task_id, status, result]"));
    const report = await diff(schemas);
    expect(changesAt(report, "/payload/result").filter((c) => c.movedFrom !== undefined)).toEqual([
      expect.objectContaining({ kind: "required-added", movedFrom: "/payload/output", backward: true, forward: false, breaking: true, coveredBy: [] }),
    ]);
    expect(report.summary.uncovered).toBe(1);

    const cli = runCli(["diff", "v0.2", "v0.3", "--schemas", schemas]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`error ${ErrorCode.BreakingChange}:`);
    expect(cli.stderr).toContain(`${TYPE} /payload/result (required-added, v0.2 -> v0.3)`);
  });

  it("a rename of a required field to an optional one breaks FORWARD (the way down) and is not covered: exit 1", async () => {
    const schemas = await withV03(["rename: { from: status, to: outcome }"], (text) => text.replace("required: [task_id, status]", "required: [task_id]").replace("  status:\n", "  outcome:\n"));
    const report = await diff(schemas);
    expect(changesAt(report, "/payload/outcome").filter((c) => c.movedFrom !== undefined)).toEqual([
      expect.objectContaining({ kind: "required-removed", movedFrom: "/payload/status", backward: false, forward: true, breaking: true, coveredBy: [] }),
    ]);
    const cli = runCli(["diff", "v0.2", "v0.3", "--schemas", schemas]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`${TYPE} /payload/outcome (required-removed, v0.2 -> v0.3)`);
  });

  it("another lens working on the moved value covers its change: an escape giving the now required field a default", async () => {
    const schemas = await withV03(
      [RENAME, "escape: { up: resultRequired, down: resultOptional, touches: [result] }"],
      (text) => renamed(text).replace("required: [task_id, status]", "required: [task_id, status, result]"),
      RESULT_DEFAULT_LENSES,
    );
    const report = await diff(schemas);
    const [required] = changesAt(report, "/payload/result").filter((c) => c.movedFrom !== undefined);
    expect(required).toMatchObject({ kind: "required-added", breaking: true });
    // The escape covers it; the rename, which only moved the value, does not.
    expect(lenses(required!)).toEqual([`types.${TYPE}: escape resultRequired/resultOptional`]);
    expect(report.summary.uncovered).toBe(0);
    expect(runCli(["diff", "v0.2", "v0.3", "--schemas", schemas]).status).toBe(0);
  });

  it("a value a lens makes and another moves is not a field to compare: no change is said of the move (onex check tries it on samples), and diff passes", async () => {
    const schemas = await withV03(["add: { name: draft, optional: true }\n            lossy: true", "rename: { from: draft, to: note }"], (text) => `${text.trimEnd()}\n  note:\n    type: string\n`);
    const report = await diff(schemas);
    expect(changesAt(report, "/payload/note").filter((c) => c.movedFrom !== undefined)).toEqual([]);
    expect(report.summary.uncovered).toBe(0);
    expect(runCli(["diff", "v0.2", "v0.3", "--schemas", schemas]).status).toBe(0);
  });

  it("a value moved by several lenses (rename, then plunge into an object) is compared where it ends: the bundled v0.1 -> v0.2 with build.fingerprint's pattern changed", async () => {
    const { schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "messages", "node-register.yaml"), (text) => text.replace('      fingerprint:\n        type: string\n        pattern: "^sha256:[0-9a-f]{64}$"\n', '      fingerprint:\n        type: string\n        pattern: "^sha512:[0-9a-f]{128}$"\n'));
    const report = await diffVersions(schemas, "v0.1", "v0.2", dirname(schemas));
    const moved = report.types.find((t) => t.type === "event.node.register")!.changes.filter((c) => c.movedFrom !== undefined);
    expect(moved).toEqual([
      expect.objectContaining({
        path: "/payload/build/fingerprint",
        kind: "constraint-changed",
        movedFrom: "/payload/build_fingerprint",
        detail: 'moved from /payload/build_fingerprint by rename build_fingerprint -> fingerprint, plunge build.fingerprint: pattern "^sha256:[0-9a-f]{64}$" -> "^sha512:[0-9a-f]{128}$"',
        // `add build` makes the empty object before the plunge fills it: it never rewrites the fingerprint.
        coveredBy: [],
      }),
    ]);
    expect(report.summary.uncovered).toBe(1);
    const cli = runCli(["diff", "v0.1", "v0.2", "--schemas", schemas]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain("event.node.register /payload/build/fingerprint (constraint-changed, v0.1 -> v0.2)");
  });
});
