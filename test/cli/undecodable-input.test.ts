/**
 * Input the reader cannot decode reaches migrate's dead letter whole: a YAML document with bytes
 * that are not UTF-8 lost every document of the input (a dead letter of `raw: null`), a JSON
 * document over many lines kept its text without the undecodable line, and a multi-line array
 * whose brackets or commas were wrong was dead-lettered as `raw: null`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { readInput, type InputItem } from "../../cli/message-input.js";
import { ErrorCode } from "../trust/fixtures.js";
import { dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("undecodable");
afterAll(remove);

const messages = [1, 2, 3, 4].map((n) => dispatch(n));
/** "café" in Latin-1: the é (0xe9) is no UTF-8. */
const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);

/** `text` with its first "render" replaced by Latin-1 bytes. */
function withLatin1(text: string): Buffer {
  const at = text.indexOf("render");
  return Buffer.concat([Buffer.from(text.slice(0, at)), latin1, Buffer.from(text.slice(at + "render".length))]);
}

/** Runs `onex migrate v0.1 v0.2 name --dead-letter ... --out ...` on `bytes`: the run, its dead letters, its output. */
function migrate(name: string, bytes: Buffer) {
  writeFileSync(join(dir, name), bytes);
  const run = onex(dir, ["migrate", "v0.1", "v0.2", name, "--out", `${name}.out`, "--dead-letter", `${name}.dead`]);
  const letters = readFileSync(join(dir, `${name}.dead`), "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { run, letters, out: readFileSync(join(dir, `${name}.out`), "utf8") };
}

const bytesOf = (letter: Record<string, unknown>) => Buffer.from(letter.raw_base64 as string, "base64");
const outIds = (out: string) => out.split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { id: string }).id);

