/**
 * The breaking-change report of `onex diff`: per message type, every schema change with its
 * effect and the lenses covering it, a verdict, and a text rendering for people.
 */
import { compare } from "../load-version.js";
import type { JsonSchema, VersionModel } from "../model.js";
import type { TransformModel } from "../transforms/load-transforms.js";
import { classify, describeEffect, verdictOf, type ChangeKind, type Effect, type Verdict } from "./classify.js";
import { compareMovedValue, compareSchemas, modelResolver, type RefResolver } from "./compare-schemas.js";
import { coverageOf, movedValuesOf, type Cover } from "./coverage.js";
import { resolvedTemplate } from "../subject-template.js";

export interface ChangeReport {
  kind: ChangeKind;
  /** JSON Pointer into the message (`-` any array item, `*` any map value). */
  path: string;
  detail: string;
  effect: string;
  backward: boolean;
  forward: boolean;
  breaking: boolean;
  /** Lenses covering a breaking change; null when coverage is not judged here (non-adjacent versions: see hops). */
  coveredBy: Cover[] | null;
  /**
   * Set on a change of a value a lens moves (rename, hoist, plunge): where the older version
   * keeps it. Its schema there is compared with its schema at `path`; such changes are about
   * what the adapters do, so they count as breaking changes to cover but not in the verdict.
   */
  movedFrom?: string;
}

export interface TypeReport {
  type: string;
  status: "unchanged" | "changed" | "added" | "removed";
  verdict: Verdict;
  changes: ChangeReport[];
}

export interface DiffReport {
  from: string;
  to: string;
  /** Transform files from `from` to `to`, in order. */
  transforms: string[];
  /** Whether breaking changes were matched to lenses here (adjacent versions) or in `hops`. */
  coverage: "direct" | "per-hop";
  types: TypeReport[];
  records: { added: string[]; removed: string[] };
  /**
   * Subject templates that differ by key: messages of the two versions travel on other subjects
   * (another stream), so a subscriber of one does not receive the other's. No lens covers that;
   * it is reported beside the schema changes, not counted among them.
   */
  subjects: { key: string; from: string | null; to: string | null }[];
  /**
   * Message types of both versions that travel on different subjects (their template changed,
   * or they moved to another one): a broadcast of one version never reaches the other's
   * subscribers of that type. Reported like `subjects`; a FederationNode lists such peers in
   * its receipts.
   */
  moved: { type: string; from: string; to: string }[];
  summary: { types: number; changed: number; added: number; removed: number; breaking: number; uncovered: number };
  /** Non-adjacent versions: the report of each adjacent step, which carries the coverage. */
  hops?: DiffReport[];
}

/**
 * Diffs two loaded versions. With `judgeCoverage` each breaking change is matched to the
 * lenses of `transform` (the adjacent transform; none at all leaves every breaking change
 * uncovered); without, coverage is left null.
 */
