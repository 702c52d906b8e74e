// The reference site in a real browser: Debian's chromium (installed by `npm test`'s setup,
// test/setup/run-tests.sh), driven by puppeteer-core, opens the site from disk. Every page
// loads with no console error, no failed request and nothing fetched from outside the site;
// every internal link and anchor resolves; the search box finds a field by name. Then the
// site of a hostile pull request (markup in every manifest, schema and transform string the
// site shows) runs none of it and shows it as text.
//
// Output (ignored by git): .tmp/test-output/reference-site/site/ (the site) and
// .tmp/test-output/reference-site/screenshots/ (index.png, message-v0.2-event.node.register.png,
// search-fingerprint.png).
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadVersion } from "../../generator/load-version.js";
import { writeReferenceSite } from "../../generator/reference-site/build-site.js";
import { DEFAULT_TEMPLATES } from "../../generator/templates.js";
import { BUNDLED_VERSION_FOLDERS } from "../support/bundled-versions.js";
import { copySchemas, editFile, PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

const OUTPUT = join(PROJECT_ROOT, ".tmp", "test-output", "reference-site");
const SITE = join(OUTPUT, "site");
const SCREENSHOTS = join(OUTPUT, "screenshots");
const MESSAGE_PAGE = "v0.2/event.node.register.html";

/** The chromium to drive: $CHROMIUM_PATH, else Debian's. Missing is a failure, never a skip. */
function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`chromium not found (looked at ${candidates.join(", ")}); npm test installs Debian's chromium (test/setup/run-tests.sh), or set CHROMIUM_PATH`);
  }
  return found;
}

interface PageReport {
  file: string;
  problems: string[];
  ids: string[];
  links: string[];
}

/**
 * What a loaded page holds, evaluated in the page. A string, so this file needs no DOM types
 * (they would leak into every file the project's type check compiles).
 */
const PAGE_FACTS = `({
  ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
  links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
  title: document.title,
  stylesApplied: getComputedStyle(document.querySelector("header.top")).position,
  searchReady: Array.isArray(window.ONEX_SEARCH_INDEX),
})`;

let browser: Browser;
const reports = new Map<string, PageReport>();

/** Opens a page of `site` and records every console error, page error, dialog, failed or outside request. */
async function openPage(file: string, site = SITE): Promise<{ page: Page; report: PageReport }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const report: PageReport = { file, problems: [], ids: [], links: [] };
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warn") report.problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => report.problems.push(`page error: ${String(error)}`));
  // An alert() is what injected script in the hostile site below calls.
  page.on("dialog", (dialog) => {
    report.problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on("requestfailed", (request) => report.problems.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? "?"})`));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith("data:") && !url.startsWith(pathToFileURL(site).href + "/")) report.problems.push(`request outside the site: ${url}`);
  });
  const response = await page.goto(pathToFileURL(join(site, file)).href, { waitUntil: "load" });
  if (!response) report.problems.push("no response");
  return { page, report };
}

async function htmlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".html"))
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join("/"))
    .sort();
}

beforeAll(async () => {
  await rm(OUTPUT, { recursive: true, force: true });
  await mkdir(SCREENSHOTS, { recursive: true });
  await writeReferenceSite({ schemasDir: join(PROJECT_ROOT, "schemas"), outDir: SITE });
  browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // --no-sandbox: CI runs the tests as root, where chromium's sandbox refuses to start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await removeTempDirs();
});

describe("the reference site in chromium, from file://", () => {
  it("loads every page with no console error, no failed request and nothing from outside the site", async () => {
    const files = await htmlFiles(SITE);
    // index + a page per version + a page per message type of each version (6 + 6 + 10 for v0.0.9 to v0.2).
    const schemas = join(PROJECT_ROOT, "schemas");
    const models = await Promise.all(BUNDLED_VERSION_FOLDERS.map(async (version) => (await loadVersion(schemas, version, PROJECT_ROOT)).model));
    expect(files).toHaveLength(1 + models.length + models.reduce((n, model) => n + model.messages.length, 0));
    expect(files.length).toBeGreaterThanOrEqual(1 + 3 + 22);
    for (const file of files) {
      const { page, report } = await openPage(file);
      const found = (await page.evaluate(PAGE_FACTS)) as { ids: string[]; links: string[]; title: string; stylesApplied: string; searchReady: boolean };
      report.ids = found.ids;
      report.links = found.links;
      if (found.title === "") report.problems.push("empty title");
      if (found.stylesApplied !== "sticky") report.problems.push("stylesheet not applied");
      if (!found.searchReady) report.problems.push("search index not loaded");
      reports.set(file, report);
      await page.close();
    }
    expect([...reports.values()].flatMap((r) => r.problems.map((p) => `${r.file}: ${p}`))).toEqual([]);
  }, 180_000);

  it("resolves every internal link to a file of the site, and every #fragment to an element of its page", () => {
    expect(reports.size).toBeGreaterThan(0);
    const broken: string[] = [];
    let checked = 0;
    for (const report of reports.values()) {
      for (const link of report.links) {
        const url = new URL(link);
        if (url.protocol !== "file:") {
          broken.push(`${report.file}: ${link} leaves the site`);
          continue;
        }
        const target = fileURLToPath(url);
        const targetFile = relative(SITE, target).split(sep).join("/");
        checked++;
        if (targetFile.startsWith("..") || !existsSync(target)) {
          broken.push(`${report.file}: ${link} -> missing ${targetFile}`);
          continue;
        }
        const fragment = decodeURIComponent(url.hash.slice(1));
        if (fragment === "" || !targetFile.endsWith(".html")) continue;
        const targetReport = reports.get(targetFile);
        if (!targetReport?.ids.includes(fragment)) broken.push(`${report.file}: ${link} -> no element #${fragment} in ${targetFile}`);
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(500);
  });

  it("links each message type to the same type in the other versions", () => {
    const register = reports.get("v0.1/event.node.register.html")!;
    for (const other of ["v0.0.9", "v0.2"]) expect(register.links).toContain(pathToFileURL(join(SITE, other, "event.node.register.html")).href);
    const stopped = reports.get("v0.2/event.agent.stopped.html")!;
    expect(stopped.links.some((l) => l.includes("/v0.1/event.agent.stopped.html"))).toBe(false);
  });

  it("finds a field by name with the search box and goes to its row", async () => {
    const { page, report } = await openPage("index.html");
    await page.type("#search", "fingerprint");
    await page.waitForSelector("#search-results li a");
    const results = await page.$$eval("#search-results li", (items) => items.map((li) => li.textContent ?? ""));
    expect(results.some((r) => r.startsWith("payload.build.fingerprint") && r.includes("v0.2") && r.includes("event.node.register"))).toBe(true);
    expect(results.some((r) => r.startsWith("payload.build_fingerprint") && r.includes("v0.1"))).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, "search-fingerprint.png") });

    const href = (await page.evaluate(`document.querySelector("#search-results li a").href`)) as string;
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("#search-results li a")]);
    const hash = decodeURIComponent(new URL(href).hash.slice(1));
    expect(page.url()).toBe(href);
    const row = (await page.evaluate(`document.getElementById(${JSON.stringify(hash)})?.textContent ?? null`)) as string | null;
    expect(row).toContain("fingerprint");
    expect(report.problems).toEqual([]);
    await page.close();
  });

  it("saves readable screenshots of the index and a message page", async () => {
    for (const [file, name] of [
      ["index.html", "index.png"],
      [MESSAGE_PAGE, "message-v0.2-event.node.register.png"],
    ] as const) {
      const { page, report } = await openPage(file);
      const path = join(SCREENSHOTS, name);
      await page.screenshot({ path, fullPage: true });
      expect(report.problems).toEqual([]);
      // A blank or failed render is a few kilobytes; a page of tables is far more.
      expect((await stat(path)).size).toBeGreaterThan(30_000);
      await page.close();
    }
  }, 60_000);
});

