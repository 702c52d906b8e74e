/** Handlebars templates for the emitted files; a user folder overrides them file by file. */
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync, type Stats } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import Handlebars from "handlebars";
import { ErrorCode, OnexError } from "@onex/runtime";
import { runtimeImportLine } from "./codegen-symbols.js";
import { closestName } from "./did-you-mean.js";
import { utf8Text } from "./input-hashes.js";
import { PACKAGE_ROOT } from "./package-root.js";

/** The bundled templates folder. */
export const DEFAULT_TEMPLATES = join(PACKAGE_ROOT, "templates");

export type RenderFn = (template: string, view: object) => string;

/**
 * Loads the templates, preferring files in `overrideDir`, and returns a renderer. With
 * `html`, output is HTML-escaped and every template whose file name starts with `_` is also
 * a partial named after the rest of it (`reference-site/_fields.html.hbs` -> `{{> fields}}`).
 * `globals` are fields every view gets (the generator's version and options, for headers).
 * A missing `overrideDir`, or a file in it that has the name of no bundled template, is
 * refused: either would otherwise fall back to the bundled templates without a word.
 */
export async function loadTemplates(names: readonly string[], overrideDir?: string, options: { html?: boolean; globals?: Record<string, unknown> } = {}): Promise<RenderFn> {
  if (overrideDir !== undefined) await checkOverrideDir(overrideDir);
  const globals = options.globals ?? {};
  const hbs = Handlebars.create();
  hbs.registerHelper("json", (value: unknown) => JSON.stringify(value));
  // `{{importRuntime "OnexMessage" "MessageInit" alias=true}}`: the one way a template imports the runtime.
  hbs.registerHelper("importRuntime", (...args: unknown[]) => {
    const options = args.pop() as Handlebars.HelperOptions;
    return runtimeImportLine((options.data as { root: { runtimeImport: string } }).root.runtimeImport, args as string[], { alias: options.hash.alias === true });
  });
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  for (const name of ["header.hbs", ...names]) {
    const override = overrideDir ? join(overrideDir, name) : undefined;
    const file = override && existsSync(override) ? override : join(DEFAULT_TEMPLATES, name);
    // Synchronously, as the schemas are read (see writer.ts): a dozen small files.
    // Strictly: a --templates file is the user's, and a byte that is not UTF-8 would be U+FFFD in every file it emits.
    const text = utf8Text(readFileSync(file), file, ErrorCode.TemplateError);
    try {
      const template = hbs.compile(text, { noEscape: !options.html, strict: true });
      if (name === "header.hbs") hbs.registerPartial("header", text);
      const partial = options.html ? /(?:^|\/)_([A-Za-z0-9-]+)\.[^/]*hbs$/.exec(name) : null;
      // A partial's failure names the partial, not only the page that included it.
      if (partial) {
        hbs.registerPartial(partial[1]!, (context: unknown, runtime?: Handlebars.RuntimeOptions) => {
          try {
            return template(context, runtime);
          } catch (cause) {
            throw cause instanceof PartialFailure ? cause : new PartialFailure(name, cause);
          }
        });
      }
      compiled.set(name, template);
    } catch (cause) {
      throw new OnexError(ErrorCode.TemplateError, `template ${file}: ${(cause as Error).message}`, { file }, { cause });
    }
  }
  return (name, view) => {
    const template = compiled.get(name);
    if (!template) throw new OnexError(ErrorCode.Internal, `template ${name} was not loaded`);
    try {
      return template({ ...globals, ...view });
    } catch (cause) {
      const failed = cause instanceof PartialFailure ? cause.template : name;
      const where = failed === name ? name : `${failed} (included by ${name})`;
      throw new OnexError(ErrorCode.TemplateError, `template ${where}: ${templateProblem(cause instanceof PartialFailure ? cause.cause : cause)}`, { file: failed }, { cause });
    }
  };
}

/** A partial that failed while a page rendered: which one, and why. */
class PartialFailure extends Error {
  constructor(
    readonly template: string,
    override readonly cause: unknown,
  ) {
    super(`template ${template} failed`);
  }
}

