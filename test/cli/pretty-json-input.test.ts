/**
 * JSON pretty-printed over many lines, as `jq .` prints it. One JSON value is one document (one
 * message, or an array of them), whatever some of its lines look like alone: a message refused
 * for what it holds (a name given twice) was read line by line as NDJSON when an array in it
 * held `{}` on a line of its own, dozens of errors, the `{}` and `"0.1"` taken for messages.
 * JSON values one after another, each over several lines (`jq .` of a log), are no shape onex
 * reads: one error at the second value that says so and names `jq -c`, where it said only
 * "unexpected text after the JSON value"; past 64 MiB, refused as soon as it is seen, not read
 * line by line.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readInput, type InputItem } from "../../cli/message-input.js";
import { ErrorCode } from "../trust/fixtures.js";
import { dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("pretty-json-input");
afterAll(remove);
let files = 0;

/** Writes `content` to a new file in the scratch folder; its path. */
function fileOf(content: string | Buffer): string {
  const file = join(dir, `input-${files++}.json`);
  writeFileSync(file, content);
  return file;
}

async function read(file: string): Promise<InputItem[]> {
  const items: InputItem[] = [];
  for await (const item of readInput({ file })) items.push(item);
  return items;
}

const summary = (items: InputItem[]) => items.map((item) => ("error" in item ? { line: item.line, code: item.error.code } : { line: item.line, shape: item.shape }));

/** A message whose payload holds an array with `{}` in it: pretty-printed, a line that is an object alone. */
const withEmptyObjects = (n: number) => dispatch(n, { input: { list: [{}, { a: 1 }, {}] } });
const pretty = (value: unknown) => JSON.stringify(value, null, 2) + "\n";
/** The 1-based line of the first line of `text` holding `needle`. */
const lineOf = (text: string, needle: string) => text.split("\n").findIndex((line) => line.includes(needle)) + 1;

describe("one JSON value over many lines is one document", () => {
  it("a pretty-printed message refused for a name given twice is one error at that name, not its lines read as NDJSON", async () => {
    const text = pretty(withEmptyObjects(1)).replace('"action": "render",', '"action": "render", "action": "delete",');
    const items = await read(fileOf(text));
    expect(summary(items)).toEqual([{ line: lineOf(text, '"delete"'), code: ErrorCode.JsonDuplicateKey }]);
    expect(items[0]!.raw).toBe(text.trimEnd());
    // A lone surrogate too; and a pretty array of such messages.
    const lone = pretty(withEmptyObjects(2)).replace('"action": "render"', '"action": "\\ud800"');
    expect(summary(await read(fileOf(lone)))).toEqual([{ line: lineOf(lone, "ud800"), code: ErrorCode.CanonicalJson }]);
    const array = JSON.stringify([withEmptyObjects(3), withEmptyObjects(4)], null, 2).replace('"action": "render",', '"action": "render", "action": "delete",');
    expect(summary(await read(fileOf(array)))).toEqual([{ line: lineOf(array, '"delete"'), code: ErrorCode.JsonDuplicateKey }]);
  });

  it("a pretty-printed message cut short is one error, not its `{}` lines read as messages", async () => {
    for (const text of [pretty(withEmptyObjects(1)), pretty(withEmptyObjects(1)) + pretty(withEmptyObjects(2))]) {
      const cut = text.slice(0, text.lastIndexOf('"a": 1'));
      const items = await read(fileOf(cut));
      expect(items.length).toBe(1);
      expect(items[0]).toMatchObject({ shape: "document", raw: cut, error: { code: ErrorCode.JsonSyntax } });
    }
  });

  it("validate of it reports one message, invalid, at that line; the same message without the repeated name is valid", () => {
    const text = pretty(withEmptyObjects(5));
    const valid = onex(dir, ["validate", "v0.1", fileOf(text)]);
    expect([valid.code, valid.stdout, valid.stderr]).toEqual([0, "", "1 message(s) checked against v0.1: 1 valid, 0 invalid\n"]);
    const twice = text.replace('"action": "render",', '"action": "render", "action": "delete",');
    const run = onex(dir, ["validate", "v0.1", "-"], twice);
    expect(run.code).toBe(1);
    expect(run.stdout.split("\n").filter((line) => line !== "")).toEqual([expect.stringMatching(new RegExp(`^-:${lineOf(twice, '"delete"')}: - ${ErrorCode.JsonDuplicateKey}: .*"action" appears twice`))]);
    expect(run.stderr).toContain("1 message(s) checked against v0.1: 0 valid, 1 invalid");
  });

  it("an array of one object a line is still read element by element: a name given twice costs only its element", async () => {
    const [a, b] = [JSON.stringify(dispatch(6)), JSON.stringify(dispatch(7))];
    const text = ["[", `${a},`, `${b.replace('"action":"render"', '"action":"render","action":"delete"')},`, a, "]"].join("\n") + "\n";
    expect(summary(await read(fileOf(text)))).toEqual([
      { line: 2, shape: "ndjson" },
      { line: 3, code: ErrorCode.JsonDuplicateKey },
      { line: 4, shape: "ndjson" },
    ]);
  });
});