/**
 * Markup that runs script wherever it lands unescaped: closes the element it is in (a code
 * span, a paragraph, an attribute), then tries a script element, an event handler and an SVG
 * onload. Each calls alert() with `where`, so a dialog names the manifest or schema string it
 * came through.
 */
const attack = (where: string) => `</code></p>"'><script>alert("${where}")</script><img src=x onerror=alert("${where}")><svg onload=alert("${where}")>`;
const yamlString = (text: string) => JSON.stringify(text);
const HOSTILE = join(OUTPUT, "hostile-site");
const UNESCAPED = join(OUTPUT, "hostile-site-unescaped");

/** What injected markup would leave in a loaded page: handlers, scripts, elements, links. */
const HOSTILE_FACTS = `({
  handlers: [...document.querySelectorAll("*")].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => e.tagName + " " + a.name)),
  scripts: [...document.scripts].map((s) => s.getAttribute("src")),
  elements: [...document.querySelectorAll("img, svg, iframe, object, embed, style, base, form, meta[http-equiv]:not([http-equiv=Content-Security-Policy])")].map((e) => e.outerHTML),
  schemes: [...document.querySelectorAll("[href], [src]")].map((e) => new URL(e.getAttribute("href") ?? e.getAttribute("src"), document.baseURI).protocol).filter((p) => p !== "file:" && p !== "data:"),
  text: document.body.textContent,
})`;

