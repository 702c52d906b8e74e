/** Handlebars templates for the emitted files; a user folder overrides them file by file. */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import Handlebars from "handlebars";
import { ErrorCode, OnexError } from "../runtime/errors.js";
import { PACKAGE_ROOT } from "./package-root.js";

/** The bundled templates folder. */
export const DEFAULT_TEMPLATES = join(PACKAGE_ROOT, "templates");

export type RenderFn = (template: string, view: object) => string;

/**
 * Loads the templates, preferring files in `overrideDir`, and returns a renderer. With
 * `html`, output is HTML-escaped and every template whose file name starts with `_` is also
 * a partial named after the rest of it (`reference-site/_fields.html.hbs` -> `{{> fields}}`).
 */
export async function loadTemplates(names: readonly string[], overrideDir?: string, options: { html?: boolean } = {}): Promise<RenderFn> {
  const hbs = Handlebars.create();
  hbs.registerHelper("json", (value: unknown) => JSON.stringify(value));
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  for (const name of ["header.hbs", ...names]) {
    const override = overrideDir ? join(overrideDir, name) : undefined;
    const file = override && existsSync(override) ? override : join(DEFAULT_TEMPLATES, name);
    const text = await readFile(file, "utf8");
    try {
      const template = hbs.compile(text, { noEscape: !options.html, strict: true });
      if (name === "header.hbs") hbs.registerPartial("header", text);
      const partial = options.html ? /(?:^|\/)_([A-Za-z0-9-]+)\.[^/]*hbs$/.exec(name) : null;
      if (partial) hbs.registerPartial(partial[1]!, template);
      compiled.set(name, template);
    } catch (cause) {
      throw new OnexError(ErrorCode.TemplateError, `template ${file}: ${(cause as Error).message}`, { file }, { cause });
    }
  }
  return (name, view) => {
    const template = compiled.get(name);
    if (!template) throw new OnexError(ErrorCode.Internal, `template ${name} was not loaded`);
    try {
      return template(view);
    } catch (cause) {
      throw new OnexError(ErrorCode.TemplateError, `template ${name}: ${(cause as Error).message}`, { file: name }, { cause });
    }
  };
}
