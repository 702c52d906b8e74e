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

/** Loads the templates, preferring files in `overrideDir`, and returns a renderer. */
export async function loadTemplates(names: readonly string[], overrideDir?: string): Promise<RenderFn> {
  const hbs = Handlebars.create();
  hbs.registerHelper("json", (value: unknown) => JSON.stringify(value));
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  for (const name of ["header.hbs", ...names]) {
    const override = overrideDir ? join(overrideDir, name) : undefined;
    const file = override && existsSync(override) ? override : join(DEFAULT_TEMPLATES, name);
    const text = await readFile(file, "utf8");
    try {
      const template = hbs.compile(text, { noEscape: true, strict: true });
      if (name === "header.hbs") hbs.registerPartial("header", text);
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
