/** What the reference site says (without a browser): fields and their constraints, subjects, changelog, transforms, diff verdicts, search index; determinism, template overrides and `onex docs`. */
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildReferenceSite, SITE_MARKER } from "../../generator/reference-site/build-site.js";
import type { SearchEntry } from "../../generator/reference-site/site-views.js";
import { DEFAULT_TEMPLATES } from "../../generator/templates.js";
import { ErrorCode } from "../../runtime/errors.js";
import { BUNDLED_VERSION_FOLDERS } from "../support/bundled-versions.js";
import { runCli } from "../support/run-cli.js";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

const SCHEMAS = join(PROJECT_ROOT, "schemas");
const { files } = await buildReferenceSite(SCHEMAS);
const page = (file: string) => {
  const html = files.get(file);
  expect(html, file).toBeDefined();
  return html!;
};
/** The `<tr>` of the row with element id `id`. */
const row = (html: string, id: string) => {
  const start = html.indexOf(`<tr id="${id}">`);
  expect(start, `row #${id}`).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf("</tr>", start));
};

describe("a message page", () => {
  const html = page("v0.2/event.node.register.html");

  it("lists every field with type, required, default, bounds, format, pattern and description", () => {
    expect(row(html, "f-payload.build.version")).toMatch(/<code>string<\/code>[\s\S]*required[\s\S]*default <code>&quot;unknown&quot;<\/code>[\s\S]*length ≥ 1/);
    expect(row(html, "f-payload.build.fingerprint")).toContain("pattern <code>^sha256:[0-9a-f]{64}$</code>");
    expect(row(html, "f-id")).toContain("format <code>uuid</code>");
    expect(row(html, "f-id")).toContain("JetStream de-duplication id");
    expect(row(html, "f-payload.labels")).toMatch(/map&lt;string, string&gt;[\s\S]*optional[\s\S]*Free-form labels/);
    expect(row(html, "f-trust")).toContain('<a href="#r-Trust">Trust</a>');
  });

  it("shows the nested records it reaches, with their own fields", () => {
    expect(row(html, "rf-Trust-signer")).toContain("length 1..128");
    expect(row(html, "rf-Trust-level")).toContain("&quot;untrusted&quot; | &quot;basic&quot; | &quot;verified&quot; | &quot;trusted&quot;");
    expect(html).toContain('id="r-Address"');
  });

  it("works the subject out from the example, zone token encoded", () => {
    expect(html).toContain("<code>zone.trusted.org</code></td><td><code>zone~2Etrusted~2Eorg</code>");
    expect(html).toContain('<code class="subject-example">jetstream.onex.zone.zone~2Etrusted~2Eorg.node.entity-id-1.events</code>');
  });

  it("links to the same type in the other versions and shows its changes with a verdict", () => {
    expect(html).toContain('<a href="../v0.0.9/event.node.register.html">v0.0.9</a>');
    expect(html).toContain('<a href="../v0.1/event.node.register.html">v0.1</a>');
    expect(html).toMatch(/Changes since v0\.1[\s\S]*badge verdict-none[\s\S]*\/payload\/build_fingerprint/);
  });
});

describe("a version page", () => {
  const html = page("v0.2/index.html");

  it("carries the changelog, every message type and record, and the AsyncAPI document", () => {
    expect(html).toContain("<code>signal.task.dispatch</code> payload <code>action</code> renamed to <code>operation</code>.");
    for (const type of ["event.agent.stopped", "signal.artifact.request", "event.node.register"]) expect(html).toContain(`id="m-${type}"`);
    expect(html).toContain('id="r-ArtifactDescriptor"');
    expect(row(html, "f-signal.artifact.request-payload.root_hash")).toContain("pattern");
    expect(html).toContain("payload.name requires payload.version");
    expect(html).toContain('<a href="asyncapi.yaml">asyncapi.yaml</a>');
    // Quoted: YAML 1.1's float pattern takes 3.0.0 for a number.
    expect(page("v0.2/asyncapi.yaml")).toContain('asyncapi: "3.0.0"');
  });

  it("describes the transform from the previous version lens by lens", () => {
    expect(html).toContain("Transform from v0.1");
    expect(html).toMatch(/<code>payload<\/code>: rename action to operation/);
    expect(html).toMatch(/<code>payload<\/code>: wrap targets in a list <span class="lossy">lossy<\/span>/);
    expect(html).toMatch(/<code>payload.build<\/code>: add version, default &quot;unknown&quot;/);
    expect(html).toContain("<code>event.agent.stopped</code>");
  });

  it("carries the onex diff report with a verdict per type and the covering lenses", () => {
    expect(html).toMatch(/id="d-signal\.task\.dispatch"><code>signal\.task\.dispatch<\/code> <span class="badge verdict-none"/);
    // A type new in v0.2 cannot be read by a v0.1 reader: BACKWARD, as `onex diff v0.1 v0.2` says.
    expect(html).toMatch(/id="d-event\.agent\.stopped"><code>event\.agent\.stopped<\/code> <span class="badge verdict-backward"/);
    expect(html).toContain("types.signal.task.dispatch: rename action -&gt; operation");
    expect(html).toContain("10 message types: 6 changed, 4 added, 0 removed");
    expect(html).not.toContain('class="uncovered"');
  });

  it("the oldest version has no transform and no diff", () => {
    const oldest = page("v0.0.9/index.html");
    expect(oldest).not.toContain('id="transform"');
    expect(oldest).not.toContain('id="breaking-changes"');
  });
});