describe("undecodable input reaches the dead letter whole", () => {
  it("a YAML document that is not UTF-8 is dead-lettered with its exact bytes, and the other documents are written", () => {
    const docs = messages.map((m) => stringify(m));
    const bad = withLatin1(`---\n${docs[1]}`);
    const bytes = Buffer.concat([Buffer.from(docs[0]!), bad, Buffer.from(`---\n${docs[2]}---\n${docs[3]}`)]);
    const { run, letters, out } = migrate("latin1.yaml", bytes);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("4 read, 3 written, 0 skipped, 1 dead-lettered");
    expect(letters).toHaveLength(1);
    const badLine = docs[0]!.split("\n").length - 1 + bad.subarray(0, bad.indexOf(latin1)).toString().split("\n").length;
    expect(letters[0]).toMatchObject({ line: badLine, code: ErrorCode.JsonSyntax, message: `line ${badLine} is not valid UTF-8` });
    expect(letters[0]).not.toHaveProperty("raw");
    expect(bytesOf(letters[0]!).equals(bad)).toBe(true);
    const written = parseAllDocuments(out).map((doc) => (doc.toJS() as { id: string }).id);
    expect(written).toEqual([messages[0]!.id, messages[2]!.id, messages[3]!.id]);
  });

  it("YAML documents are told apart on the bytes as the yaml package tells them: directives and comments go with the next document, `...` ends one", async () => {
    const docs = messages.map((m) => stringify(m));
    // The first document, with a comment and a directive before its `---`, holds the bad bytes;
    // the second ends with `...`; the third has no `---` of its own, after that `...`.
    const bad = withLatin1(`# from a Latin-1 editor\n%YAML 1.2\n---\n${docs[0]}`);
    const bytes = Buffer.concat([bad, Buffer.from(`--- # two\n${docs[1]}...\n${docs[2]}`)]);
    const file = join(dir, "told-apart.yaml");
    writeFileSync(file, bytes);
    const items: InputItem[] = [];
    for await (const item of readInput({ file })) items.push(item);
    expect(items.map((item) => ("error" in item ? item.error.code : (item.value as { id: string }).id))).toEqual([ErrorCode.JsonSyntax, messages[1]!.id, messages[2]!.id]);
    expect(items[0]!.rawBytes!.equals(bad)).toBe(true);
    const lineAt = (offset: number) => bytes.subarray(0, offset).toString("latin1").split("\n").length;
    expect(items.map((item) => item.line)).toEqual([lineAt(bytes.indexOf(latin1)), lineAt(bytes.indexOf("--- # two")), lineAt(bytes.indexOf("...\n") + 4)]);
  });

  it("YAML with no second document is refused whole, its bytes kept whole: exit 1 without a dead letter, 0 with one", () => {
    const bytes = withLatin1(stringify(messages));
    writeFileSync(join(dir, "sequence.yaml"), bytes);
    expect(onex(dir, ["migrate", "v0.1", "v0.2", "sequence.yaml", "--out", "sequence.fail.out"]).code).toBe(1);
    const { run, letters } = migrate("sequence.yaml", bytes);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("1 read, 0 written, 0 skipped, 1 dead-lettered");
    expect(bytesOf(letters[0]!).equals(bytes)).toBe(true);
  });

  it("a JSON document over many lines with a line that is not UTF-8 keeps all its bytes, that line and CRLFs too", () => {
    const pretty = JSON.stringify(messages.slice(0, 2), null, 2).replace(/\n/g, "\r\n");
    const document = withLatin1(pretty);
    const { run, letters } = migrate("pretty.json", Buffer.concat([document, Buffer.from("\r\n")]));
    expect(run.code).toBe(0);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ code: ErrorCode.JsonSyntax, line: pretty.slice(0, pretty.indexOf("render")).split("\n").length });
    expect(letters[0]).not.toHaveProperty("raw");
    expect(bytesOf(letters[0]!).equals(document)).toBe(true);
  });

  it("NDJSON in UTF-16LE, read as one broken document, is dead-lettered as every byte of the file", () => {
    const text = messages.map((m) => JSON.stringify(m)).join("\n") + "\n";
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    const { run, letters } = migrate("utf16.ndjson", bytes);
    expect(run.code).toBe(0);
    expect(letters).toHaveLength(1);
    expect(bytesOf(letters[0]!).equals(bytes)).toBe(true);
  });

  it("an array of one message a line whose commas or brackets are wrong keeps the text of the line at fault; its messages are written", () => {
    const [a, b] = [JSON.stringify(messages[0]), JSON.stringify(messages[1])];
    const cases: [string, string[], number][] = [
      ["a comma after the last element", ["[", `${a},`, `${b},`, "]"], 4],
      ["no closing bracket", ["[", `${a},`, b], 3],
    ];
    for (const [what, lines, at] of cases) {
      const { run, letters, out } = migrate(`array-${at}.json`, Buffer.from(lines.join("\n") + "\n"));
      expect(run.code, what).toBe(0);
      expect(outIds(out), what).toEqual([messages[0]!.id, messages[1]!.id]);
      expect(letters, what).toEqual([expect.objectContaining({ line: at, code: ErrorCode.JsonSyntax, raw: lines[at - 1] })]);
    }
  });

  it("a YAML input refused whole (NDJSON named .yaml, nesting past the limit) is dead-lettered with its text, not as raw: null", () => {
    const ndjson = messages.map((m) => JSON.stringify(m)).join("\n") + "\n";
    const { run, letters } = migrate("lines.yaml", Buffer.from(ndjson));
    expect(run.code).toBe(0);
    expect(letters).toHaveLength(1);
    expect([letters[0]!.code, letters[0]!.raw]).toEqual([ErrorCode.YamlSyntax, ndjson]);
    const deep = `payload: ${"[".repeat(300)}${"]".repeat(300)}\n`;
    const nested = migrate("deep.yaml", Buffer.from(deep));
    expect(nested.letters.map((l) => [l.code, l.raw])).toEqual([[ErrorCode.YamlSyntax, deep]]);
  });
});
