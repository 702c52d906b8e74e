/**
 * Several lines none of which is JSON are NDJSON: each its own bad message, at its own line, its
 * own text kept. They were held as one JSON document over many lines and reported once, at line 1,
 * with the text of them all ("1 read, 1 dead-lettered" for three lines; a message line behind a
 * broken one never reported). A document over many lines is only text that begins like one.
 * And a blank line is JSON whitespace only: a line of \f, \v, U+00A0 or U+2028 was skipped as
 * blank (trim()'s white space) though the same character before a message is ONEX_E_JSON_SYNTAX.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readInput, readNdjsonBytes, type InputItem } from "../../cli/message-input.js";
import { ErrorCode } from "../trust/fixtures.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";
import { dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("ndjson-broken-lines");
afterAll(remove);
let files = 0;

/** Reads `content` through the reader from a file. */
async function read(content: string | Buffer): Promise<InputItem[]> {
  const file = join(dir, `input-${files++}.json`);
  writeFileSync(file, content);
  const items: InputItem[] = [];
  for await (const item of readInput({ file })) items.push(item);
  return items;
}

/** Each item as its line, and its code and kept text when it is an error, or its shape when it is a message. */
const summary = (items: InputItem[]) => items.map((item) => ("error" in item ? { line: item.line, code: item.error.code, raw: item.raw } : { line: item.line, shape: item.shape }));

/** The third line of the v0.1 example log: a valid v0.1 message (the user's report used it). */
const exampleLine = readFileSync(join(PROJECT_ROOT, "docs", "examples", "v0.1.ndjson"), "utf8").split("\n")[2]!;
const [a, b] = [JSON.stringify(dispatch(1)), JSON.stringify(dispatch(2))];