describe("the index and the search index", () => {
  it("lists the versions newest first and every message type across versions", () => {
    const html = page("index.html").split('<section id="versions">')[1]!;
    expect(html.indexOf('href="v0.2/index.html">v0.2')).toBeLessThan(html.indexOf('href="v0.0.9/index.html">v0.0.9'));
    expect(html).toContain('<a href="v0.0.9/signal.state.update.html">v0.0.9</a>');
  });

  it("indexes message types, records and fields of every version with links into the site", () => {
    const script = page("assets/search-index.js");
    const entries = JSON.parse(script.replace(/^\/\/ .*\nwindow\.ONEX_SEARCH_INDEX = /, "").replace(/;\n$/, "")) as SearchEntry[];
    expect(entries).toContainEqual({ label: "payload.build.fingerprint", kind: "field", version: "v0.2", context: "event.node.register · string", href: "v0.2/event.node.register.html#f-payload.build.fingerprint" });
    expect(entries).toContainEqual(expect.objectContaining({ label: "signal.artifact.have", kind: "message", version: "v0.2" }));
    expect(entries).toContainEqual(expect.objectContaining({ label: "Trust.signer", kind: "field", version: "v0.0.9" }));
    for (const entry of entries) expect(files.has(entry.href.replace(/#.*$/, "")), entry.href).toBe(true);
  });
});

describe("site output", () => {
  it("is byte-for-byte the same on every build", async () => {
    const again = await buildReferenceSite(SCHEMAS);
    expect([...again.files.keys()]).toEqual([...files.keys()]);
    for (const [file, content] of files) expect(again.files.get(file), file).toBe(content);
  });

  it("uses a template from --templates instead of the bundled one, file by file", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "reference-site"));
    const foot = await readFile(join(DEFAULT_TEMPLATES, "reference-site", "_foot.html.hbs"), "utf8");
    await writeFile(join(dir, "reference-site", "_foot.html.hbs"), foot.replace("</footer>", " Maintained by the platform team.</footer>"));
    const custom = await buildReferenceSite(SCHEMAS, dir);
    expect(custom.files.get("index.html")).toContain("Maintained by the platform team.");
    expect(custom.files.get("v0.1/signal.task.dispatch.html")).toContain("Maintained by the platform team.");
    expect(custom.files.get("v0.1/signal.task.dispatch.html")!.replace(" Maintained by the platform team.", "")).toBe(files.get("v0.1/signal.task.dispatch.html"));
  });

  it("reports a broken template as ONEX_E_TEMPLATE naming it", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "reference-site"));
    await writeFile(join(dir, "reference-site", "index.html.hbs"), "{{#each versions}}never closed");
    await expect(buildReferenceSite(SCHEMAS, dir)).rejects.toMatchObject({ code: ErrorCode.TemplateError, message: expect.stringContaining("index.html.hbs") });
  });

  it("reports a misspelt field as ONEX_E_TEMPLATE (strict mode), not an empty cell", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "reference-site"));
    const foot = await readFile(join(DEFAULT_TEMPLATES, "reference-site", "_foot.html.hbs"), "utf8");
    await writeFile(join(dir, "reference-site", "_foot.html.hbs"), foot.replace("</footer>", "{{maintainr}}</footer>"));
    // Where the field name stands, in the partial.
    const at = foot.split("\n").findIndex((line) => line.includes("</footer>"));
    await expect(buildReferenceSite(SCHEMAS, dir)).rejects.toMatchObject({
      code: ErrorCode.TemplateError,
      message: `template reference-site/_foot.html.hbs (included by reference-site/index.html.hbs): line ${at + 1}, column ${foot.split("\n")[at]!.indexOf("</footer>") + 3}: "maintainr" is not a field here (misspelt?)`,
      details: { file: "reference-site/_foot.html.hbs" },
    });
  });
});

