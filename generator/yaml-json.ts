/**
 * YAML read as JSON, by onex's YAML message input (cli/message-input.ts) and by the generator's
 * manifests, schemas and transforms (yaml-file.ts) alike: JSON's own tags only, `!!float 5` as
 * the number 5, and a number's text as the JSON reader reads it.
 */
import type { ScalarTag } from "yaml";

/** The YAML tags of JSON's own values: any other (`!!binary`, `!!timestamp`, `!include`) would make something else, or be dropped. */
export const JSON_TAGS: ReadonlySet<string> = new Set(["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`));

/**
 * `!!float 5`: YAML 1.2's core schema reads digits alone tagged float as a float, the yaml package
 * (its float forms have a point or an exponent) as no float, and the document was refused. Only
 * for a value tagged so: untagged digits stay an integer.
 */
export const FLOAT_WRITTEN_AS_INTEGER: ScalarTag = { tag: "tag:yaml.org,2002:float", default: false, test: /^[-+]?[0-9]+$/, resolve: (text: string) => Number(text) };

/** A YAML float's text in JSON's syntax (`+.5` is `0.5`, `5.` is `5`, `007.5` is `7.5`); undefined when it has none (`.inf`, `.nan`). */
export function jsonNumberText(source: string): string | undefined {
  const match = /^([-+]?)([0-9]*)(?:\.([0-9]*))?([eE][-+]?[0-9]+)?$/.exec(source);
  if (match === null || (match[2] === "" && !match[3])) return undefined;
  const whole = match[2]!.replace(/^0+(?=[0-9])/, "") || "0";
  return `${match[1] === "-" ? "-" : ""}${whole}${match[3] ? `.${match[3]}` : ""}${match[4] ?? ""}`;
}
