/**
 * `onex docs`: every protocol version of a schemas folder as a static reference site.
 * Self-contained: plain HTML, one stylesheet, one script and the search index as a script
 * (a `fetch` of JSON is refused under `file://`), relative links only, nothing from a
 * network. Deterministic: no dates, sorted everything, so the site can be committed and
 * diffed like generated code.
 */
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { asyncApiDocument, formatAsyncApi } from "../asyncapi/asyncapi-document.js";
import { versionsIn } from "../diff/diff-versions.js";
import { loadVersion } from "../load-version.js";
import { loadTemplates } from "../templates.js";
import { loadTransforms } from "../transforms/load-transforms.js";
import { applyOutput, diffOutput, type FileDifference } from "../writer.js";
import { sitePages } from "./site-views.js";

export interface DocsOptions {
  /** Folder holding one `v<version>/manifest.yaml` per protocol version. */
  schemasDir: string;
  /** Folder the site is written to. */
  outDir: string;
  /** Folder whose templates override the bundled ones (`reference-site/*.hbs` inside it). */
  templatesDir?: string;
}

export interface DocsResult {
  versions: string[];
  /** Every file of the site, relative path -> content. */
  files: Map<string, string>;
  differences: FileDifference[];
}

/** The templates of the site, under `templates/reference-site/`; names starting with `_` are partials. */
export const SITE_TEMPLATES = [
  "reference-site/_head.html.hbs",
  "reference-site/_foot.html.hbs",
  "reference-site/_fields.html.hbs",
  "reference-site/_subject.html.hbs",
  "reference-site/index.html.hbs",
  "reference-site/version.html.hbs",
  "reference-site/message.html.hbs",
  "reference-site/site.css.hbs",
  "reference-site/search.js.hbs",
] as const;

/** Builds the site's files (relative path -> content) for every version of `schemasDir`. */
export async function buildReferenceSite(schemasDir: string, templatesDir?: string): Promise<{ versions: string[]; files: Map<string, string> }> {
  const dir = resolve(schemasDir);
  const displayRoot = dirname(dir);
  const versions = await versionsIn(dir).catch((cause: unknown) => {
    throw new OnexError(ErrorCode.FileNotFound, `schemas folder ${schemasDir} cannot be read`, { file: schemasDir }, { cause });
  });
  if (versions.length === 0) throw new OnexError(ErrorCode.FileNotFound, `no version folders (v<version>/manifest.yaml) in ${schemasDir}`, { file: schemasDir });
  const models = [];
  for (const version of versions) models.push((await loadVersion(dir, `v${version}`, displayRoot)).model);
  const transforms = await loadTransforms(dir, models, displayRoot);
  const transformTexts = new Map<string, string>();
  for (const t of transforms) transformTexts.set(t.file, await readFile(join(displayRoot, t.file), "utf8"));

  const render = await loadTemplates(SITE_TEMPLATES, templatesDir, { html: true });
  const pages = sitePages({ models, transforms, transformTexts });
  const files = new Map<string, string>();
  files.set("index.html", render("reference-site/index.html.hbs", pages.index));
  for (const { id, view } of pages.versions) files.set(`${id}/index.html`, render("reference-site/version.html.hbs", view));
  for (const { id, type, view } of pages.messages) files.set(`${id}/${type}.html`, render("reference-site/message.html.hbs", view));
  for (const model of models) files.set(`${model.id}/asyncapi.yaml`, formatAsyncApi(asyncApiDocument(model, { generatedBy: "onex docs" }), "yaml"));
  files.set("assets/site.css", render("reference-site/site.css.hbs", {}));
  files.set("assets/search.js", render("reference-site/search.js.hbs", {}));
  // `<` escaped so no field text can close the script element.
  files.set("assets/search-index.js", `window.ONEX_SEARCH_INDEX = ${JSON.stringify(pages.search, null, 0).replace(/</g, "\\u003c")};\n`);
  return { versions: models.map((m) => m.version), files: new Map([...files].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) };
}

/** Builds the site and writes what differs into `outDir`. */
export async function writeReferenceSite(options: DocsOptions): Promise<DocsResult> {
  const { versions, files } = await buildReferenceSite(options.schemasDir, options.templatesDir);
  const outDir = resolve(options.outDir);
  const differences = await diffOutput(outDir, files);
  // Only missing or changed files: stale pages of a removed version are left for the user to delete.
  await applyOutput(outDir, files, differences.filter((d) => d.status !== "extra"));
  return { versions, files, differences: differences.filter((d) => d.status !== "extra") };
}
