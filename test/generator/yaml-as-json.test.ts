/**
 * Manifest, schema and transform YAML goes through the walk YAML message input goes through
 * (generator/yaml-json.ts), so a schema cannot mean what the same data as JSON would not: two
 * keys of one mapping that become one JSON name (`1` and `"1"`, `true` and `"true"`, `~` and
 * `""`) were merged silently, the last kept; a lone surrogate failed later, in content hashing,
 * as an error naming no file; a merge of a scalar was a raw Error. Each is now refused at
 * file:line:col.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readInput, type InputItem } from "../../cli/message-input.js";
import { parseYamlText } from "../../generator/yaml-file.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs, tempDir } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

/** What parseYamlText throws for `text`: its code and location, or "read". */
function refusal(text: string): string | { code: string; at: string } {
  try {
    parseYamlText(text, "t.yaml");
    return "read";
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    return { code: error.code, at: `${error.details.line}:${error.details.column}` };
  }
}

describe("schema YAML that is not JSON is refused at file:line:col", () => {
  it("two keys of one mapping that become one JSON name: ONEX_E_YAML_SYNTAX at the second (the last was kept)", () => {
    for (const [text, at] of [
      ["a:\n  1: x\n  '1': y\n", "3:3"],
      ["true: x\n'true': y\n", "2:1"],
      ["~: x\n'': y\n", "2:1"],
      ["a: 1\n1.0: 2\n'1': 3\n", "3:1"],
      ["0x10: a\n'16': b\n", "2:1"],
    ] as const) {
      expect(refusal(text), text).toEqual({ code: ErrorCode.YamlSyntax, at });
    }
    // Keys that stay distinct as JSON names are read.
    expect(parseYamlText("null: x\n'null': y\n1.5: z\n", "t.yaml").value).toEqual({ "": "x", null: "y", "1.5": "z" });
  });

  it("a lone surrogate escaped in a value or a key: ONEX_E_CANONICAL_JSON at it, as every JSON reader of onex refuses it; a pair is a character", () => {
    expect(refusal('description: "a \\ud800 b"\n')).toEqual({ code: ErrorCode.CanonicalJson, at: "1:14" });
    expect(refusal('properties:\n  "x\\udc00": {}\n')).toEqual({ code: ErrorCode.CanonicalJson, at: "2:3" });
    expect(parseYamlText('a: "\\ud83d\\ude00"\n', "t.yaml").value).toEqual({ a: "\u{1f600}" });
  });

  it("a key that is a collection, two merge keys, a merge of no mapping: ONEX_E_YAML_SYNTAX at the key (a merge of a scalar threw a raw Error)", () => {
    expect(refusal("a: 1\n? [1]\n: 3\n")).toEqual({ code: ErrorCode.YamlSyntax, at: "2:3" });
    expect(refusal("%YAML 1.1\n---\nm: &m {a: 1}\nx: {<<: *m, <<: {c: 1}}\n")).toEqual({ code: ErrorCode.YamlSyntax, at: "4:13" });
    expect(refusal("%YAML 1.1\n---\nm: 1\n<<: 5\n")).toEqual({ code: ErrorCode.YamlSyntax, at: "4:1" });
    expect(refusal("%YAML 1.1\n---\ns: &s 5\nx: {<<: *s}\n")).toEqual({ code: ErrorCode.YamlSyntax, at: "4:5" });
    expect(parseYamlText("%YAML 1.1\n---\nm: &m {a: 1}\nx: {<<: [*m, {b: 2}], c: 3}\n", "t.yaml").value).toEqual({ m: { a: 1 }, x: { a: 1, b: 2, c: 3 } });
    // A merged ~ key is the name "" as it is unmerged (it was "null"), and a key of the mapping
    // overrides it; an alias of a ~ key is still null.
    expect(parseYamlText("%YAML 1.1\n---\nm: &m {~: 1, 2: 2}\nx: {<<: *m}\nz: {<<: *m, '': 5}\n", "t.yaml").value).toEqual({ m: { "": 1, 2: 2 }, x: { "": 1, 2: 2 }, z: { "": 5, 2: 2 } });
    expect(parseYamlText("a: {&k ~: 1}\nb: [*k, *k]\n", "t.yaml").value).toEqual({ a: { "": 1 }, b: [null, null] });
  });

  it("an alias inside what it names (a value nesting itself): ONEX_E_YAML_SYNTAX at the alias, where the generator's checks recursed until the stack ran out (ONEX_E_INTERNAL); aliases of what came before are read", () => {
    expect(refusal("a: &a [*a]\n")).toEqual({ code: ErrorCode.YamlSyntax, at: "1:8" });
    expect(refusal("enum: &e\n  - x\n  - *e\n")).toEqual({ code: ErrorCode.YamlSyntax, at: "3:5" });
    expect(parseYamlText("a: &a [1, 2]\nb: *a\n", "t.yaml").value).toEqual({ a: [1, 2], b: [1, 2] });
  });

  it("aliases standing for more values than onex holds, or nesting past its depth: refused with advice for a schema, not for messages", () => {
    const message = (text: string) => {
      try {
        parseYamlText(text, "t.yaml");
      } catch (error) {
        return (error as OnexError).message;
      }
      return "read";
    };
    // Ten anchors, each a list of ten aliases of the one before: 10^10 values.
    const laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(", ")}]`)].join("\n");
    expect(message(laughs)).toMatch(/stand for more than 1,000,000 values, more than onex holds in memory for one; write the values out$/);
    // Each anchor nests the one before 100 levels deeper: past the 1,000 levels onex reads.
    const deep = Array.from({ length: 12 }, (_, i) => `a${i}: &a${i} ${"[".repeat(100)}${i === 0 ? "1" : `*a${i - 1}`}${"]".repeat(100)}`).join("\n");
    expect(message(deep)).toMatch(/levels a schema may nest; write the schema less deeply nested$/);
  });

  it("onex generate: a schema with two keys of one JSON name is ONEX_E_YAML_SYNTAX, one with a lone surrogate ONEX_E_CANONICAL_JSON naming the file, each exit 3 with --check too (1 is a stale file's)", async () => {
    const file = "v0.1/messages/task-dispatch.yaml";
    for (const { edit, needle, code } of [
      { edit: (t: string) => t.replace("  task_id:\n    type: string\n", "  task_id:\n    type: string\n    true: 1\n    'true': 2\n"), needle: "'true'", code: ErrorCode.YamlSyntax },
      { edit: (t: string) => t.replace("description: Dispatch a task to a node or agent.", 'description: "Dispatch \\ud800 a task"'), needle: '"Dispatch', code: ErrorCode.CanonicalJson },
    ]) {
      const { root, schemas } = await copySchemas();
      await editFile(join(schemas, file), edit);
      const lines = (await readFile(join(schemas, file), "utf8")).split("\n");
      const line = lines.findIndex((l) => l.includes(needle));
      const result = runCli(["generate", "--schemas", "schemas", "--out", "generated"], { cwd: root });
      expect(result.stderr).toContain(`error ${code}: schemas/${file}:${line + 1}:${lines[line]!.indexOf(needle) + 1}:`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.status).toBe(3);
      expect(runCli(["generate", "--schemas", "schemas", "--out", "generated", "--check"], { cwd: root }).status).toBe(3);
    }
  });
});

describe("one walk: YAML message input and the generator refuse the same YAML alike", () => {
  it("with the same code (a key repeated is ONEX_E_YAML_SYNTAX in a schema) at the same line", async () => {
    const dir = await tempDir();
    const texts = [
      "a: { 1: x, '1': y }\n",
      "b: 1\ntrue: x\n'true': y\n",
      "~: x\n'': y\n",
      "a: 1\na: 2\n",
      "b: 1\n? [a, b]\n: x\n",
      "a: !!binary aGVsbG8=\n",
      "a: !custom bar\n",
      "a: !!int 1.5\n",
      "a: .inf\n",
      "a: 1e-400\n",
      "a:\n  - 9007199254740993\n",
      'a: "\\ud800"\n',
      '"x\\udc00": 1\n',
      "%YAML 1.1\n---\nbuilt: 2025-06-01\n",
      "%YAML 1.1\n---\nm: &m {action: render}\nx: {<<: *m, <<: {target: w}}\n",
      "%YAML 1.1\n---\ns: &s 5\nx: {<<: *s}\n",
      "a: [1,\n",
    ];
    for (const [n, text] of texts.entries()) {
      const file = join(dir, `${n}.yaml`);
      await writeFile(file, text);
      const items: InputItem[] = [];
      for await (const item of readInput({ file })) items.push(item);
      const message = items.map((item) => ("error" in item ? { code: item.error.code, line: item.line } : "read"));
      const schema = refusal(text);
      const asSchema = typeof schema === "string" ? schema : { code: schema.code, line: Number(schema.at.split(":")[0]) };
      const expected = message.map((m) => (typeof m === "string" || m.code !== ErrorCode.JsonDuplicateKey ? m : { ...m, code: ErrorCode.YamlSyntax }));
      expect([text, asSchema], text).toEqual([text, expected[0]]);
      expect(expected[0], text).not.toBe("read");
    }
  });
});