describe("the reference site of a hostile pull request, in chromium", () => {
  let schemas: string;
  // Every string of a manifest, schema and transform file the site shows, as markup.
  beforeAll(async () => {
    ({ schemas } = await copySchemas());
    const v = join(schemas, "v0.2");
    await editFile(join(v, "manifest.yaml"), (text) =>
      text
        .replace("declared_by: onex", `declared_by: ${yamlString(attack("declared_by"))}`)
        .replace("changelog:\n", `changelog:\n  - change: ${yamlString(`${attack("change")} \`${attack("change code")}\` [docs](javascript:alert("markdown link"))`)}\n    why: ${yamlString(attack("why"))}\n`)
        .replace("jetstream.onex.zone.{zone_id}", "jetstream.<svg/onload=alert('subject')//.zone.{zone_id}"),
    );
    await editFile(join(v, "messages", "agent-started.yaml"), (text) =>
      [
        text
          .replace("description: An agent started on a node.", `description: ${yamlString(`${attack("description")} \`${attack("description code")}\``)}\n$comment: ${yamlString(attack("$comment"))}`)
          .replace("  agent_id:\n    type: string\n", `  agent_id:\n    type: string\n    examples: [${yamlString(attack("example"))}]\n`),
        `  ${yamlString(attack("field name"))}:`,
        `    description: ${yamlString(attack("field description"))}`,
        "    type: string",
        `    enum: [${yamlString(attack("enum"))}, "\\u2028"]`,
        `    default: ${yamlString(attack("default"))}`,
        `  "</script><script>alert('search')</script>":`,
        "    type: string",
        `    pattern: ${yamlString("^<script>alert\\('pattern'\\)</script>$")}`,
        `    format: ${yamlString(attack("format"))}`,
        "",
      ].join("\n"),
    );
    await editFile(join(v, "records", "trust.yaml"), (text) => text.replace("description: O.M.N.I. trust metadata carried by every message.", `description: ${yamlString(attack("record"))}`));
    await editFile(join(v, "from-v0.1.yaml"), (text) => `# ${attack("transform file")}\n${text}`);
    await writeReferenceSite({ schemasDir: schemas, outDir: HOSTILE });
  }, 120_000);

  it("shows every string as text: no script runs, no element, handler or link is injected", async () => {
    const files = await htmlFiles(HOSTILE);
    expect(files.length).toBeGreaterThan(20);
    const found: string[] = [];
    const shown = new Set<string>();
    for (const file of files) {
      const { page, report } = await openPage(file, HOSTILE);
      const facts = (await page.evaluate(HOSTILE_FACTS)) as { handlers: string[]; scripts: (string | null)[]; elements: string[]; schemes: string[]; text: string };
      found.push(...report.problems, ...facts.handlers, ...facts.elements, ...facts.schemes.map((s) => `link to ${s}`));
      const root = file.includes("/") ? "../" : "";
      if (facts.scripts.join(" ") !== `${root}assets/search-index.js ${root}assets/search.js`) found.push(`scripts ${facts.scripts.join(" ")}`);
      for (const where of ["declared_by", "change", "change code", "why", "description", "description code", "field name", "field description", "format", "record", "transform file"]) {
        if (facts.text.includes(attack(where))) shown.add(where);
      }
      // Values are shown as JSON.
      for (const where of ["enum", "default", "example"]) if (facts.text.includes(JSON.stringify(attack(where)))) shown.add(where);
      if (facts.text.includes("<svg/onload=alert('subject')//")) shown.add("subject");
      if (facts.text.includes("^<script>alert\\('pattern'\\)</script>$")) shown.add("pattern");
      await page.close();
      if (found.length > 0) throw new Error(`${file}: ${found.join("; ")}`);
    }
    // The attack reached the pages, as the text it is.
    expect([...shown].sort()).toEqual(["change", "change code", "declared_by", "default", "description", "description code", "enum", "example", "field description", "field name", "format", "pattern", "record", "subject", "transform file", "why"]);
  }, 180_000);

  it("holds its Content-Security-Policy: markup a template writes unescaped still runs nothing", async () => {
    const templates = await tempDir();
    await mkdir(join(templates, "reference-site"));
    const fields = await readFile(join(DEFAULT_TEMPLATES, "reference-site", "_fields.html.hbs"), "utf8");
    // The mistake an overriding template can make: a field written with {{{ }}}.
    await writeFile(join(templates, "reference-site", "_fields.html.hbs"), fields.replace("<code>{{name}}</code>", "<code>{{{name}}}</code>"));
    await writeReferenceSite({ schemasDir: schemas, outDir: UNESCAPED, templatesDir: templates });
    const { page, report } = await openPage("v0.2/event.agent.started.html", UNESCAPED);
    // The markup is in the page, handlers and all...
    expect(((await page.evaluate(HOSTILE_FACTS)) as { handlers: string[] }).handlers).toContain("IMG onerror");
    // ...and the policy refused every script, handler and image of it.
    expect(report.problems.filter((p) => p.startsWith("dialog"))).toEqual([]);
    expect(report.problems.filter((p) => p.includes("Content Security Policy")).length).toBeGreaterThanOrEqual(3);
    await page.close();
  });

  it("lists a field named like markup in the search box as text", async () => {
    const { page, report } = await openPage("v0.2/index.html", HOSTILE);
    await page.type("#search", "</script>");
    await page.waitForSelector("#search-results li a");
    const hits = (await page.evaluate(`[...document.querySelectorAll("#search-results li a")].map((a) => [a.textContent, new URL(a.href).protocol])`)) as [string, string][];
    expect(hits).toContainEqual(["payload.</script><script>alert('search')</script>", "file:"]);
    expect((await page.evaluate(HOSTILE_FACTS)) as { handlers: string[] }).toMatchObject({ handlers: [], elements: [] });
    expect(report.problems).toEqual([]);
    await page.close();
  });
});