/** Handlebars' message said plainly: strict mode's `"x" not defined in [object Object] - 2:115` names the field and where it is (1-based). */
function templateProblem(cause: unknown): string {
  const message = (cause as Error)?.message ?? String(cause);
  const missing = /^"([^"]*)" not defined in [\s\S]* - (\d+):(\d+)$/.exec(message);
  return missing ? `line ${missing[2]}, column ${Number(missing[3]) + 1}: "${missing[1]}" is not a field here (misspelt?)` : message;
}

/**
 * Why `dir` is no templates folder, said as what it is rather than as missing (a file given by
 * mistake, a link that leads nowhere): ONEX_E_FILE_NOT_FOUND when nothing is there, as for any
 * input, and ONEX_E_FILE_UNREADABLE for something that is there but is not a folder; undefined
 * for a folder, or a link to one.
 */
function notAFolder(dir: string): OnexError | undefined {
  const errnoOf = (cause: unknown) => (cause as NodeJS.ErrnoException).code;
  let entry: Stats;
  try {
    entry = lstatSync(dir);
  } catch (cause) {
    const errno = errnoOf(cause);
    if (errno === "ENOENT" || errno === "ENOTDIR") return new OnexError(ErrorCode.FileNotFound, `templates folder ${dir} does not exist`, { file: dir, missing: dir, errno }, { cause });
    return new OnexError(ErrorCode.FileUnreadable, `templates folder ${dir} cannot be read: ${(cause as Error).message}`, { file: dir, ...(errno === undefined ? {} : { errno }) }, { cause });
  }
  let target: Stats;
  try {
    target = statSync(dir);
  } catch (cause) {
    // lstat saw an entry and stat cannot follow it: a symbolic link that does not resolve.
    const errno = errnoOf(cause);
    if (errno === "ENOENT" || errno === "ENOTDIR") {
      return new OnexError(ErrorCode.FileNotFound, `templates folder ${dir} is a symbolic link to ${readlinkSync(dir)}, which does not exist`, { file: dir, missing: dir, errno }, { cause });
    }
    const why = errno === "ELOOP" ? "a loop of symbolic links (ELOOP)" : (cause as Error).message;
    return new OnexError(ErrorCode.FileUnreadable, `templates folder ${dir} is a symbolic link that does not resolve: ${why}`, { file: dir, ...(errno === undefined ? {} : { errno }) }, { cause });
  }
  if (target.isDirectory()) return undefined;
  const what = target.isFile() ? "a file" : "a device, a pipe or a socket";
  const via = entry.isSymbolicLink() ? ` (through the symbolic link to ${readlinkSync(dir)})` : "";
  return new OnexError(ErrorCode.FileUnreadable, `templates folder ${dir} is ${what}${via}, not a folder; --templates names a folder of template files`, { file: dir, errno: "ENOTDIR" });
}

/** Every template file under `dir`, as `/`-separated paths relative to it (dot files left out). */
async function templateFilesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith("."))
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join("/"))
    .sort();
}

/** Throws what `notAFolder` finds, and ONEX_E_TEMPLATE_UNKNOWN for a file no bundled template is named like. */
async function checkOverrideDir(dir: string): Promise<void> {
  const problem = notAFolder(dir);
  if (problem !== undefined) throw problem;
  // Known names are every bundled template, the reference site's included, so one folder can override both.
  const known = await templateFilesIn(DEFAULT_TEMPLATES);
  const unknown = (await templateFilesIn(dir)).filter((f) => !known.includes(f));
  if (unknown.length === 0) return;
  const described = unknown.map((f) => {
    const close = closestName(f, known);
    return close ? `${f} (did you mean ${close}?)` : f;
  });
  throw new OnexError(
    ErrorCode.TemplateUnknown,
    `templates folder ${dir} holds ${unknown.length === 1 ? "a file" : "files"} named like no template, which would be ignored: ${described.join(", ")}; templates are ${known.join(", ")}`,
    { file: join(dir, unknown[0]!), unknown },
  );
}