export function diffModels(oldModel: VersionModel, newModel: VersionModel, transform: TransformModel | undefined, judgeCoverage = true): DiffReport {
  const oldResolve = modelResolver(oldModel);
  const newResolve = modelResolver(newModel);
  const oldByType = new Map(oldModel.messages.map((m) => [m.type, m]));
  const newByType = new Map(newModel.messages.map((m) => [m.type, m]));
  const schemaOf = (model: VersionModel, name: string) => model.schemas.find((s) => s.name === name)!.schema;
  const types: TypeReport[] = [];

  for (const type of [...new Set([...oldByType.keys(), ...newByType.keys()])].sort(compare)) {
    const before = oldByType.get(type);
    const after = newByType.get(type);
    if (!before || !after) {
      const kind: ChangeKind = after ? "message-type-added" : "message-type-removed";
      const effect = classify({ kind, path: "", detail: "" });
      const section = after ? "new_types" : "removed_types";
      const listed = transform !== undefined && (after ? transform.newTypes : transform.removedTypes).includes(type);
      const change = toReport(
        { kind, path: "", detail: after ? `new in v${newModel.version}` : `gone in v${newModel.version}` },
        effect,
        judgeCoverage ? (listed ? [{ file: transform!.file, section, lens: type }] : []) : null,
      );
      types.push({ type, status: after ? "added" : "removed", verdict: verdictOf([effect]), changes: [change] });
      continue;
    }
    const cover = judgeCoverage ? (transform ? coverageOf(transform, type) : () => []) : undefined;
    const oldSchema = schemaOf(oldModel, before.name);
    const newSchema = schemaOf(newModel, after.name);
    const changes = compareSchemas(oldSchema, newSchema, oldResolve, newResolve).map((change) => {
      const effect = classify(change);
      return toReport(change, effect, cover ? cover(change.path) : null);
    });
    // A lens that moves a value covers the property leaving one path and appearing at another,
    // not what the value holds: without this, `rename output -> result` with `result` a string
    // where `output` was an object (or required where it was optional) passed as covered, and
    // only onex check or migrate found every such message failing. Judged where a transform is.
    const moved = judgeCoverage && transform ? movedValueChanges(transform, type, oldSchema, newSchema, oldResolve, newResolve) : [];
    types.push({ type, status: changes.length > 0 ? "changed" : "unchanged", verdict: verdictOf(changes), changes: [...changes, ...moved] });
  }

  const recordNames = (model: VersionModel) => new Set(model.schemas.filter((s) => s.kind === "record").map((s) => s.name));
  const oldRecords = recordNames(oldModel);
  const newRecords = recordNames(newModel);
  const all = types.flatMap((t) => t.changes);
  return {
    from: oldModel.version,
    to: newModel.version,
    transforms: transform ? [transform.file] : [],
    coverage: "direct",
    types,
    records: {
      added: [...newRecords].filter((r) => !oldRecords.has(r)).sort(compare),
      removed: [...oldRecords].filter((r) => !newRecords.has(r)).sort(compare),
    },
    subjects: subjectChanges(oldModel, newModel),
    moved: movedTypes(oldModel, newModel),
    summary: {
      types: types.length,
      changed: types.filter((t) => t.status === "changed").length,
      added: types.filter((t) => t.status === "added").length,
      removed: types.filter((t) => t.status === "removed").length,
      breaking: all.filter((c) => c.breaking).length,
      uncovered: all.filter((c) => c.breaking && c.coveredBy !== null && c.coveredBy.length === 0).length,
    },
  };
}

function subjectChanges(oldModel: VersionModel, newModel: VersionModel): DiffReport["subjects"] {
  const before = new Map(oldModel.subjects.map((s) => [s.key, resolvedTemplate(s)]));
  const after = new Map(newModel.subjects.map((s) => [s.key, resolvedTemplate(s)]));
  return [...new Set([...before.keys(), ...after.keys()])]
    .sort(compare)
    .filter((key) => before.get(key) !== after.get(key))
    .map((key) => ({ key, from: before.get(key) ?? null, to: after.get(key) ?? null }));
}

function movedTypes(oldModel: VersionModel, newModel: VersionModel): DiffReport["moved"] {
  const subjectOf = (model: VersionModel) => {
    const templates = new Map(model.subjects.map((s) => [s.key, resolvedTemplate(s)]));
    return new Map(model.messages.map((m) => [m.type, templates.get(m.subject)!]));
  };
  const before = subjectOf(oldModel);
  const after = subjectOf(newModel);
  return [...before.keys()]
    .filter((type) => after.has(type) && before.get(type) !== after.get(type))
    .sort(compare)
    .map((type) => ({ type, from: before.get(type)!, to: after.get(type)! }));
}

/** A report over a chain of versions: the direct schema diff, with coverage judged per adjacent hop. */
export function chainReport(direct: DiffReport, hops: DiffReport[]): DiffReport {
  return {
    ...direct,
    transforms: hops.flatMap((h) => h.transforms),
    coverage: "per-hop",
    summary: { ...direct.summary, uncovered: hops.reduce((n, h) => n + h.summary.uncovered, 0) },
    hops,
  };
}

/**
 * The changes of every value the lenses of `type` move: its schema where the older version keeps
 * it against its schema where the newer one does, covered only by lenses other than the moves
 * (a `wrap` after `rename target -> targets`, an escape setting a default).
 */
