/**
 * Manifest, schema and transform YAML is read as message YAML is: an integer a double cannot
 * hold exactly is refused (ONEX_E_NUMBER_RANGE), never rounded into the generated code, and a
 * tag that makes no JSON value (`!include`, `!custom`) is refused (ONEX_E_YAML_SYNTAX), never
 * dropped. Both at the file, line and column, as `onex generate` prints them.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseYamlText } from "../../generator/yaml-file.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

interface Case {
  name: string;
  code: string;
  exit: number;
  /** The file, relative to the schemas folder, and the edit that breaks it. */
  file: string;
  edit: (text: string) => string;
  /** Another edit, of another file, that keeps the copy generating but for the break. */
  also?: { file: string; edit: (text: string) => string };
  /** The text whose first character the error must point at, in the edited file. */
  at: string;
}

const cases: Case[] = [
  {
    name: "a lens default beyond 2^53",
    code: ErrorCode.NumberRange,
    exit: 3,
    file: "v0.1/from-v0.0.9.yaml",
    edit: (t) => t.replace("- add: { name: priority, default: 5 }", "- add: { name: priority, default: 12345678901234567890 }"),
    // Unbounded, so the rounded default was valid and generated.
    also: { file: "v0.1/messages/task-dispatch.yaml", edit: (t) => t.replace("    maximum: 9\n", "") },
    at: "12345678901234567890",
  },
  {
    name: "a schema enum member beyond 2^53",
    code: ErrorCode.NumberRange,
    exit: 3,
    file: "v0.1/messages/task-dispatch.yaml",
    edit: (t) => t.replace("    minimum: 0\n    maximum: 9\n", "    enum: [9007199254740993, 5]\n"),
    at: "9007199254740993",
  },
  {
    name: "a schema bound of 2^53 (2^53 + 1 would pass it as the same double)",
    code: ErrorCode.NumberRange,
    exit: 3,
    file: "v0.1/messages/task-dispatch.yaml",
    edit: (t) => t.replace("    maximum: 9\n", "    maximum: 9007199254740992\n"),
    at: "9007199254740992",
  },
  {
    name: "an integer beyond 2^53 written with an exponent",
    code: ErrorCode.NumberRange,
    exit: 3,
    file: "v0.1/messages/task-dispatch.yaml",
    edit: (t) => t.replace("    maximum: 9\n", "    maximum: 9.007199254740993e15\n"),
    at: "9.007199254740993e15",
  },
  {
    name: "an unknown tag on a manifest value",
    code: ErrorCode.YamlSyntax,
    exit: 3,
    file: "v0.1/manifest.yaml",
    edit: (t) => t.replace("declared_by: onex", "declared_by: !include other.yaml"),
    at: "!include",
  },
  {
    name: "an unknown tag on a schema mapping",
    code: ErrorCode.YamlSyntax,
    exit: 3,
    file: "v0.1/messages/task-dispatch.yaml",
    edit: (t) => t.replace("  input:\n    type: object\n", "  input: !custom\n    type: object\n"),
    at: "!custom",
  },
  {
    name: "a YAML tag of no JSON value in a transform",
    code: ErrorCode.YamlSyntax,
    exit: 3,
    file: "v0.1/from-v0.0.9.yaml",
    edit: (t) => t.replace('why: "Only ever', 'why: !!binary "Only ever'),
    at: "!!binary",
  },
];

/** The 1-based line and column of the first `needle` in `text`. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const index = text.indexOf(needle);
  if (index === -1) throw new Error(`${needle} is not in the edited file`);
  const before = text.slice(0, index).split("\n");
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

describe("onex generate refuses YAML it cannot carry exactly", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.code} at file:line:col, exit ${c.exit}`, async () => {
      const { root, schemas } = await copySchemas();
      const path = join(schemas, c.file);
      await editFile(path, c.edit);
      if (c.also) await editFile(join(schemas, c.also.file), c.also.edit);
      const { line, column } = positionOf(await readFile(path, "utf8"), c.at);
      const result = runCli(["generate", "--schemas", "schemas", "--out", "generated"], { cwd: root });
      expect(result.stderr).toContain(`error ${c.code}:`);
      expect(result.stderr).toContain(`schemas/${c.file}:${line}:${column}:`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.status).toBe(c.exit);
    });
  }
});

describe("parseYamlText keeps what it can carry exactly as it read it before", () => {
  it("reads exact numbers, anchors and JSON's own tags as before", () => {
    const text = [
      "half: 1.5",
      "thousand: 1e3",
      "largest: 9007199254740991",
      "smallest: -9007199254740991",
      "hex: 0x10",
      "big_double: 1.0e300",
      "tiny: 5e-324",
      "base: &base { type: integer, minimum: 0 }",
      "copy: *base",
      "str: !!str 5",
      "int: !!int 7",
      "float: !!float 2.5",
      "map: !!map { a: 1 }",
      "seq: !!seq [1, 2]",
      "null_value: ~",
      "",
    ].join("\n");
    expect(parseYamlText(text, "t.yaml").value).toEqual({
      half: 1.5,
      thousand: 1000,
      largest: 9007199254740991,
      smallest: -9007199254740991,
      hex: 16,
      big_double: 1e300,
      tiny: 5e-324,
      base: { type: "integer", minimum: 0 },
      copy: { type: "integer", minimum: 0 },
      str: "5",
      int: 7,
      float: 2.5,
      map: { a: 1 },
      seq: [1, 2],
      null_value: null,
    });
  });

  it("reads numbers as numbers, never as BigInt", () => {
    const value = parseYamlText("a: 1\nb: [2, 9007199254740991]\n", "t.yaml").value as { a: unknown; b: unknown[] };
    expect(typeof value.a).toBe("number");
    expect(value.b.map((n) => typeof n)).toEqual(["number", "number"]);
  });

  it("refuses a number a double cannot hold or would make 0, at its line and column", () => {
    for (const [text, at] of [
      ["a: 1\nb: -9007199254740993\n", "2:4"],
      ["a: [1, .inf]\n", "1:8"],
      ["a: .nan\n", "1:4"],
      ["a: 1e-400\n", "1:4"],
      ["a: 9007199254740993.0\n", "1:4"],
    ] as const) {
      expect(() => parseYamlText(text, "t.yaml"), text).toThrow(expect.objectContaining({ code: ErrorCode.NumberRange, message: expect.stringContaining(`t.yaml:${at}:`) }));
    }
  });
});
