/**
 * What the reference-site templates render: one view for the index, one per version and one
 * per message type of each version, plus the search index. Everything the templates show is
 * worked out here (links are relative, so the site opens from `file://`).
 */
import { diffModels, type DiffReport } from "../diff/report.js";
import { exampleMessage } from "../examples/example-message.js";
import { workedSubject } from "../examples/worked-subject.js";
import { compare } from "../load-version.js";
import type { VersionModel } from "../model.js";
import type { TransformModel } from "../transforms/load-transforms.js";
import { fieldTable, type FieldRow } from "./field-rows.js";
import { inlineMarkdown } from "./inline-markdown.js";
import { transformView } from "./transform-view.js";

/** One entry of the search box's index; `href` is relative to the site root. */
export interface SearchEntry {
  label: string;
  kind: "message" | "field" | "record";
  version: string;
  context: string;
  href: string;
}

export interface SiteInput {
  /** Oldest first. */
  models: VersionModel[];
  transforms: TransformModel[];
  /** Raw text of each transform file, by its shown path. */
  transformTexts: Map<string, string>;
}

export interface SitePages {
  index: object;
  versions: { id: string; view: object }[];
  messages: { id: string; type: string; view: object }[];
  search: SearchEntry[];
}

/** The page of message `type` in version folder `id`, relative to the site root. */
export function messageHref(id: string, type: string): string {
  return `${id}/${type}.html`;
}

const VERDICT_NOTE: Record<string, string> = {
  FULL: "compatible both ways",
  BACKWARD: "new readers read old data; old readers may not read new data",
  FORWARD: "old readers read new data; new readers may not read old data",
  NONE: "breaks both ways: needs its transform",
};

/** Builds every page's view. */
export function sitePages(input: SiteInput): SitePages {
  const { models } = input;
  const search: SearchEntry[] = [];
  const versionsOf = new Map<string, string[]>();
  for (const model of models) for (const m of model.messages) versionsOf.set(m.type, [...(versionsOf.get(m.type) ?? []), model.id]);
  const nav = (current: string | null, root: string) => [
    { label: "Index", href: `${root}index.html`, current: current === null },
    ...models.map((m) => ({ label: m.id, href: `${root}${m.id}/index.html`, current: current === m.id })),
  ];

  const versions: SitePages["versions"] = [];
  const messages: SitePages["messages"] = [];
  models.forEach((model, index) => {
    const previous = index > 0 ? models[index - 1] : undefined;
    const transform = previous ? input.transforms.find((t) => t.from === previous.version && t.to === model.version) : undefined;
    const diff = previous ? diffModels(previous, model, transform) : undefined;
    const examples = new Map(model.messages.map((m, i) => [m.type, exampleMessage(model, m.name, i)]));
    const subjectOf = (type: string) => {
      const m = model.messages.find((x) => x.type === type)!;
      return workedSubject(model.subjects.find((s) => s.key === m.subject)!, examples.get(type));
    };
    const otherVersions = (type: string, root: string) =>
      (versionsOf.get(type) ?? []).map((id) => ({ id, href: `${root}${messageHref(id, type)}`, current: id === model.id }));

    const messageViews = model.messages.map((m) => {
      const table = fieldTable(model, m.name, `f-${m.type}-`);
      search.push({ label: m.type, kind: "message", version: model.id, context: m.name, href: messageHref(model.id, m.type) });
      return {
        type: m.type,
        name: m.name,
        anchor: `m-${m.type}`,
        href: `${m.type}.html`,
        descriptionHtml: inlineMarkdown(m.description ?? ""),
        subject: subjectOf(m.type),
        rows: table.rows.map((row) => rowView(row)),
        notes: table.notes, shape: table.shape,
        records: table.records.map((name) => ({ name, href: `#r-${name}` })),
        otherVersions: otherVersions(m.type, "../"),
        verdict: diff ? verdictOf(diff, m.type) : null,
      };
    });

    const records = model.schemas
      .filter((s) => s.kind === "record")
      .map((s) => {
        const table = fieldTable(model, s.name, `rf-${s.name}-`);
        search.push({ label: s.name, kind: "record", version: model.id, context: "record", href: `${model.id}/index.html#r-${s.name}` });
        for (const row of table.rows) search.push({ label: `${s.name}.${row.path}`, kind: "field", version: model.id, context: `${s.name} · ${row.type}`, href: `${model.id}/index.html#${row.anchor}` });
        return { name: s.name, anchor: `r-${s.name}`, descriptionHtml: inlineMarkdown(s.description ?? ""), rows: table.rows.map((row) => rowView(row)), notes: table.notes, shape: table.shape };
      });

    const transformPart = transform ? { ...transformView(transform), yaml: input.transformTexts.get(transform.file) ?? "" } : null;
    const diffPart = diff ? diffView(diff) : null;
    versions.push({
      id: model.id,
      view: {
        root: "../",
        title: `O.N.E. protocol ${model.id}`,
        nav: nav(model.id, "../"),
        version: model.version,
        id: model.id,
        compatibleWith: model.compatibleWith.length > 0 ? model.compatibleWith.map((v) => `v${v}`).join(", ") : "none",
        declaredBy: model.declaredBy,
        manifestUrl: model.schemaManifestUrl,
        manifestFile: model.manifestFile,
        hash: model.hash,
        previous: previous ? { id: previous.id, href: `../${previous.id}/index.html` } : null,
        changelog: model.changelog.map((c) => ({ changeHtml: inlineMarkdown(c.change), whyHtml: inlineMarkdown(c.why) })),
        subjects: model.subjects.map((s) => {
          const first = model.messages.find((m) => m.subject === s.key);
          return { key: s.key, template: s.template, worked: first ? subjectOf(first.type) : null };
        }),
        messages: messageViews,
        records,
        transform: transformPart,
        diff: diffPart,
      },
    });

    for (const m of model.messages) {
      const table = fieldTable(model, m.name);
      for (const row of table.rows) {
        search.push({ label: row.path, kind: "field", version: model.id, context: `${m.type} · ${row.type}`, href: `${messageHref(model.id, m.type)}#${row.anchor}` });
      }
      const typeDiff = diff?.types.find((t) => t.type === m.type);
      messages.push({
        id: model.id,
        type: m.type,
        view: {
          root: "../",
          title: `${m.type} · ${model.id}`,
          nav: nav(model.id, "../"),
          id: model.id,
          version: model.version,
          type: m.type,
          name: m.name,
          descriptionHtml: inlineMarkdown(m.description ?? ""),
          subject: subjectOf(m.type),
          rows: table.rows.map((row) => rowView(row)),
          notes: table.notes, shape: table.shape,
          records: table.records.map((name) => {
            const recordTable = fieldTable(model, name, `rf-${name}-`);
            const description = model.schemas.find((x) => x.name === name)?.description ?? "";
            return { name, anchor: `r-${name}`, descriptionHtml: inlineMarkdown(description), rows: recordTable.rows.map((row) => rowView(row)), notes: recordTable.notes, shape: recordTable.shape };
          }),
          example: JSON.stringify(examples.get(m.type), null, 2),
          otherVersions: otherVersions(m.type, "../"),
          previousVersion: previous ? previous.id : null,
          changes: typeDiff ? typeView(typeDiff) : null,
        },
      });
    }
  });

  const ids = models.map((m) => m.id);
  const index = {
    root: "",
    title: "O.N.E. protocol reference",
    nav: nav(null, ""),
    versions: [...models].reverse().map((m) => ({
      id: m.id,
      href: `${m.id}/index.html`,
      compatibleWith: m.compatibleWith.length > 0 ? m.compatibleWith.map((v) => `v${v}`).join(", ") : "none",
      messageCount: m.messages.length,
      changelog: m.changelog.map((c) => ({ changeHtml: inlineMarkdown(c.change) })),
    })),
    matrix: {
      versions: ids,
      rows: [...versionsOf.keys()].sort(compare).map((type) => ({
        type,
        cells: ids.map((id) => ({ id, href: versionsOf.get(type)!.includes(id) ? messageHref(id, type) : null })),
      })),
    },
  };
  return { index, versions, messages, search };
}