describe("JSON values one after another, each over several lines (`jq .` of a log)", () => {
  const log = [dispatch(1), withEmptyObjects(2), dispatch(3)].map(pretty).join("");
  const second = pretty(dispatch(1)).split("\n").length;

  it("are one error at the second value's line, naming `jq -c`, keeping the text for a dead letter", async () => {
    const items = await read(fileOf(log));
    expect(summary(items)).toEqual([{ line: second, code: ErrorCode.JsonSyntax }]);
    expect((items[0] as { error: Error }).error.message).toBe(
      `not valid JSON at line ${second}: a second JSON value begins there, after the one from line 1 (3 JSON values, each over several lines: what \`jq .\` prints); onex reads one JSON value, or one a line (NDJSON): write one message a line with \`jq -c .\``,
    );
    expect(items[0]!.raw).toBe(log.trimEnd());
  });

  it("cut short, the last value never closed, are the same one error (it was the generic syntax error)", async () => {
    const cut = log.slice(0, log.lastIndexOf('"payload"'));
    const items = await read(fileOf(cut));
    expect(summary(items)).toEqual([{ line: second, code: ErrorCode.JsonSyntax }]);
    expect((items[0] as { error: Error }).error.message).toMatch(/\(2 JSON values and one cut short, each over several lines: what `jq .` prints\); .* `jq -c .`$/);
    expect(items[0]!.raw).toBe(cut);
    // What is left open must be printed as jq prints a value: an NDJSON line left open is no
    // such log, and the good lines after it are still read, each a message.
    const ndjsonAfter = `${[dispatch(1), dispatch(2)].map(pretty).join("")}{"c": [1,\n${JSON.stringify(dispatch(4))}\n${JSON.stringify(dispatch(5))}\n`;
    const lines = ndjsonAfter.split("\n").length - 1;
    expect(summary(await read(fileOf(ndjsonAfter))).slice(-2)).toEqual([
      { line: lines - 1, shape: "ndjson" },
      { line: lines, shape: "ndjson" },
    ]);
    // Nor is an array of one object a line, indented, cut off mid-write: its whole elements are read.
    for (const end of ["\n", "\r\n"]) {
      const array = ["[", `  ${JSON.stringify(dispatch(1))},`, "", `\t${JSON.stringify(dispatch(2))},`, `  ${JSON.stringify(dispatch(3)).slice(0, 40)}`].join(end);
      expect(summary(await read(fileOf(array)))).toEqual([
        { line: 2, shape: "ndjson" },
        { line: 4, shape: "ndjson" },
        { line: 5, code: ErrorCode.JsonSyntax },
      ]);
    }
  });

  it("in validate from a file and from a pipe, and in migrate's dead letter", () => {
    const file = fileOf(log);
    for (const [args, input] of [[["validate", "v0.1", file]], [["validate", "v0.1", "-"], log]] as const) {
      const run = onex(dir, [...args], input);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`:${second}: - ${ErrorCode.JsonSyntax}: not valid JSON at line ${second}: a second JSON value begins there`);
      expect(run.stdout).toContain("`jq -c .`");
      expect(run.stdout.trim().split("\n")).toHaveLength(1);
    }
    const migrated = onex(dir, ["migrate", "v0.1", "v0.2", file, "--dead-letter", join(dir, "dead.ndjson")]);
    expect(migrated.stderr).toContain("1 read, 0 written, 0 skipped, 1 dead-lettered");
  });

  it("past 64 MiB, are refused once seen, not read line by line (the `{}` lines were read as messages, one error a line)", async () => {
    const one = pretty(withEmptyObjects(8));
    const file = fileOf(one.repeat(Math.ceil((65 << 20) / one.length)));
    // At most a few items are taken: the old reader made one of every line, millions.
    const items: InputItem[] = [];
    let error: unknown;
    try {
      for await (const item of readInput({ file })) if (items.push(item) === 3) break;
    } catch (thrown) {
      error = thrown;
    }
    expect(summary(items)).toEqual([]);
    expect(error).toMatchObject({ code: ErrorCode.JsonSyntax, details: { line: one.split("\n").length } });
    expect((error as Error).message).toMatch(new RegExp(`^${file}:${one.split("\n").length}: not valid JSON .*\`jq -c \.\`$`));
  }, 120_000);
});