function movedValueChanges(transform: TransformModel, type: string, oldSchema: JsonSchema, newSchema: JsonSchema, oldResolve: RefResolver, newResolve: RefResolver): ChangeReport[] {
  return movedValuesOf(transform, type).flatMap((value) => {
    const how = `moved from ${value.from} by ${value.movedBy.map((c) => c.lens).join(", ")}`;
    return compareMovedValue(oldSchema, value.from, newSchema, value.to, oldResolve, newResolve).map((change) => ({ ...toReport({ ...change, detail: `${how}: ${change.detail}` }, classify(change), value.coverage(change.path)), movedFrom: value.from }));
  });
}

function toReport(change: { kind: ChangeKind; path: string; detail: string }, effect: Effect, coveredBy: Cover[] | null): ChangeReport {
  const breaking = effect.backward || effect.forward;
  return {
    kind: change.kind,
    path: change.path,
    detail: change.detail,
    effect: describeEffect(effect),
    backward: effect.backward,
    forward: effect.forward,
    breaking,
    coveredBy: breaking ? coveredBy : coveredBy === null ? null : [],
  };
}

/** The report as text for a terminal: one block per message type, then records and a summary. */
export function formatReport(report: DiffReport): string {
  const lines: string[] = [];
  const via = report.transforms.length > 0 ? report.transforms.join(" -> ") : "none";
  lines.push(`onex diff v${report.from} -> v${report.to} (transforms: ${via})`);
  if (report.coverage === "per-hop") {
    lines.push(`Not adjacent: the schema diff below is direct; which lens covers a change is judged per adjacent hop (listed after it).`);
  }
  lines.push("");
  lines.push(...formatTypes(report));
  if (report.records.added.length > 0 || report.records.removed.length > 0) {
    lines.push(`records: ${[...report.records.added.map((r) => `+${r}`), ...report.records.removed.map((r) => `-${r}`)].join(", ")} (judged where messages reach them)`);
  }
  for (const { key, from, to } of report.subjects) {
    lines.push(`subject ${key}: ${from ?? "(none)"} -> ${to ?? "(none)"} (the two versions' messages travel on different subjects: a subscriber of one does not receive the other's)`);
  }
  for (const { type, from, to } of report.moved) {
    lines.push(`type ${type} moves: ${from} -> ${to} (a broadcast of either version does not reach the other's subscribers of it)`);
  }
  for (const hop of report.hops ?? []) {
    lines.push("", `-- hop v${hop.from} -> v${hop.to} (${hop.transforms.join(", ")}) --`, "");
    lines.push(...formatTypes(hop));
    lines.push(summaryLine(hop));
  }
  lines.push("", summaryLine(report));
  return lines.join("\n") + "\n";
}

function formatTypes(report: DiffReport): string[] {
  const lines: string[] = [];
  for (const t of report.types) {
    const breaking = t.changes.filter((c) => c.breaking);
    const note =
      t.status === "unchanged"
        ? "no changes"
        : `${t.status}, ${t.changes.length} change${t.changes.length === 1 ? "" : "s"}, ${breaking.length} breaking`;
    lines.push(`${t.type}  ${t.verdict}  (${note})`);
    for (const c of t.changes) {
      let cover = "";
      if (c.breaking && c.coveredBy !== null) {
        cover = c.coveredBy.length > 0 ? `  covered by ${c.coveredBy.map((k) => `${k.section}: ${k.lens}`).join("; ")}` : "  NOT COVERED";
      }
      lines.push(`  ${c.path || "(message)"}  ${c.kind}: ${c.detail}  [${c.effect}]${cover}`);
    }
  }
  return lines;
}

function summaryLine(report: DiffReport): string {
  const s = report.summary;
  const coverage =
    s.breaking === 0
      ? "nothing to cover"
      : report.coverage === "per-hop"
        ? s.uncovered === 0
          ? "every hop's breaking changes covered by its transform"
          : `${s.uncovered} breaking change${s.uncovered === 1 ? "" : "s"} of the hops NOT covered by any transform`
        : s.uncovered === 0
          ? "every breaking change covered by a transform"
          : `${s.uncovered} breaking change${s.uncovered === 1 ? "" : "s"} NOT covered by any transform`;
  return `v${report.from} -> v${report.to}: ${s.types} message types (${s.changed} changed, ${s.added} added, ${s.removed} removed), ${s.breaking} breaking changes; ${coverage}.`;
}
