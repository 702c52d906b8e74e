/**
 * YAML nesting counted from the text before the yaml package parses it (it recurses, and past a
 * few hundred levels V8 aborts the process). The count may be higher than the parser's, never
 * lower: checked against the depth of values the yaml package writes itself, in block and flow
 * style, with scalars full of the characters the count looks for.
 */
import fc from "fast-check";
import { Document, isCollection, parseAllDocuments, visit } from "yaml";
import { describe, expect, it } from "vitest";
import { MAX_YAML_DEPTH, yamlNestingBeyond } from "../../generator/yaml-depth.js";
import { parseYamlText } from "../../generator/yaml-file.js";

/** A value nested `depth` levels deep (a list or a map at each), with `leaf` at the bottom. */
function nested(depth: number, leaf: unknown, shape: (level: number) => "list" | "map"): unknown {
  let value = leaf;
  for (let level = depth; level > 0; level--) value = shape(level) === "list" ? [value] : { [`k${level}`]: value };
  return value;
}

describe("yamlNestingBeyond", () => {
  it("never counts fewer levels than the yaml package writes, block or flow, whatever the scalars hold", () => {
    const tricky = fc.string({ unit: fc.constantFrom("[", "]", "{", "}", "'", '"', "#", " ", "|", ">", "-", ":", ",", "\\", "a", "\n", "?"), maxLength: 12 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), tricky, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), fc.integer({ min: 0, max: 41 }), (depth, leaf, lists, flowFrom) => {
        // Block style down to level `flowFrom`, flow style below it (41: block all the way).
        const doc = new Document(nested(depth, leaf, (level) => (lists[level - 1] ? "list" : "map")));
        visit(doc, {
          Collection(_key, node, path) {
            if (isCollection(node) && path.filter(isCollection).length >= flowFrom) node.flow = true;
          },
        });
        const text = doc.toString();
        expect([text, yamlNestingBeyond(text, depth - 1)]).toEqual([text, expect.any(Number)]);
      }),
      { numRuns: 400 },
    );
  });

  it("never counts fewer levels than the yaml package reads from arbitrary YAML-ish text", () => {
    const token = fc.constantFrom("- ", "? ", ": ", "[", "]", "{", "}", ", ", "a", "b: ", "'", '"', "# ", "\n", "\n  ", "\n    ", " ", "|", ">", "---\n", "\\");
    const depthOf = (value: unknown): number =>
      value !== null && typeof value === "object" ? 1 + Math.max(0, ...Object.values(value as object).map(depthOf), ...(value instanceof Map ? [...value.values()].map(depthOf) : [])) : 0;
    fc.assert(
      fc.property(fc.array(token, { maxLength: 90 }).map((t) => t.join("")), (text) => {
        for (const doc of parseAllDocuments(text)) {
          if (doc.errors.length > 0) continue;
          const depth = depthOf(doc.toJS({ mapAsMap: true }));
          if (depth > 0) expect([text, yamlNestingBeyond(text, depth - 1)]).toEqual([text, expect.any(Number)]);
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it("finds deep flow, block and compact nesting at its line", () => {
    const past = MAX_YAML_DEPTH + 5;
    expect(yamlNestingBeyond("a: 1\n" + "[".repeat(past) + "]".repeat(past) + "\n")).toBe(2);
    expect(yamlNestingBeyond(Array.from({ length: past }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n"))).toBe(MAX_YAML_DEPTH + 1);
    expect(yamlNestingBeyond("- ".repeat(past) + "x\n")).toBe(1);
    expect(yamlNestingBeyond("? ".repeat(past) + "x\n")).toBe(1);
    expect(yamlNestingBeyond("- ? ".repeat(past / 2) + "x\n")).toBe(1);
    expect(yamlNestingBeyond("--- " + "{a: ".repeat(past) + "1" + "}".repeat(past))).toBe(1);
    // A stray bracket in a plain scalar opens nothing, and hides nothing after it.
    expect(yamlNestingBeyond("a: x[\n" + Array.from({ length: past }, (_, i) => `${" ".repeat(i + 1)}k${i}:`).join("\n"))).toBe(MAX_YAML_DEPTH + 1);
    // Nor does a comment that ends like a block scalar's indicator.
    expect(yamlNestingBeyond("a: # not a scalar |\n" + Array.from({ length: past }, (_, i) => `${" ".repeat(i + 1)}k${i}:`).join("\n"))).toBe(MAX_YAML_DEPTH + 1);
  });

  it("does not count what is text: quoted brackets, a block scalar's indentation, documents apart", () => {
    const many = MAX_YAML_DEPTH * 4;
    expect(yamlNestingBeyond(`a: "${"[".repeat(many)}"\nb: '${"{".repeat(many)}'\n`)).toBeUndefined();
    expect(yamlNestingBeyond("a: |\n" + Array.from({ length: many }, (_, i) => `${" ".repeat(i + 2)}text ${i} [`).join("\n") + "\nb: 1\n")).toBeUndefined();
    const half = "[".repeat(MAX_YAML_DEPTH / 2) + "]".repeat(MAX_YAML_DEPTH / 2);
    expect(yamlNestingBeyond(Array(10).fill(half).join("\n---\n"))).toBeUndefined();
    expect(yamlNestingBeyond(`{"a":"${"]".repeat(many)}", "b": ${"[".repeat(MAX_YAML_DEPTH + 1)}${"]".repeat(MAX_YAML_DEPTH + 1)}}`)).toBe(1);
  });

  it("a manifest or schema file nested too deep is ONEX_E_YAML_SYNTAX at its line, before the parser recurses into it", () => {
    const text = "type: object\nexamples:\n  - " + "[".repeat(2_000) + "]".repeat(2_000) + "\n";
    expect(() => parseYamlText(text, "schemas/v0.3/messages/deep.yaml")).toThrow(expect.objectContaining({ code: "ONEX_E_YAML_SYNTAX", details: { file: "schemas/v0.3/messages/deep.yaml", line: 3 } }));
  });
});