/** The dead letters of a file, parsed. */
const letters = (name: string) =>
  readFileSync(join(dir, name), "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe("lines none of which is JSON are NDJSON, each its own bad message", () => {
  it("migrate --dead-letter of three such lines: 3 read, 3 dead letters, each at its line with its own text (was 1 at line 1 with all three)", () => {
    writeFileSync(join(dir, "b.ndjson"), "x\ny\nz\n");
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "b.ndjson", "--dead-letter", "dl.ndjson"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("3 read, 0 written, 0 skipped, 3 dead-lettered");
    expect(run.stderr.split("\n").filter((line) => line.includes(ErrorCode.JsonSyntax)).map((line) => line.split(":")[1])).toEqual(["1", "2", "3"]);
    expect(letters("dl.ndjson").map(({ line, code, raw }) => ({ line, code, raw }))).toEqual([
      { line: 1, code: ErrorCode.JsonSyntax, raw: "x" },
      { line: 2, code: ErrorCode.JsonSyntax, raw: "y" },
      { line: 3, code: ErrorCode.JsonSyntax, raw: "z" },
    ]);
  });

  it("the same through a pipe, and in the reader: CRLF lines too", async () => {
    const piped = onex(dir, ["migrate", "v0.1", "v0.2", "-", "--dead-letter", "piped.ndjson"], "x\ny\nz\n");
    expect(piped.code).toBe(0);
    expect(piped.stderr).toContain("3 read, 0 written, 0 skipped, 3 dead-lettered");
    expect(letters("piped.ndjson").map((letter) => [letter.line, letter.raw])).toEqual([[1, "x"], [2, "y"], [3, "z"]]);
    const expected = ["x", "y", "z"].map((raw, i) => ({ line: i + 1, code: ErrorCode.JsonSyntax, raw }));
    expect(summary(await read("x\ny\nz\n"))).toEqual(expected);
    expect(summary(await read("x\r\ny\r\nz"))).toEqual(expected);
    // Log lines that open with a bracket are no JSON either: `[INFO]` cannot begin an array.
    expect(summary(await read("[INFO] started\n[INFO] stopped\n")).map((item) => item.line)).toEqual([1, 2]);
  });

  it("validate: a message line behind a broken one is reported at its own line (\\f before it), not swallowed into line 1", () => {
    writeFileSync(join(dir, "c.ndjson"), `x\n\f${exampleLine}\n`);
    const run = onex(dir, ["validate", "v0.1", "c.ndjson"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("2 message(s) checked");
    expect(run.stdout.split("\n").filter((line) => line !== "")).toEqual([
      `c.ndjson:1: - ${ErrorCode.JsonSyntax}: not valid JSON at line 1 column 1: unexpected character "x"`,
      `c.ndjson:2: - ${ErrorCode.JsonSyntax}: not valid JSON at line 2 column 1: unexpected character U+000c`,
    ]);
  });

  it("broken lines before messages are each reported, and every message is read at its line", async () => {
    expect(summary(await read(`x\n"open\n{not json\n${a}\ny\n${b}\n`))).toEqual([
      { line: 1, code: ErrorCode.JsonSyntax, raw: "x" },
      { line: 2, code: ErrorCode.JsonSyntax, raw: '"open' },
      { line: 3, code: ErrorCode.JsonSyntax, raw: "{not json" },
      { line: 4, shape: "ndjson" },
      { line: 5, code: ErrorCode.JsonSyntax, raw: "y" },
      { line: 6, shape: "ndjson" },
    ]);
  });

  it("a broken line before a JSON document over many lines costs only itself: the document is read from its own first line", async () => {
    const message = dispatch(1);
    const items = await read(`x\n\n${JSON.stringify(message, null, 2)}\n`);
    expect(summary(items)).toEqual([{ line: 1, code: ErrorCode.JsonSyntax, raw: "x" }, { line: 3, shape: "document" }]);
    expect((items[1] as { value: unknown }).value).toEqual(message);
  });
});

describe("a JSON document over many lines is still one", () => {
  it("a pretty-printed valid document is one message, in the reader and in validate and migrate", async () => {
    const message = JSON.parse(exampleLine) as unknown;
    const pretty = JSON.stringify(message, null, 2) + "\n";
    const items = await read(pretty);
    expect(summary(items)).toEqual([{ line: 1, shape: "document" }]);
    expect((items[0] as { value: unknown }).value).toEqual(message);
    // Its first member on the line of its "{", as some writers put it: no value alone, but the beginning of one.
    const hugged = pretty.replace("{\n  ", "{ ");
    expect(summary(await read(hugged))).toEqual([{ line: 1, shape: "document" }]);
    writeFileSync(join(dir, "pretty.json"), pretty);
    const validated = onex(dir, ["validate", "v0.1", "pretty.json"]);
    expect([validated.code, validated.stdout]).toEqual([0, ""]);
    expect(validated.stderr + validated.stdout).not.toContain(ErrorCode.JsonSyntax);
    const migrated = onex(dir, ["migrate", "v0.1", "v0.2", "pretty.json", "--dead-letter", "pretty-dead.ndjson"]);
    expect(migrated.code).toBe(0);
    expect(migrated.stderr).toContain("1 read, 1 written, 0 skipped, 0 dead-lettered");
  });

  it("a pretty-printed array is its elements at their lines; one with a syntax error inside is one error at that line, keeping its whole text", async () => {
    const pretty = JSON.stringify([dispatch(1), dispatch(2)], null, 2);
    expect(summary(await read(pretty)).map((item) => item.shape)).toEqual(["array", "array"]);
    const broken = JSON.stringify(dispatch(1), null, 2).replace('"action": "render"', '"action": render');
    const items = await read(broken);
    expect(summary(items)).toEqual([{ line: broken.split("\n").findIndex((line) => line.includes("render")) + 1, code: ErrorCode.JsonSyntax, raw: broken }]);
    // A first line that begins a value over many lines (`{"a": 1,`) makes the text one document, broken after it.
    expect(summary(await read('{"a": 1,\nx\ny\n'))).toEqual([{ line: 2, code: ErrorCode.JsonSyntax, raw: '{"a": 1,\nx\ny' }]);
    // So does one that opens an object with a mistake on that line (an unquoted name, NaN, a raw tab
    // in a string): one error, with the whole document's text, for its dead letter to be mended.
    for (const text of ['{ type: "task",\n  "id": "x",\n  "v": 1\n}', '{"a": NaN,\n "b": 1}', '{"s": "a\tb",\n "b": 3\n}']) {
      expect(summary(await read(`${text}\n`))).toEqual([{ line: 1, code: ErrorCode.JsonSyntax, raw: text }]);
    }
  });
});

describe("a blank line is JSON whitespace only", () => {
  const others: [string, string][] = [
    ["\\f", "\f"],
    ["\\v", "\v"],
    ["U+00A0", "\u00a0"],
    ["U+2028", "\u2028"],
  ];

  it("a line of \\f, \\v, U+00A0 or U+2028 alone is ONEX_E_JSON_SYNTAX at its line, as before a message; spaces, tabs and CRs are blank", async () => {
    for (const [name, c] of others) {
      // Among messages (NDJSON already decided), as the first line, and before a message.
      expect(summary(await read(`${a}\n${c}\n${b}\n`)), name).toEqual([{ line: 1, shape: "ndjson" }, { line: 2, code: ErrorCode.JsonSyntax, raw: c }, { line: 3, shape: "ndjson" }]);
      expect(summary(await read(`${c}\n${a}\n`)), name).toEqual([{ line: 1, code: ErrorCode.JsonSyntax, raw: c }, { line: 2, shape: "ndjson" }]);
      expect(summary(await read(`${a}\n${c}${b}\n`)), name).toEqual([{ line: 1, shape: "ndjson" }, { line: 2, code: ErrorCode.JsonSyntax, raw: c + b }]);
      // On migrate's workers, NDJSON lines after the first are read by readNdjsonBytes.
      expect(summary([...readNdjsonBytes(Buffer.from(`${a}\n${c}\n${b}\n`), 2, "log.ndjson", "refuse")]), name).toEqual([{ line: 2, shape: "ndjson" }, { line: 3, code: ErrorCode.JsonSyntax, raw: c }, { line: 4, shape: "ndjson" }]);
    }
    expect(summary(await read(`\n \t\n\r\n${a}\n \n\t\r\n${b}\n\n`))).toEqual([{ line: 4, shape: "ndjson" }, { line: 7, shape: "ndjson" }]);
    expect(summary([...readNdjsonBytes(Buffer.from(`${a}\n \t\r\n\n${b}\n`), 5, "log.ndjson", "refuse")])).toEqual([{ line: 5, shape: "ndjson" }, { line: 8, shape: "ndjson" }]);
  });

  it("validate counts the line: a log of a message and a \\f line is 2 checked, 1 invalid", () => {
    writeFileSync(join(dir, "ff.ndjson"), `${exampleLine}\n\f\n`);
    const run = onex(dir, ["validate", "v0.1", "ff.ndjson"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("2 message(s) checked against v0.1: 1 valid, 1 invalid");
    expect(run.stdout).toContain(`ff.ndjson:2: - ${ErrorCode.JsonSyntax}`);
  });

  it("blank lines after a lone broken line are no messages of their own", async () => {
    expect(summary(await read("[1,\n\n \n"))).toEqual([{ line: 1, code: ErrorCode.JsonSyntax, raw: "[1," }]);
  });
});