/** Record types link to the record's table, which every page that shows the field also shows. */
function rowView(row: FieldRow) {
  return { ...row, indent: row.depth * 1.25, recordHref: row.record ? `#r-${row.record}` : null, descriptionHtml: inlineMarkdown(row.description ?? "") };
}

function verdictOf(diff: DiffReport, type: string) {
  const t = diff.types.find((x) => x.type === type);
  return t ? { verdict: t.verdict, status: t.status, from: `v${diff.from}`, className: `verdict-${t.verdict.toLowerCase()}` } : null;
}

function typeView(t: DiffReport["types"][number]) {
  return {
    type: t.type,
    anchor: `d-${t.type}`,
    status: t.status,
    verdict: t.verdict,
    verdictNote: VERDICT_NOTE[t.verdict] ?? "",
    className: `verdict-${t.verdict.toLowerCase()}`,
    changes: t.changes.map((c) => ({
      path: c.path || "(message)",
      kind: c.kind,
      detail: c.detail,
      effect: c.effect,
      breaking: c.breaking,
      cover: !c.breaking ? "not needed" : c.coveredBy === null ? "judged per hop" : c.coveredBy.length === 0 ? "NOT COVERED" : c.coveredBy.map((k) => `${k.section}: ${k.lens}`).join("; "),
      uncovered: c.breaking && c.coveredBy !== null && c.coveredBy.length === 0,
    })),
  };
}

function diffView(diff: DiffReport) {
  const s = diff.summary;
  return {
    from: `v${diff.from}`,
    to: `v${diff.to}`,
    transforms: diff.transforms.join(", ") || "none",
    summary: `${s.types} message types: ${s.changed} changed, ${s.added} added, ${s.removed} removed; ${s.breaking} breaking changes, ${s.uncovered} not covered by a transform.`,
    types: diff.types.map(typeView),
    recordsAdded: diff.records.added.join(", ") || "none",
    recordsRemoved: diff.records.removed.join(", ") || "none",
  };
}