describe("onex docs", () => {
  it("writes the site and says where to open it", async () => {
    const out = join(await tempDir(), "site");
    const result = runCli(["docs", "--out", out]);
    expect(result.stderr).toContain(`reference site for ${BUNDLED_VERSION_FOLDERS.join(", ")}: `);
    expect(result.stderr).toContain(`file://${out}/index.html`);
    expect(result.status).toBe(0);
    expect(await readFile(join(out, "v0.2", "event.node.register.html"), "utf8")).toBe(files.get("v0.2/event.node.register.html"));
    const again = runCli(["docs", "--out", out]);
    expect(again.stdout).toBe("");
    expect(again.stderr).toContain("0 changed");
  });

  it("marks every file it writes, and replaces a file it did not write only with --force (exit 2 otherwise)", async () => {
    for (const [file, content] of files) expect(content.slice(0, 300), file).toContain(SITE_MARKER);
    const out = await tempDir();
    await writeFile(join(out, "index.html"), "<p>our own landing page</p>\n");
    const refused = runCli(["docs", "--out", out]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^error ONEX_E_FILE_EXISTS: .* holds 1 file\(s\) onex docs did not write at paths the site uses \(index\.html\)/);
    expect(await readFile(join(out, "index.html"), "utf8")).toBe("<p>our own landing page</p>\n");
    expect(runCli(["docs", "--out", out, "--force"]).status).toBe(0);
    expect(await readFile(join(out, "index.html"), "utf8")).toBe(files.get("index.html"));
  });

  it("writes through no symbolic link: a link at a page's path is refused (replaced, not followed, with --force), a linked folder always", async () => {
    const root = await tempDir();
    const out = join(root, "site");
    await mkdir(out);
    // A dangling link: following it created outside.html beside the site, without --force.
    await symlink(join(root, "outside.html"), join(out, "index.html"));
    const refused = runCli(["docs", "--out", out]);
    expect(refused.stderr).toMatch(/^error ONEX_E_FILE_EXISTS: .*index\.html is a symbolic link/);
    expect(refused.status).toBe(2);
    expect(existsSync(join(root, "outside.html"))).toBe(false);
    expect(runCli(["docs", "--out", out, "--force"]).status).toBe(0);
    expect(existsSync(join(root, "outside.html"))).toBe(false);
    expect((await lstat(join(out, "index.html"))).isFile()).toBe(true);
    await mkdir(join(root, "elsewhere"));
    await rm(join(out, "v0.2"), { recursive: true });
    await symlink(join(root, "elsewhere"), join(out, "v0.2"));
    const linked = runCli(["docs", "--out", out, "--force"]);
    expect(linked.stderr).toMatch(/^error ONEX_E_FILE_EXISTS: .*v0\.2 is a symbolic link/);
    expect(await readdir(join(root, "elsewhere"))).toEqual([]);
    expect((await readdir(out, { recursive: true })).filter((f) => f.includes(".tmp"))).toEqual([]);
  });

  it("exits 73 with ONEX_E_WRITE_FAILED when --out cannot be written", async () => {
    const blocker = join(await tempDir(), "a-file");
    await writeFile(blocker, "not a folder\n");
    const result = runCli(["docs", "--out", join(blocker, "site")]);
    expect(result.stderr).toMatch(/^error ONEX_E_WRITE_FAILED: cannot write the site into .*a-file\/site: .*(ENOTDIR|EEXIST)/);
    expect(result.status).toBe(73);
  });

  it("exits 2 without --out", () => {
    const result = runCli(["docs"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("ONEX_E_USAGE");
  });

  it("exits 3 for a schemas folder that does not exist", () => {
    const result = runCli(["docs", "--out", "/tmp/never-written", "--schemas", "/nonexistent/schemas"]);
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/^error ONEX_E_FILE_NOT_FOUND: schemas folder \/nonexistent\/schemas cannot be read/);
  });
});
