/** `onex diff` end to end on the built CLI (run `npm run build` first). */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ChangeReport, DiffReport } from "../../generator/diff/report.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

function diffJson(args: string[]): { status: number | null; report: DiffReport; stderr: string } {
  const result = runCli(["diff", ...args, "--json"]);
  return { status: result.status, report: JSON.parse(result.stdout) as DiffReport, stderr: result.stderr };
}

/** The change of `type` at `path` of `kind`, which must exist. */
function changeOf(report: DiffReport, type: string, path: string, kind: string): ChangeReport {
  const found = report.types.find((t) => t.type === type)?.changes.find((c) => c.path === path && c.kind === kind);
  expect(found, `${type} ${path} ${kind}`).toBeDefined();
  return found!;
}

const lenses = (change: ChangeReport) => (change.coveredBy ?? []).map((c) => `${c.section}: ${c.lens}`);

describe("onex diff v0.1 v0.2", () => {
  const { status, report, stderr } = diffJson(["v0.1", "v0.2"]);

  it("exits 0: every breaking change has a covering transform", () => {
    expect(stderr).toBe("");
    expect(status).toBe(0);
    expect(report.coverage).toBe("direct");
    expect(report.transforms).toEqual(["schemas/v0.2/from-v0.1.yaml"]);
    expect(report.summary).toMatchObject({ types: 10, changed: 6, added: 4, removed: 0, uncovered: 0 });
  });

  it("reports action -> operation and target -> targets as renames, targets wrapped", () => {
    const action = changeOf(report, "signal.task.dispatch", "/payload/action", "property-removed");
    expect(action.effect).toBe("breaks BACKWARD+FORWARD");
    expect(lenses(action)).toEqual(["types.signal.task.dispatch: rename action -> operation"]);
    expect(lenses(changeOf(report, "signal.task.dispatch", "/payload/operation", "property-added"))).toEqual(["types.signal.task.dispatch: rename action -> operation"]);
    expect(lenses(changeOf(report, "signal.task.dispatch", "/payload/target", "property-removed"))).toContain("types.signal.task.dispatch: rename target -> targets");
    const targets = changeOf(report, "signal.task.dispatch", "/payload/targets", "property-added");
    expect(targets.detail).toContain("array<string>");
    expect(lenses(targets)).toEqual(["types.signal.task.dispatch: rename target -> targets", "types.signal.task.dispatch: wrap targets"]);
    // What the moved value holds (a string, then a list) is the wrap's to cover, not the rename's.
    const moved = changeOf(report, "signal.task.dispatch", "/payload/targets", "scalar-to-array");
    expect(moved).toMatchObject({ movedFrom: "/payload/target", detail: "moved from /payload/target by rename target -> targets: string -> array" });
    expect(lenses(moved)).toEqual(["types.signal.task.dispatch: wrap targets"]);
  });

  it("reports the optional retry added to a closed model as FORWARD-breaking only, covered by its add lens", () => {
    const retry = changeOf(report, "signal.task.dispatch", "/payload/retry", "property-added");
    expect(retry).toMatchObject({ backward: false, forward: true, effect: "breaks FORWARD" });
    expect(retry.detail).toContain("optional object{backoff_ms, max_attempts}");
    expect(lenses(retry)).toEqual(["types.signal.task.dispatch: add retry (optional)"]);
  });

  it("reports build_fingerprint moved into build{fingerprint, version}", () => {
    const removed = changeOf(report, "event.node.register", "/payload/build_fingerprint", "property-removed");
    expect(lenses(removed)).toContain("types.event.node.register: rename build_fingerprint -> fingerprint");
    expect(lenses(removed)).toContain("types.event.node.register: plunge build.fingerprint");
    const build = changeOf(report, "event.node.register", "/payload/build", "property-added");
    expect(build.detail).toContain("required object{fingerprint, version}");
    expect(lenses(build)).toContain('types.event.node.register: add build (default {})');
    expect(lenses(build)).toContain('types.event.node.register: add version (default "unknown")');
  });

  it("reports reason string -> object", () => {
    const reason = changeOf(report, "event.node.failed", "/payload/reason", "scalar-to-object");
    expect(reason.detail).toBe("string -> object");
    expect(lenses(reason)).toContain("types.event.node.failed: rename reason -> message");
    expect(lenses(reason)).toContain('types.event.node.failed: add code (default "unspecified")');
  });

  it("reports the state enum: busy removed (BACKWARD), running and degraded added (FORWARD), both covered by convert", () => {
    const narrowed = changeOf(report, "signal.state.update", "/payload/state", "enum-narrowed");
    expect(narrowed.detail).toBe('enum values removed: "busy"');
    expect(narrowed).toMatchObject({ backward: true, forward: false });
    const extended = changeOf(report, "signal.state.update", "/payload/state", "enum-extended");
    expect(extended.detail).toBe('enum values added: "running", "degraded"');
    expect(extended).toMatchObject({ backward: false, forward: true });
    expect(lenses(extended)[0]).toMatch(/^types\.signal\.state\.update: convert state \(.*"busy"->"running"/);
  });

  it("reports event.agent.stopped and the artifact types as added, covered by new_types, and the new record", () => {
    for (const type of ["event.agent.stopped", "event.artifact.announced", "signal.artifact.have", "signal.artifact.request"]) {
      const t = report.types.find((x) => x.type === type)!;
      expect(t).toMatchObject({ status: "added", verdict: "BACKWARD" });
      expect(lenses(t.changes[0]!)).toEqual([`new_types: ${type}`]);
    }
    expect(report.records).toEqual({ added: ["ArtifactDescriptor"], removed: [] });
  });

  it("gives every type a verdict: the changed ones NONE (the protocol block's version const changes in every message)", () => {
    const verdicts = Object.fromEntries(report.types.map((t) => [t.type, t.verdict]));
    expect(verdicts).toMatchObject({ "signal.task.dispatch": "NONE", "event.agent.started": "NONE", "signal.result.ready": "NONE" });
    const protocol = changeOf(report, "signal.result.ready", "/protocol/version", "const-changed");
    expect(lenses(protocol)).toEqual(["envelope: escape protocolUp/protocolDown"]);
    expect(report.types.find((t) => t.type === "signal.result.ready")!.changes).toHaveLength(1);
  });

  it("prints a readable report with verdicts and covering lenses", () => {
    const text = runCli(["diff", "0.1", "0.2"]);
    expect(text.status).toBe(0);
    // Six schema changes and the moved target's string -> array (covered by the wrap).
    expect(text.stdout).toContain("signal.task.dispatch  NONE  (changed, 7 changes, 7 breaking)");
    expect(text.stdout).toContain("/payload/retry  property-added: optional object{backoff_ms, max_attempts} added to closed content model  [breaks FORWARD]  covered by types.signal.task.dispatch: add retry (optional)");
    expect(text.stdout).toContain("event.agent.stopped  BACKWARD  (added, 1 change, 1 breaking)");
    expect(text.stdout).toContain("every breaking change covered by a transform");
  });
});

describe("onex diff v0.0.9 v0.1 and v0.0.9 v0.2", () => {
  it("v0.0.9 -> v0.1: envelope renames, moves, the protocol block and trust levels, all covered", () => {
    const { status, report } = diffJson(["v0.0.9", "v0.1"]);
    expect(status).toBe(0);
    expect(report.summary.uncovered).toBe(0);
    const type = "signal.task.dispatch";
    expect(lenses(changeOf(report, type, "/timestamp", "property-removed"))).toEqual(["envelope: rename timestamp -> time"]);
    expect(lenses(changeOf(report, type, "/zone", "property-removed"))).toContain("envelope: plunge source.zone");
    expect(lenses(changeOf(report, type, "/protocol", "property-added"))).toEqual(["envelope: escape protocolFromVersion/protocolToVersion"]);
    expect(lenses(changeOf(report, type, "/trust/level", "enum-extended"))[0]).toMatch(/^envelope: convert level/);
    expect(lenses(changeOf(report, type, "/payload/priority", "property-added"))).toEqual(["types.signal.task.dispatch: add priority (default 5)"]);
    expect(lenses(changeOf(report, "event.agent.started", "/payload/capabilities", "property-added"))).toContain("types.event.agent.started: wrap capabilities");
    expect(changeOf(report, "signal.result.ready", "/payload/attestation", "property-added")).toMatchObject({ backward: false, forward: true });
  });

  it("v0.0.9 -> v0.2 (not adjacent): direct schema diff, coverage per hop", () => {
    const { status, report } = diffJson(["0.0.9", "0.2"]);
    expect(status).toBe(0);
    expect(report.coverage).toBe("per-hop");
    expect(report.transforms).toEqual(["schemas/v0.1/from-v0.0.9.yaml", "schemas/v0.2/from-v0.1.yaml"]);
    expect(report.hops!.map((h) => `${h.from}->${h.to}`)).toEqual(["0.0.9->0.1", "0.1->0.2"]);
    // The direct diff sees v0.0.9's `action` become v0.2's `operation`; lenses are matched in the hops.
    expect(changeOf(report, "signal.task.dispatch", "/payload/operation", "property-added").coveredBy).toBeNull();
    expect(changeOf(report, "signal.task.dispatch", "/timestamp", "property-removed").coveredBy).toBeNull();
    expect(report.summary.uncovered).toBe(0);
  });

  it("refuses versions in the wrong order and unknown versions with usage exit 2", () => {
    const reversed = runCli(["diff", "v0.2", "v0.1"]);
    expect(reversed.status).toBe(2);
    expect(reversed.stderr).toContain("ONEX_E_USAGE");
    expect(reversed.stderr).toContain("try onex diff v0.1 v0.2");
    const same = runCli(["diff", "v0.1", "v0.1"]);
    expect([same.status, same.stderr.includes("name two different versions")]).toEqual([2, true]);
    const unknown = runCli(["diff", "v0.1", "v9.9"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("ONEX_E_UNKNOWN_VERSION");
  });
});

describe("an uncovered breaking change", () => {
  it("exits 1 with ONEX_E_BREAKING_CHANGE, naming the type and path, and marks it NOT COVERED", async () => {
    const { schemas } = await copySchemas();
    // v0.2 agents must now name at least one capability; the transform has no lens for it.
    await editFile(join(schemas, "v0.2", "messages", "agent-started.yaml"), (text) => text.replace("  capabilities:\n    type: array\n", "  capabilities:\n    type: array\n    minItems: 1\n"));
    const text = runCli(["diff", "v0.1", "v0.2", "--schemas", schemas]);
    expect(text.status).toBe(1);
    expect(text.stdout).toContain("/payload/capabilities  constraint-added: minItems 1 added  [breaks BACKWARD]  NOT COVERED");
    expect(text.stdout).toContain("1 breaking change NOT covered by any transform");
    expect(text.stderr).toContain("error ONEX_E_BREAKING_CHANGE:");
    expect(text.stderr).toContain("event.agent.started /payload/capabilities (constraint-added, v0.1 -> v0.2)");

    const json = runCli(["diff", "v0.1", "v0.2", "--schemas", schemas, "--json"]);
    expect(json.status).toBe(1);
    const report = JSON.parse(json.stdout) as DiffReport;
    expect(report.summary.uncovered).toBe(1);
    expect(changeOf(report, "event.agent.started", "/payload/capabilities", "constraint-added").coveredBy).toEqual([]);

    // Across hops the uncovered change is still found, in the hop that makes it.
    const chain = runCli(["diff", "v0.0.9", "v0.2", "--schemas", schemas]);
    expect(chain.status).toBe(1);
    expect(chain.stderr).toContain("ONEX_E_BREAKING_CHANGE");

    // The CI gate: with no versions named (or --all), every adjacent pair is checked, and this one fails it.
    for (const args of [[], ["--all"]]) {
      const gate = runCli(["diff", ...args, "--schemas", schemas]);
      expect([args, gate.status]).toEqual([args, 1]);
      expect(gate.stderr).toContain("error ONEX_E_BREAKING_CHANGE:");
      expect(gate.stderr).toContain("event.agent.started /payload/capabilities");
    }
  });
});

describe("a subject template that changes", () => {
  it("is reported beside the schema changes, as text and JSON", async () => {
    const { schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "manifest.yaml"), (text) => text.replace('{entity_id}.events"', '{entity_id}.evts"'));
    const text = runCli(["diff", "v0.1", "v0.2", "--schemas", schemas]);
    // Reported, not a failure: the exit status is the schema changes' alone.
    expect(text.status).toBe(0);
    expect(text.stdout).toContain("subject event: jetstream.onex.zone.{/source/zone}.{/source/entity_type}.{/source/entity_id}.events -> jetstream.onex.zone.{/source/zone}.{/source/entity_type}.{/source/entity_id}.evts (the two versions' messages travel on different subjects");
    const report = JSON.parse(runCli(["diff", "v0.1", "v0.2", "--schemas", schemas, "--json"]).stdout) as DiffReport;
    expect(report.subjects).toEqual([{ key: "event", from: "jetstream.onex.zone.{/source/zone}.{/source/entity_type}.{/source/entity_id}.events", to: "jetstream.onex.zone.{/source/zone}.{/source/entity_type}.{/source/entity_id}.evts" }]);
    expect(JSON.parse(runCli(["diff", "v0.1", "v0.2", "--json"]).stdout)).toMatchObject({ subjects: [] });
    // A placeholder renamed is the same subjects; a field read in another place is not.
    const { schemas: renamed } = await copySchemas();
    await editFile(join(renamed, "v0.2", "manifest.yaml"), (t) => t.replace("{zone_id}", "{zone}").replace("      zone_id: /source/zone", "      zone: /source/zone"));
    expect((JSON.parse(runCli(["diff", "v0.1", "v0.2", "--schemas", renamed, "--json"]).stdout) as DiffReport).subjects).toEqual([]);
  });

  it("names each message type that moves to another template", async () => {
    const { schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "manifest.yaml"), (text) =>
      text
        .replace("\nrecords:", '\n  signal:\n    template: "jetstream.onex.zone.{zone_id}.{entity_type}.{entity_id}.signals"\n    params:\n      zone_id: /source/zone\n      entity_type: /source/entity_type\n      entity_id: /source/entity_id\n\nrecords:')
        .replace("payload: messages/state-update.yaml\n    subject: event", "payload: messages/state-update.yaml\n    subject: signal"),
    );
    const events = "jetstream.onex.zone.{/source/zone}.{/source/entity_type}.{/source/entity_id}.events";
    const signals = "jetstream.onex.zone.{/source/zone}.{/source/entity_type}.{/source/entity_id}.signals";
    const text = runCli(["diff", "v0.1", "v0.2", "--schemas", schemas]);
    expect(text.stdout).toContain(`type signal.state.update moves: ${events} -> ${signals}`);
    const report = JSON.parse(runCli(["diff", "v0.1", "v0.2", "--schemas", schemas, "--json"]).stdout) as DiffReport;
    expect(report.moved).toEqual([{ type: "signal.state.update", from: events, to: signals }]);
    expect(JSON.parse(runCli(["diff", "v0.1", "v0.2", "--json"]).stdout)).toMatchObject({ moved: [] });
  });
});
