/** Findings 8-12: one input reader for every command, linear, losing nothing. */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Alias, parseDocument } from "yaml";
import { readInput, type InputItem, type ReadInputOptions } from "../../cli/message-input.js";
import { ErrorCode } from "../trust/fixtures.js";
import type { OnexError } from "../../runtime/errors.js";
import { MAX_YAML_ALIAS_VALUES } from "../../generator/yaml-aliases.js";
import { BIN, dispatch, onex, scratch } from "./cli-harness.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const { dir, remove } = scratch("reader");
afterAll(remove);
let files = 0;

/** Reads `content` through the reader from a file (or, given chunks, from a stream fed chunk by chunk). */
async function read(content: string | Buffer, options: Partial<ReadInputOptions> = {}): Promise<InputItem[]> {
  const file = join(dir, `input-${files++}${options.format === "yaml" ? ".yaml" : ".json"}`);
  writeFileSync(file, content);
  const items: InputItem[] = [];
  for await (const item of readInput({ file, ...options })) items.push(item);
  return items;
}

const summary = (items: InputItem[]) => items.map((item) => ("error" in item ? { line: item.line, code: item.error.code } : { line: item.line, index: item.index }));
const lines = (values: unknown[]) => values.map((v) => JSON.stringify(v)).join("\n") + "\n";
const six = [1, 2, 3, 4, 5, 6].map((n) => dispatch(n));

describe("the input reader", () => {
  it("a malformed first NDJSON line is that line's problem: the 6 valid messages after it are read", async () => {
    const items = await read("{not json\n" + lines(six));
    expect(summary(items)).toEqual([{ line: 1, code: ErrorCode.JsonSyntax }, ...six.map((_, i) => ({ line: i + 2, index: undefined }))]);
    expect(items[0]).toMatchObject({ raw: "{not json" });
  });

  it("behind a malformed first line, a value with a trailing comma is a broken line, not that value (a fuzz counterexample)", async () => {
    expect(summary(await read(`:\n0,\n${JSON.stringify(six[0])}\n`))).toEqual([{ line: 1, code: ErrorCode.JsonSyntax }, { line: 2, code: ErrorCode.JsonSyntax }, { line: 3, index: undefined }]);
  });

  it("a huge field is shown cut in a report line, once, not echoed whole", () => {
    const run = onex(dir, ["validate", "v0.1", "-"], JSON.stringify({ ...six[0], type: "x".repeat(100_000) }) + "\n");
    expect(run.code).toBe(1);
    expect(run.stdout.length + run.stderr.length).toBeLessThan(10_000);
    expect(run.stdout).toContain("…(98000 characters not shown)…");
  });

  it("a line longer than any message is skipped unread, from a file or a pipe, and only it is refused", async () => {
    // 100 MiB: past the 64 MiB limit and the read buffer that finds it (which grows by doubling).
    const file = join(dir, "long-line.ndjson");
    writeFileSync(file, Buffer.concat([Buffer.from(lines(six.slice(0, 1))), Buffer.alloc(100 << 20, 0x61), Buffer.from("\n" + lines(six.slice(1, 2)))]));
    const expected = [{ line: 1, index: undefined }, { line: 2, code: ErrorCode.LineTooLong }, { line: 3, index: undefined }];
    const fromFile: InputItem[] = [];
    for await (const item of readInput({ file })) fromFile.push(item);
    expect(summary(fromFile)).toEqual(expected);
    expect((fromFile[1] as { error: OnexError }).error.details).toMatchObject({ line: 2, bytes: 100 << 20 });
    const piped = spawnSync("sh", ["-c", `cat "$0" | "$1" "$2" validate v0.1 -`, file, process.execPath, BIN], { encoding: "utf8" });
    expect([piped.status, piped.stdout]).toEqual([1, `-:2: - ${ErrorCode.LineTooLong}: line 2 is ${100 << 20} bytes, longer than any message can be (${64 << 20} bytes); it was skipped unread\n`]);
    // migrate on its workers: the two messages are written, the long line dead-lettered with its line and size only.
    const migrated = spawnSync(process.execPath, [BIN, "migrate", "v0.1", "v0.2", file, "--workers", "2", "--dead-letter", join(dir, "long-dead.ndjson")], { encoding: "utf8", maxBuffer: 1 << 20 });
    expect(migrated.status).toBe(0);
    expect(migrated.stdout.trim().split("\n")).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(dir, "long-dead.ndjson"), "utf8"))).toMatchObject({ line: 2, code: ErrorCode.LineTooLong, raw: null });
  }, 60_000);

  it("from a file, a line one byte over the limit is too long and one at the limit is read, as through a pipe", async () => {
    const limit = 64 << 20;
    const file = join(dir, "at-the-limit.ndjson");
    writeFileSync(file, Buffer.concat([Buffer.alloc(limit + 1, 0x61), Buffer.from("\n"), Buffer.alloc(limit, 0x61), Buffer.from("\n" + lines(six.slice(0, 1)))]));
    const items: InputItem[] = [];
    for await (const item of readInput({ file })) items.push(item);
    expect(summary(items)).toEqual([{ line: 1, code: ErrorCode.LineTooLong }, { line: 2, code: ErrorCode.JsonSyntax }, { line: 3, index: undefined }]);
  }, 60_000);

  it("a truncated first line is refused alone too", async () => {
    const items = await read(JSON.stringify(six[0]).slice(0, 40) + "\n" + lines(six.slice(1)));
    expect(summary(items).map((s) => s.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect("error" in items[0]!).toBe(true);
  });

  it("a UTF-8 BOM is stripped, in NDJSON, documents and YAML", async () => {
    expect(summary(await read("\ufeff" + lines(six.slice(0, 2))))).toEqual([{ line: 1 }, { line: 2 }].map((s) => ({ ...s, index: undefined })));
    expect(summary(await read("\ufeff" + JSON.stringify(six[0], null, 2)))).toEqual([{ line: 1, index: undefined }]);
    expect(summary(await read("\ufefftype: x\n", { format: "yaml" }))).toEqual([{ line: 1, index: undefined }]);
    // NDJSON files joined with cat: each carries its BOM to the start of a line.
    const joined = await read(six.slice(0, 3).map((m) => "\ufeff" + JSON.stringify(m) + "\n").join(""));
    expect(joined.map((item) => ("value" in item ? item.value : item.error.code))).toEqual(six.slice(0, 3));
  });

  it("a JSON array on one line yields its elements with index and line (what JSON.stringify and jq -c write)", async () => {
    const items = await read(JSON.stringify(six.slice(0, 3)));
    expect(summary(items)).toEqual([0, 1, 2].map((index) => ({ line: 1, index })));
    expect(items.map((i) => i.shape)).toEqual(["array", "array", "array"]);
  });

  it("elements of a pretty-printed array are located at their own lines", async () => {
    const items = await read(JSON.stringify(six.slice(0, 3), null, 2));
    const perElement = JSON.stringify(six[0], null, 2).split("\n").length + 2;
    expect(summary(items)).toEqual([0, 1, 2].map((index) => ({ line: 2 + index * (perElement - 2), index })));
  });

  it("an array with one object per line and a broken element costs only that element", async () => {
    const text = ["[", JSON.stringify(six[0]) + ",", '{"broken": ,', JSON.stringify(six[1]) + ",", JSON.stringify(six[2]), "]"].join("\n");
    expect(summary(await read(text))).toEqual([{ line: 2, index: undefined }, { line: 3, code: ErrorCode.JsonSyntax }, { line: 4, index: undefined }, { line: 5, index: undefined }]);
  });

  it("an array with one object per line whose brackets or commas are wrong reads its elements and reports the fault at its line", async () => {
    const [a, b] = [JSON.stringify(six[0]), JSON.stringify(six[1])];
    const cases: [string, string[], number][] = [
      ["cut short after an element", ["[", `${a},`, b], 3],
      ["a comma missing", ["[", a, b, "]"], 3],
      ["a comma after the last element", ["[", `${a},`, `${b},`, "]"], 4],
      ["a bracket too many", ["[", `${a},`, b, "]", "]"], 5],
      ["NDJSON lines ending in commas", [`${a},`, `${b},`], 1],
    ];
    for (const [what, text, line] of cases) {
      const items = summary(await read(text.join("\n") + "\n"));
      expect(items, what).toContainEqual({ line, code: ErrorCode.JsonSyntax });
      expect(items.filter((item) => !("code" in item)), what).toHaveLength(2);
      expect(items.map((item) => item.line), what).toEqual([...items.map((item) => item.line)].sort((x, y) => x - y));
    }
  });

  it("a pretty document with an error is one error at the line of the error", async () => {
    const text = JSON.stringify(six[0], null, 2).replace('"action": "render"', '"action": render');
    const items = await read(text);
    expect(items).toHaveLength(1);
    expect(summary(items)[0]).toEqual({ line: text.split("\n").findIndex((l) => l.includes("render")) + 1, code: ErrorCode.JsonSyntax });
  });

  it("invalid UTF-8 is refused with its line, never replaced by U+FFFD; the other lines are read", async () => {
    const bytes = Buffer.concat([Buffer.from(JSON.stringify(six[0]) + "\n"), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d, 0x0a]), Buffer.from(JSON.stringify(six[1]) + "\n")]);
    const items = await read(bytes);
    expect(summary(items)).toEqual([{ line: 1, index: undefined }, { line: 2, code: ErrorCode.JsonSyntax }, { line: 3, index: undefined }]);
    expect((items[1] as { rawBytes?: Buffer }).rawBytes).toEqual(bytes.subarray(JSON.stringify(six[0]).length + 1, bytes.length - JSON.stringify(six[1]).length - 2));
    const broken = await read(Buffer.concat([Buffer.from("[\n"), Buffer.from([0x22, 0xff, 0x22]), Buffer.from("\n]")]));
    expect(summary(broken)).toEqual([{ line: 2, code: ErrorCode.JsonSyntax }]);
    // YAML is read whole: the error names the line the bad bytes are on.
    const yaml = await read(Buffer.concat([Buffer.from("- type: a\n  id: b\n- note: "), Buffer.from([0xc3, 0x28]), Buffer.from("\n")]), { format: "yaml" });
    expect(summary(yaml)).toEqual([{ line: 3, code: ErrorCode.JsonSyntax }]);
  });

  it("integers beyond 2^53 are refused with a code by default and carried exactly with bigIntegers: bigint", async () => {
    const text = JSON.stringify(six[0]).replace('"n":1', '"n":9007199254740993');
    expect(summary(await read(text))).toEqual([{ line: 1, code: ErrorCode.NumberRange }]);
    const [item] = await read(text, { bigIntegers: "bigint" });
    expect(((item as { value: { payload: { input: { n: unknown } } } }).value.payload.input.n)).toBe(9007199254740993n);
    expect(summary(await read("n: 9007199254740993\n", { format: "yaml" }))).toEqual([{ line: 1, code: ErrorCode.NumberRange }]);
  });

  it("an empty YAML document (after a trailing `---`, or only a comment) is no message; an explicit null is one", async () => {
    // A trailing `---` gave a null message, which validate called an unknown type and sign refused.
    expect(summary(await read("a: 1\n---\n", { format: "yaml" }))).toEqual([{ line: 1, index: undefined }]);
    expect(summary(await read("a: 1\n---\n# nothing here\n---\nb: 2\n", { format: "yaml" }))).toEqual([{ line: 1, index: undefined }, { line: 4, index: undefined }]);
    const explicit = await read("a: 1\n--- null\n--- ~\n", { format: "yaml" });
    expect(explicit.map((item) => ("value" in item ? item.value : "error"))).toEqual([{ a: 1 }, null, null]);
  });

  it("duplicate member names are refused per line in JSON and per document in YAML", async () => {
    expect(summary(await read('{"a":1,"a":2}\n{"a":1}\n'))).toEqual([{ line: 1, code: ErrorCode.JsonDuplicateKey }, { line: 2, index: undefined }]);
    expect(summary(await read("a: 1\na: 2\n", { format: "yaml" }))[0]).toMatchObject({ code: ErrorCode.JsonDuplicateKey });
  });

  it("YAML gives what the same message in JSON would: JSON names and values only, numbers read as JSON reads them", async () => {
    const yaml = (text: string, options: Partial<ReadInputOptions> = {}) => read(`ok: 1\n---\n${text}---\nok: 2\n`, { format: "yaml", ...options });
    const refusals: [string, string][] = [
      ["a: { 1: x, '1': y }\n", ErrorCode.JsonDuplicateKey],
      ["true: x\n'true': y\n", ErrorCode.JsonDuplicateKey],
      ["~: x\n'': y\n", ErrorCode.JsonDuplicateKey],
      ["? [a, b]\n: x\n", ErrorCode.YamlSyntax],
      ["a: !!binary aGVsbG8=\n", ErrorCode.YamlSyntax],
      ["a: !!timestamp 2001-12-14\n", ErrorCode.YamlSyntax],
      ["a: !custom bar\n", ErrorCode.YamlSyntax],
      ["a: .inf\n", ErrorCode.NumberRange],
      ["a: .nan\n", ErrorCode.NumberRange],
      ["a: 1e-400\n", ErrorCode.NumberRange],
      ["a: 9007199254740993.0\n", ErrorCode.NumberRange],
      ["a: +.1e-400\n", ErrorCode.NumberRange],
      // The JSON reader refuses a lone surrogate's escape; YAML's went through, and migrate wrote it.
      ['a: "\\ud800"\n', ErrorCode.CanonicalJson],
      ['"x\\udc00": 1\n', ErrorCode.CanonicalJson],
      // A JSON tag the value does not fit left the value a string ("1.5"), without a word.
      ["a: !!int 1.5\n", ErrorCode.YamlSyntax],
      ["a: !!bool maybe\n", ErrorCode.YamlSyntax],
      ["a: [1,\n", ErrorCode.YamlSyntax],
    ];
    for (const [text, code] of refusals) {
      // The document is refused (at the line of what is refused); the documents around it are read.
      const items = await yaml(text);
      expect([text, items.map((item) => ("error" in item ? item.error.code : "read"))]).toEqual([text, ["read", code, "read"]]);
      expect(items[1]!.line).toBeGreaterThanOrEqual(3);
      // The refused document's text, for its dead letter: before, a YAML letter kept `raw: null`.
      expect(items[1]!.raw).toBe(`---\n${text}`);
    }
    // YAML 1.1 makes a Date of a plain date, with no tag.
    expect(summary(await read("%YAML 1.1\n---\nbuilt: 2025-06-01\n", { format: "yaml" }))).toEqual([{ line: 3, code: ErrorCode.YamlSyntax }]);
    const [, exact] = await yaml('a: 9.007199254740993e15\nb: !!str 5\nc: 1.5\nd: +.5\ne: 5.\nf: "\\ud83d\\ude00"\ng: !!int 7\nh: !!float 5\ni: !!float -12\n', { bigIntegers: "bigint" });
    expect((exact as { value: unknown }).value).toEqual({ a: 9007199254740993n, b: "5", c: 1.5, d: 0.5, e: 5, f: "\u{1f600}", g: 7, h: 5, i: -12 });
  });

  it("migrate's dead letter for a refused YAML document keeps the document's text", () => {
    const refused = "---\ntype: !!int 1.5\n";
    writeFileSync(join(dir, "one-refused.yaml"), `${JSON.stringify(six[0])}\n${refused}`);
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "one-refused.yaml", "--out", "one-refused.out.yaml", "--dead-letter", "one-refused.dead.ndjson"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "one-refused.dead.ndjson"), "utf8"))).toMatchObject({ line: 3, code: ErrorCode.YamlSyntax, raw: refused });
  });

  it("NDJSON read as YAML is one clear error at its second line, not a parser running out of memory", async () => {
    const items = await read(lines(Array.from({ length: 20_000 }, (_, n) => dispatch(n))), { format: "yaml" });
    expect(summary(items)).toEqual([{ line: 2, code: ErrorCode.YamlSyntax }]);
    expect((items[0] as { error: Error }).error.message).toContain("--format json");
    // JSON spread over lines is YAML, and is read: an array with one object a line, an object with one at the first column.
    const spread = `[\n${lines(six.slice(0, 2)).trim().split("\n").join(",\n")}\n]\n`;
    expect(summary(await read(spread, { format: "yaml" }))).toEqual([{ line: 2, index: 0 }, { line: 3, index: 1 }]);
  });

  it("YAML nested deeper than its reader follows is a YAML error at its line, not an abort (documents of 1,000 and 1,500 levels ended the process)", async () => {
    const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels);
    const items = await read(`${deep(10)}\n---\n${deep(1_000)}\n---\n${deep(1_500)}\n`, { format: "yaml" });
    expect(summary(items)).toEqual([{ line: 3, code: ErrorCode.YamlSyntax }]);
    expect((items[0] as { error: Error }).error.message).toContain("nested deeper than 256 levels");
  });

  it("a YAML document's aliases are resolved by the reader, never by a walk of the yaml package's, and may stand for at most a bounded number of values", async () => {
    // The yaml package resolves an alias by a walk over the anchors before it (1,000 aliases after
    // a million anchors took 78 s), and one inside an aliased collection by a walk over the whole
    // document (after a 300,000-line sequence, 34 s). Here it resolves none.
    const walks = vi.spyOn(Alias.prototype, "resolve");
    try {
      const pairs = (count: number) => Array.from({ length: count }, (_, i) => `- {type: signal.task.dispatch, id: &a${i} x${i}, payload: {task_id: *a${i}}}\n`).join("");
      const many = await read(pairs(5_000), { format: "yaml" });
      expect(many.filter((item) => "value" in item)).toHaveLength(5_000);
      expect((many[4_999] as { value: { payload: unknown } }).value.payload).toEqual({ task_id: "x4999" });
      // A mapping last, so the sequence is a list of messages, read element by element.
      const nested = await read("- &one [1, 2]\n- &two [*one, *one]\n- [*two, *two]\n- {type: x}\n", { format: "yaml" });
      expect(nested.map((item) => ("value" in item ? item.value : item.error.code))).toEqual([[1, 2], [[1, 2], [1, 2]], [[[1, 2], [1, 2]], [[1, 2], [1, 2]]], { type: "x" }]);
      expect(walks).not.toHaveBeenCalled();
    } finally {
      walks.mockRestore();
    }
    // An element that is an alias is at its own line, not at that of what it names.
    expect(summary(await read("- &m {type: x}\n- 1\n- *m\n", { format: "yaml" }))).toEqual([{ line: 1, index: 0 }, { line: 2, index: 1 }, { line: 3, index: 2 }]);
    // Anchors are a document's own: an alias to another document's is refused.
    expect(summary(await read("--- &a {type: x}\n--- *a\n", { format: "yaml" }))).toEqual([{ line: 1, index: undefined }, { line: 2, code: ErrorCode.YamlSyntax }]);
    // A sequence of 99,999 values (100,000 with itself) aliased ten times is at the bound, and read;
    // an eleventh alias is refused at its line. The yaml package's own count let a collection be
    // aliased 99 times whatever its size: a 6 MB document took 3 GB, a larger one the whole memory.
    const wide = (aliases: number) => `- &wide [${"0,".repeat(MAX_YAML_ALIAS_VALUES / 10 - 2)}0]\n${"- *wide\n".repeat(aliases)}- {type: x}\n`;
    expect((await read(wide(10), { format: "yaml" })).filter((item) => "value" in item)).toHaveLength(12);
    const past = await read(wide(11), { format: "yaml" });
    expect(summary(past)).toEqual([{ line: 12, code: ErrorCode.YamlSyntax }]);
    expect((past[0] as { error: Error }).error.message).toContain("stand for more than 1,000,000 values");
    // Nested ("billion laughs"), each level ten of the one before: refused at the first alias past the bound.
    const laughs = ["a: &l0 [0,0,0,0,0,0,0,0,0,0]", ...Array.from({ length: 7 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(", ")}]`)].join("\n");
    expect(summary(await read(laughs + "\n", { format: "yaml" }))).toEqual([{ line: 6, code: ErrorCode.YamlSyntax }]);
  });

  it("a JSON document over many lines is read whole up to 64 MiB: a larger one is ONEX_E_LINE_TOO_LONG, read line by line if its lines are messages (a 300 MB array ended the process)", async () => {
    const megabyte = (element: string) => `${element.replace("@", "a".repeat(1024 * 1024 - element.length))},\n`;
    // 64 lines of a megabyte: past 64 MiB, refused unparsed, and its text is not kept.
    const strings = await read(`[\n${megabyte('"@"').repeat(64)}""\n]\n`);
    expect(summary(strings)).toEqual([{ line: 1, code: ErrorCode.LineTooLong }]);
    expect(strings[0]).not.toHaveProperty("raw");
    expect((strings[0] as { error: Error }).error.message).toMatch(/^the JSON document from line 1 holds 67108\d{3} bytes over 67 lines, more than is read whole/);
    // Just short of it, read whole.
    expect(summary(await read(`[\n${megabyte('{"type":"@"}').repeat(63)}""\n]\n`))).toEqual(Array.from({ length: 64 }, (_, index) => ({ line: index + 2, index })));
    // An array of one message a line is read line by line past it, with the document's error.
    const messages = await read(`[\n${megabyte('{"type":"@"}').repeat(65)}{"type":"x"}\n]\n`);
    expect(summary(messages)).toEqual([{ line: 1, code: ErrorCode.LineTooLong }, ...Array.from({ length: 66 }, (_, i) => ({ line: i + 2, index: undefined }))]);
    // Read on line by line from the line past 64 MiB, not held to its end (or to 256 MiB: 1.26 GB at the peak of migrating 300 MB).
    const pastWhole = 2 + 64 * ((1 << 20) + 1);
    expect([(messages[0] as { error: OnexError }).error.details.bytes, (messages[0] as { error: Error }).error.message.split(",")[0]]).toEqual([pastWhole, `the JSON document from line 1 holds ${pastWhole} bytes in its first 65 lines`]);
  });

  it("a document's size is counted in bytes, as its limit and its error say: one of 3-byte characters is refused past 64 MiB of bytes, not read whole up to 64 Mi characters", async () => {
    // 23 lines of a million euro signs: 69 MB of UTF-8, 23 million characters.
    const content = `[\n${`"${"\u20ac".repeat(1_000_000)}",\n`.repeat(23)}""\n]\n`;
    const size = Buffer.byteLength(content);
    expect(size).toBeGreaterThan(64 << 20);
    const items = await read(content);
    expect(summary(items)).toEqual([{ line: 1, code: ErrorCode.LineTooLong }]);
    const error = (items[0] as { error: OnexError }).error;
    expect([error.details.bytes, error.message.split(",")[0]]).toEqual([size, `the JSON document from line 1 holds ${size} bytes over 26 lines`]);
  });

  it("an array of one message a line past 256 MiB is read on line by line as it comes, not refused as ONEX_E_FILE_UNREADABLE; another document that large still is", async () => {
    const file = join(dir, "huge-array.json");
    const element = (text: string) => `${JSON.stringify({ type: text.padEnd(1 << 20, "a") })},\n`;
    const write = (line: (i: number) => string) => {
      const fd = openSync(file, "w");
      writeSync(fd, "[\n");
      for (let i = 0; i < 260; i++) writeSync(fd, line(i));
      writeSync(fd, '{"type":"last"}\n]\n');
      closeSync(fd);
    };
    // Summarised as read: the values of 260 MiB are not kept.
    const summarised = async () => {
      const out: { line: number; code?: string; type?: string }[] = [];
      for await (const item of readInput({ file })) out.push("error" in item ? { line: item.line, code: item.error.code } : { line: item.line, type: (item.value as { type: string }).type.slice(0, 8) });
      return out;
    };
    write((i) => element(`m${i}`));
    expect(await summarised()).toEqual([{ line: 1, code: ErrorCode.LineTooLong }, ...Array.from({ length: 260 }, (_, i) => ({ line: i + 2, type: `m${i}`.padEnd(8, "a") })), { line: 262, type: "last" }]);
    // Strings, not messages: still refused whole.
    write((i) => `${JSON.stringify(`s${i}`.padEnd(1 << 20, "a"))},\n`);
    await expect(summarised()).rejects.toMatchObject({ code: ErrorCode.FileUnreadable });
    // Strings with one message among them past 64 MiB: from that line on, every line is read alone (each string line broken), none refused whole.
    write((i) => (i === 99 ? element("late") : `${JSON.stringify(`s${i}`.padEnd(1 << 20, "a"))},\n`));
    expect(await summarised()).toEqual([...Array.from({ length: 260 }, (_, i) => (i === 99 ? { line: 101, type: "lateaaaa" } : { line: i + 2, code: ErrorCode.JsonSyntax })), { line: 262, type: "last" }]);
    // The first message is the very line that takes the document past 256 MiB: it is looked at too, not refused with the input.
    write((i) => (i === 255 ? element("late") : `${JSON.stringify(`s${i}`.padEnd(1 << 20, "a"))},\n`));
    expect(await summarised()).toEqual([...Array.from({ length: 260 }, (_, i) => (i === 255 ? { line: 257, type: "lateaaaa" } : { line: i + 2, code: ErrorCode.JsonSyntax })), { line: 262, type: "last" }]);
  }, 180_000);

  it("a JSON document of more than 4,194,304 lines is the input's ONEX_E_FILE_UNREADABLE, however short its lines", async () => {
    const refused = await read(`[\n${"0,\n".repeat(1 << 22)}0\n]\n`).then(
      () => undefined,
      (error: OnexError) => error,
    );
    expect([refused?.code, refused?.message.replace(/^.*? holds/, "holds")]).toEqual([ErrorCode.FileUnreadable, "holds a JSON document of more than 256 MiB or 4,194,304 lines from line 1 on: write a log that large as NDJSON, one message a line"]);
    expect(await read(`[\n${"{},\n".repeat((1 << 22) - 3)}{}\n]\n`)).toHaveLength((1 << 22) - 2);
  }, 120_000);

  it("a YAML document whose aliases nest what they name deeper than a message may is a YAML error at that alias, and the other documents are read (a chain of anchors overflowed the stack and refused the whole input)", async () => {
    const nest = (levels: number, inner: string) => "[".repeat(levels) + inner + "]".repeat(levels);
    // Each anchor holds the one before 250 levels down, within the text's limit of 256.
    // A mapping last in the sequence, so it is a list of messages, read element by element.
    const chain = (last: number) => ["- &a0 " + nest(250, "1"), "- &a1 " + nest(250, "*a0"), "- &a2 " + nest(250, "*a1"), "- " + nest(last, "*a2"), "- {type: y}", "---", "{type: x}"].join("\n") + "\n";
    const depth = (value: unknown): number => (Array.isArray(value) ? 1 + Math.max(0, ...value.map(depth)) : 0);
    // The sequence, 249 levels and the 750 *a2 stands for: 1,000 levels, as JSON input may nest.
    const atBound = await read(chain(249), { format: "yaml" });
    expect(summary(atBound)).toEqual([...[0, 1, 2, 3, 4].map((index) => ({ line: index + 1, index })), { line: 6, index: undefined }]);
    expect(atBound.map((item) => ("value" in item ? depth(item.value) : item.error.code))).toEqual([250, 500, 750, 999, 0, 0]);
    const past = await read(chain(250), { format: "yaml" });
    expect(summary(past)).toEqual([{ line: 4, code: ErrorCode.YamlSyntax }, { line: 6, index: undefined }]);
    expect((past[0] as { error: Error }).error.message).toContain("the alias *a2 nests what it names 1,001 levels deep");
    // 85 anchors of 240 levels each, 42 KB of text standing for 20,400 levels and 0.98 million values (within that bound).
    const long = Array.from({ length: 85 }, (_, i) => `x${i}: &a${i} ${nest(240, i === 0 ? "1" : `*a${i - 1}`)}`).join("\n") + "\n---\n{type: x}\n";
    expect(summary(await read(long, { format: "yaml" }))).toEqual([{ line: 5, code: ErrorCode.YamlSyntax }, { line: 86, index: undefined }]);
  });

  it("fuzz: a chain of anchors (in sequences or mappings, some named again) is read as the yaml package reads it when it nests at most 1,000 levels, and refused at an alias only when it nests deeper", async () => {
    const depth = (value: unknown): number => (value !== null && typeof value === "object" ? 1 + Math.max(0, ...Object.values(value).map(depth)) : 0);
    const nest = (levels: number, map: boolean, inner: string) => (map ? "{k: ".repeat(levels) + inner + "}".repeat(levels) : "[".repeat(levels) + inner + "]".repeat(levels));
    const anchor = fc.record({ levels: fc.integer({ min: 100, max: 250 }), map: fc.boolean(), back: fc.constantFrom(0, 0, 0, 1), again: fc.integer({ min: 0, max: 9 }).map((n) => n === 0) });
    await fc.assert(
      fc.asyncProperty(fc.array(anchor, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 200 }), fc.boolean(), async (anchors, levels, map) => {
        const lines = anchors.flatMap(({ levels, map, back, again }, i) => {
          const inner = nest(levels, map, i === 0 ? "1" : `*a${Math.max(0, i - 1 - back)}`);
          // Named again: an alias names the last node anchored so before it.
          return [`x${i}: &a${i} ${inner}`, ...(again ? [`y${i}: &a${i} [${inner}]`] : [])];
        });
        const text = [...lines, `z: ${nest(levels, map, `*a${anchors.length - 1}`)}`].join("\n") + "\n";
        const items = await read(text, { format: "yaml" });
        const expected = parseDocument(text).toJS({ maxAliasCount: -1 }) as unknown;
        expect(items).toHaveLength(1);
        const [item] = items;
        if ("value" in item!) {
          expect(depth(expected)).toBeLessThanOrEqual(1000);
          expect(item.value).toEqual(expected);
        } else {
          expect([item!.error.code, depth(expected) > 1000]).toEqual([ErrorCode.YamlSyntax, true]);
          expect(item!.error.message).toMatch(/^the alias \*a\d+ nests what it names [\d,]+ levels deep/);
        }
      }),
      { numRuns: 100 },
    );
  });

  it("a YAML 1.1 merge key (<<) of anything but mappings is that document's YAML error, and the other documents are read (it refused the whole input as ONEX_E_FILE_UNREADABLE)", async () => {
    const doc = (merge: string) => `%YAML 1.1\n---\nm: &m {action: render}\ns: &s 5\nmessage: {type: x, ${merge}}\n`;
    for (const merge of ["<<: 5", "<<: *s", "<<: [*m, *s]", "<<: [1]", "<<: *unknown", "n: &n 1, <<: *n"]) {
      expect(summary(await read(`${doc(merge)}---\n{type: y}\n`, { format: "yaml" }))).toEqual([{ line: 5, code: ErrorCode.YamlSyntax }, { line: 6, index: undefined }]);
    }
    // A merge of mappings, named or written, is read as the yaml package reads it.
    const merged = await read(doc("<<: [*m, {target: w}]"), { format: "yaml" });
    expect(merged.map((item) => ("value" in item ? item.value : item.error.code))).toEqual([{ m: { action: "render" }, s: 5, message: { type: "x", action: "render", target: "w" } }]);
  });

  it("a YAML 1.1 merge key (<<) is no JSON name: a key spelled Symbol(<<) beside it is no duplicate, and two merge keys are named as <<", async () => {
    const doc = (merge: string) => `%YAML 1.1\n---\nm: &m {action: render}\nmessage: {type: x, ${merge}}\n`;
    const beside = await read(doc('"Symbol(<<)": 1, <<: *m'), { format: "yaml" });
    expect(beside.map((item) => ("value" in item ? item.value : item.error.message))).toEqual([{ m: { action: "render" }, message: { type: "x", "Symbol(<<)": 1, action: "render" } }]);
    const twice = await read(doc("<<: *m, <<: {target: w}"), { format: "yaml" });
    expect(twice.map((item) => ("error" in item ? [item.error.code, item.error.message] : item.value))).toEqual([[ErrorCode.JsonDuplicateKey, "a mapping has two merge keys (<<); merge a sequence of mappings with one: <<: [*a, *b]"]]);
  });

  it("a YAML sequence is a list of messages, as a JSON array is, and migrate writes it back as one", async () => {
    const text = "- " + JSON.stringify(six[0]) + "\n-\n  " + Object.entries(six[1]!).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n  ") + "\n";
    const items = await read(`${text}---\n${JSON.stringify(six[2])}\n`, { format: "yaml" });
    expect(summary(items)).toEqual([{ line: 1, index: 0 }, { line: 3, index: 1 }, { line: 3 + Object.keys(six[1]!).length, index: undefined }]);
    expect(items.map((item) => ("value" in item ? item.value : item.error))).toEqual(six.slice(0, 3));
    const file = join(dir, "list.yaml");
    writeFileSync(file, text);
    const forth = onex(dir, ["migrate", "v0.1", "v0.2", file]);
    expect(forth.code).toBe(0);
    expect(forth.stdout.split("\n").filter((line) => line.startsWith("- "))).toHaveLength(2);
    writeFileSync(join(dir, "list-v0.2.yaml"), forth.stdout);
    const back = onex(dir, ["migrate", "v0.2", "v0.1", join(dir, "list-v0.2.yaml")]);
    expect(back.code).toBe(0);
    const { parse } = await import("yaml");
    expect(parse(back.stdout)).toEqual(six.slice(0, 2));
  });

  it("a YAML sequence with no mapping in it is one ONEX_E_UNKNOWN_TYPE, keeping its text, not one per element; migrate writes an empty sequence", async () => {
    const numbers = `- 1\n- two\n- [3]\n- null\n`;
    const items = await read(`${numbers}---\n- ${JSON.stringify(six[0])}\n- 4\n`, { format: "yaml" });
    expect(summary(items)).toEqual([{ line: 1, code: ErrorCode.UnknownType }, { line: 6, index: 0 }, { line: 7, index: 1 }]);
    expect(items[0]).toMatchObject({ shape: "yaml-sequence", raw: numbers, error: { message: 'the YAML sequence from line 1 holds 4 values and not one object, so no message (a message is a JSON object with a string "type")' } });
    writeFileSync(join(dir, "numbers.yaml"), `${Array.from({ length: 100_000 }, (_, i) => `- ${i}`).join("\n")}\n`);
    const validated = onex(dir, ["validate", "v0.1", "numbers.yaml"]);
    expect([validated.code, validated.stdout.trim().split("\n").length]).toEqual([1, 1]);
    const migrated = onex(dir, ["migrate", "v0.1", "v0.2", "numbers.yaml", "--on-error", "skip"]);
    expect([migrated.code, migrated.stdout]).toEqual([1, "[]\n"]);
  });

  it("a long line split into many small chunks is read in linear time (the old reader re-split it per chunk and never finished)", async () => {
    const big = JSON.stringify(Array.from({ length: 20_000 }, (_, n) => dispatch(n)));
    expect(big.length).toBeGreaterThan(10_000_000);
    const bytes = Buffer.from(big);
    const chunks = function* () {
      for (let at = 0; at < bytes.length; at += 1024) yield bytes.subarray(at, at + 1024);
    };
    const file = join(dir, "stream.json");
    writeFileSync(file, "");
    // Feed through stdin's place: a stream of 1 KiB chunks, like a pipe delivers.
    const items: InputItem[] = [];
    const original = Object.getOwnPropertyDescriptor(process, "stdin")!;
    Object.defineProperty(process, "stdin", { value: Readable.from(chunks(), { objectMode: false }), configurable: true });
    try {
      for await (const item of readInput({ file: "-" })) items.push(item);
    } finally {
      Object.defineProperty(process, "stdin", original);
    }
    expect(items).toHaveLength(20_000);
    expect(items[19_999]).toMatchObject({ line: 1, index: 19_999 });
  }, 120_000);

  it("fuzz: any mix of valid and broken NDJSON lines yields every valid message at its line and one error per broken line", async () => {
    const garbage = fc.oneof(fc.constantFrom("{not json", "[1,", '{"a":', "}", "nul", '"open'), fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/[\n\r]/.test(s) && !isJson(s)));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.integer({ min: 1, max: 99 }).map((n) => ({ ok: true as const, text: JSON.stringify(dispatch(n)) })), garbage.map((text) => ({ ok: false as const, text }))), { minLength: 1, maxLength: 12 }), fc.boolean(), async (rows, crlf) => {
        const valid = rows.filter((r) => r.ok).length;
        fc.pre(valid >= 1);
        const items = await read(rows.map((r) => r.text).join(crlf ? "\r\n" : "\n"));
        const expected = rows.map((r, i) => ({ line: i + 1, ok: r.ok, text: r.text })).filter((r) => r.ok || r.text.trim() !== "");
        const values = items.filter((i) => "value" in i);
        // Every valid line is read at its own line, whatever came before it.
        expect(values.map((i) => i.line)).toEqual(expected.filter((r) => r.ok).map((r) => r.line));
        // A broken line that opens an array (`[`) makes the lines after it that array's elements: where
        // the array breaks, or the input ends with it open, that line's error names the array, whatever
        // the line holds (its message is still read, above).
        const ofAnOpenArray = (error: OnexError) => /in an array|an array is not closed/.test(error.message);
        for (const item of items) if ("error" in item && !ofAnOpenArray(item.error)) expect(expected.find((r) => r.line === item.line)?.ok ?? false).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it("fuzz: NDJSON, a one-line array, a pretty array and a pretty document all read back the same messages", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue({ maxDepth: 3 }).map((input) => dispatch(1, { input: { v: input } })), { minLength: 1, maxLength: 5 }), async (generated) => {
        // As JSON carries them (-0 is written as 0).
        const messages = JSON.parse(JSON.stringify(generated)) as Record<string, unknown>[];
        const values = (items: InputItem[]) => items.map((i) => ("value" in i ? i.value : i.error.code));
        expect(values(await read(lines(messages)))).toEqual(messages);
        expect(values(await read(JSON.stringify(messages)))).toEqual(messages);
        expect(values(await read(JSON.stringify(messages, null, 2)))).toEqual(messages);
        expect(values(await read(JSON.stringify(messages[0], null, 2)))).toEqual([messages[0]]);
      }),
      { numRuns: 60 },
    );
  });
});

describe("commands share the reader", () => {
  it("migrate --dead-letter with a malformed first line writes the 6 valid messages and keeps the bad line's text", () => {
    writeFileSync(join(dir, "first-bad.ndjson"), "{not json\n" + lines(six));
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "first-bad.ndjson", "--out", "out.ndjson", "--dead-letter", "dead.ndjson"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("7 read, 6 written, 0 skipped, 1 dead-lettered");
    expect(JSON.parse(require_("dead.ndjson").trim())).toMatchObject({ line: 1, code: ErrorCode.JsonSyntax, raw: "{not json" });
  });

  it("an array of half a million elements, on one line or never closed, is read element by element, not refused as unreadable (the stack overflowed)", () => {
    const elements = 500_000;
    writeFileSync(join(dir, "wide.json"), `[${Array(elements).fill("{}").join(",")}]\n`);
    writeFileSync(join(dir, "never-closed.json"), "[\n" + "{},\n".repeat(elements));
    for (const [file, checked] of [["wide.json", elements], ["never-closed.json", elements + 1]] as const) {
      // Each element has no type: half a million report lines go to stdout, not kept here.
      const run = spawnSync(process.execPath, [BIN, "validate", "v0.1", file], { cwd: dir, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 120_000 });
      expect(run.stderr).toBe(`error ${ErrorCode.ValidationFailed}: ${checked} message(s) checked against v0.1: 0 valid, ${checked} invalid\n`);
      expect(run.status).toBe(1);
    }
  }, 120_000);

  it("a JSON array with no object in it is one ONEX_E_UNKNOWN_TYPE, on one line or many, not one per element; one with an object is read per element", async () => {
    const none = await read(`${JSON.stringify(six[0])}\n[1,"two",[3],null]\n[]\n[${JSON.stringify(six[1])},4]\n`);
    expect(summary(none)).toEqual([{ line: 1, index: undefined }, { line: 2, code: ErrorCode.UnknownType }, { line: 4, index: 0 }, { line: 4, index: 1 }]);
    expect(none[1]).toMatchObject({ raw: '[1,"two",[3],null]', error: { message: 'the JSON array from line 2 holds 4 values and not one object, so no message (a message is a JSON object with a string "type")' } });
    const pretty = JSON.stringify([1, 2, 3], null, 2);
    const document = await read(`\n${pretty}\n`);
    expect(summary(document)).toEqual([{ line: 2, code: ErrorCode.UnknownType }]);
    expect(document[0]).toMatchObject({ shape: "array", raw: pretty });
    const one = await read("[5]\n");
    expect(one[0]).toMatchObject({ error: { message: expect.stringContaining("the JSON array from line 1 holds 1 value and not one object") } });
  });

  it("migrate of a JSON array with no object in it writes an empty array, on one line or many, as of one whose every message is refused", () => {
    for (const [name, content] of [["no-object-line.json", "[1,2,3]\n"], ["no-object-lines.json", "[\n1,\n2,\n3\n]\n"], ["refused-objects.json", "[\n{},\n{}\n]\n"]] as const) {
      writeFileSync(join(dir, name), content);
      const run = onex(dir, ["migrate", "v0.1", "v0.2", name, "--on-error", "skip"]);
      expect([name, run.code, run.stdout]).toEqual([name, 1, "[]\n"]);
    }
  });

  it("migrate of a JSON array of one message a line past 64 MiB, read line by line, writes NDJSON: every message on a line of its own, read back whole", () => {
    const big = (n: number) => dispatch(n, { input: { pad: "a".repeat(1 << 20) } });
    writeFileSync(join(dir, "big-array.json"), `[\n${Array.from({ length: 65 }, (_, i) => JSON.stringify(big(i))).join(",\n")}\n]\n`);
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "big-array.json", "--out", "big-out.ndjson", "--dead-letter", "big-dead.ndjson"]);
    expect([run.code, run.stderr]).toEqual([0, expect.stringContaining("66 read, 65 written, 0 skipped, 1 dead-lettered")]);
    const written = require_("big-out.ndjson").split("\n");
    expect(written.pop()).toBe("");
    expect(written.map((line) => (JSON.parse(line) as { payload: { task_id: string } }).payload.task_id)).toEqual(Array.from({ length: 65 }, (_, i) => `t-${i}`));
    const again = onex(dir, ["validate", "v0.2", "big-out.ndjson"]);
    expect([again.code, again.stderr]).toEqual([0, "65 message(s) checked against v0.2: 65 valid, 0 invalid\n"]);
  }, 120_000);

  it("validate of a line of a million numbers reports the line once, not each number (30 million took over four minutes and 3.7 GB)", () => {
    writeFileSync(join(dir, "numbers.json"), `[${Array.from({ length: 1_000_000 }, (_, i) => i % 10).join(",")}]\n`);
    const run = spawnSync(process.execPath, [BIN, "validate", "v0.1", "numbers.json"], { cwd: dir, encoding: "utf8", timeout: 120_000, maxBuffer: 1 << 30 });
    expect([run.status, run.stdout, run.stderr]).toEqual([1, `numbers.json:1: - ${ErrorCode.UnknownType}: the JSON array from line 1 holds 1000000 values and not one object, so no message (a message is a JSON object with a string "type")\n`, `error ${ErrorCode.ValidationFailed}: 1 message(s) checked against v0.1: 0 valid, 1 invalid\n`]);
  });

  it("migrate's workers read an NDJSON line that is an array of no object as one dead letter, keeping its text", () => {
    writeFileSync(join(dir, "numbers-line.ndjson"), lines([six[0], [1, 2, 3], six[1]]));
    const run = onex(dir, ["migrate", "v0.1", "v0.2", "numbers-line.ndjson", "--workers", "1", "--out", "numbers-out.ndjson", "--dead-letter", "numbers-dead.ndjson"]);
    expect([run.code, run.stderr]).toEqual([0, expect.stringContaining("3 read, 2 written, 0 skipped, 1 dead-lettered")]);
    expect(require_("numbers-dead.ndjson").trim().split("\n").map((letter) => JSON.parse(letter) as unknown)).toEqual([expect.objectContaining({ line: 2, code: ErrorCode.UnknownType, raw: "[1,2,3]" })]);
  });

  it("validate reads a one-line array per element and names the element that fails", () => {
    const bad = { ...six[1], payload: { ...(six[1]!.payload as object), priority: "high" } };
    const run = onex(dir, ["validate", "v0.1", "-"], JSON.stringify([six[0], bad, six[2]]));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^-:1: \[1\] signal\.task\.dispatch/);
    expect(run.stderr).toContain("3 message(s) checked against v0.1: 2 valid, 1 invalid");
  });

  it("validate judges a line that is a JSON string as a value with no type, not as the message its text spells", () => {
    // The string holds a valid message's JSON text: it was reported valid.
    const run = onex(dir, ["validate", "v0.1", "-"], lines([JSON.stringify(six[0]), six[1], 42]));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^-:1: - ONEX_E_UNKNOWN_TYPE: message has no string "type" field/m);
    expect(run.stdout).toMatch(/^-:3: - ONEX_E_UNKNOWN_TYPE: message has no string "type" field/m);
    expect(run.stderr).toContain("3 message(s) checked against v0.1: 1 valid, 2 invalid");
  });

  it("sign refuses invalid UTF-8 instead of signing replaced text", () => {
    const bytes = Buffer.concat([Buffer.from(JSON.stringify(six[0]).replace('"render"', '"rend')), Buffer.from([0xff]), Buffer.from('er"')]);
    expect(onex(dir, ["keygen", "--out", "s"]).code).toBe(0);
    const run = onex(dir, ["sign", "-", "--key", "s.key"], bytes);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(ErrorCode.JsonSyntax);
    expect(run.stdout).toBe("");
  });

  it("migrate round-trips messages with integers above 2^53 byte-identically", () => {
    // Written as text: a JavaScript number literal would already have rounded 9007199254740993 to ...992.
    const text = JSON.stringify(dispatch(7, { input: { big: "BIG", bigger: "BIGGER", safe: 42 } })).replace('"BIG"', "9007199254740993").replace('"BIGGER"', "-123456789012345678901234567890");
    // Start from migrate's own member order, so the comparison is about numbers, not member order.
    const v01 = onex(dir, ["migrate", "v0.2", "v0.1", "-"], onex(dir, ["migrate", "v0.1", "v0.2", "-"], text + "\n").stdout).stdout;
    expect(v01).toContain('"big":9007199254740993');
    expect(v01).toContain('"bigger":-123456789012345678901234567890');
    const up = onex(dir, ["migrate", "v0.1", "v0.2", "-"], v01);
    expect(up.code).toBe(0);
    const back = onex(dir, ["migrate", "v0.2", "v0.1", "-"], up.stdout);
    expect(back.code).toBe(0);
    expect(Buffer.from(back.stdout)).toEqual(Buffer.from(v01));
  });

  it("a lone surrogate escaped in a string is ONEX_E_CANONICAL_JSON at its line in validate and migrate, on one thread or two; a pair is a character", async () => {
    const lone = JSON.stringify(dispatch(8, { input: { s: "LONE" } })).replace('"LONE"', '"a\\ud800b"');
    const paired = JSON.stringify(dispatch(9, { input: { s: "PAIR" } })).replace('"PAIR"', '"\\ud83d\\ude00"');
    const log = [JSON.stringify(dispatch(1)), lone, paired].join("\n") + "\n";
    const validate = onex(dir, ["validate", "v0.1", "-"], log);
    expect(validate.code).toBe(1);
    expect(validate.stdout + validate.stderr).toMatch(/-:2: .*ONEX_E_CANONICAL_JSON: .*lone UTF-16 surrogate/);
    expect(validate.stdout + validate.stderr).toContain("2 valid, 1 invalid");
    for (const workers of ["0", "2"]) {
      writeFileSync(join(dir, "surrogates.ndjson"), log);
      const migrate = onex(dir, ["migrate", "v0.1", "v0.2", "surrogates.ndjson", "--workers", workers, "--dead-letter", `dl-${workers}.ndjson`, "--out", `out-${workers}.ndjson`]);
      expect(migrate.code, migrate.stderr).toBe(0);
      expect(readFileSync(join(dir, `out-${workers}.ndjson`), "utf8").trim().split("\n")).toHaveLength(2);
      expect(readFileSync(join(dir, `out-${workers}.ndjson`), "utf8")).toContain("😀");
      const letter = JSON.parse(readFileSync(join(dir, `dl-${workers}.ndjson`), "utf8")) as { line: number; code: string; raw: string };
      expect([letter.line, letter.code, letter.raw]).toEqual([2, ErrorCode.CanonicalJson, lone]);
    }
    // Read alone: a message's JSON, a record file's, the same rule.
    const { parseJson } = await import("../../runtime/json-text.js");
    expect(() => parseJson('{"\\udfff":1}')).toThrow(expect.objectContaining({ code: ErrorCode.CanonicalJson }));
  });

  it("a line of another version in a log says which version it declares, in validate and migrate", () => {
    const example = (version: string) => readFileSync(join(PROJECT_ROOT, "docs", "examples", `v${version}.ndjson`), "utf8").split("\n")[0]! + "\n";
    for (const older of ["0.1", "0.0.9"]) {
      const validated = onex(dir, ["validate", "v0.2", "-"], example(older));
      expect([validated.code, validated.stdout]).toEqual([1, expect.stringContaining(`; the message declares v${older}: validate it against v${older}`)]);
      const migrated = onex(dir, ["migrate", "v0.2", "v0.1", "-"], example(older));
      expect([migrated.code, migrated.stderr]).toEqual([1, expect.stringContaining(`; the message declares v${older}: migrate it from v${older}`)]);
    }
  });

  it("an integer above 2^53 in an integer field is judged by the schema's bounds, not refused as no integer", () => {
    const withPriority = (digits: string) => JSON.stringify(dispatch(8)).replace('"priority":5', `"priority":${digits}`) + "\n";
    const { parse } = JSON;
    expect(parse(withPriority("7")).payload.priority).toBe(7);
    // v0.1's priority is an integer of at most 9: 10^20 breaks the bound, and is reported as such.
    const above = onex(dir, ["validate", "v0.1", "-"], withPriority("100000000000000000000"));
    expect([above.code, above.stdout]).toEqual([1, expect.stringContaining("/payload/priority must be <= 9")]);
    // v0.2's exit_code is an integer without bounds: 2^64 is one.
    const stopped = readFileSync(join(PROJECT_ROOT, "docs", "examples", "v0.2.ndjson"), "utf8").split("\n").find((line) => line.includes('"event.agent.stopped"'))!;
    expect(onex(dir, ["validate", "v0.2", "-"], stopped.replace(/"exit_code":\d+/, '"exit_code":18446744073709551616') + "\n").code).toBe(0);
    // In an open field it is any integer, carried exactly.
    const open = JSON.stringify(dispatch(9, { input: { big: "BIG" } })).replace('"BIG"', "18446744073709551616") + "\n";
    expect(onex(dir, ["validate", "v0.1", "-"], open).code).toBe(0);
    const migrated = onex(dir, ["migrate", "v0.1", "v0.2", "-"], open);
    expect([migrated.code, migrated.stdout.includes('"big":18446744073709551616')]).toEqual([0, true]);
  });
});

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function require_(name: string): string {
  return readFileSync(join(dir, name), "utf8");
}
