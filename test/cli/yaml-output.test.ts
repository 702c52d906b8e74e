/**
 * `onex migrate` writes YAML (for YAML input) that a YAML 1.1 reader reads back as the messages
 * too. The yaml package quoted a string only when YAML 1.2's core schema would read it as
 * something else: `yes`, `on`, `n`, `2026-12-07`, `017`, `1_000`, `1:20` went out plain, and a
 * YAML 1.1 reader (PyYAML, many Go and Ruby tools) read booleans, dates and numbers, a message's
 * `time` among them; U+2028, U+2029 and NEL (line breaks to YAML 1.1), DEL and the C1 controls
 * were written raw (PyYAML refuses them), and `1e+21` as YAML 1.1 reads a string.
 * Read back here with the yaml package as YAML 1.1 and as 1.2, and by onex's own reader.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { doubleQuoted, plainIsSafe, stringifyYaml } from "../../generator/yaml-output.js";
import { assertNoCrash, dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("yaml-output");
afterAll(remove);

/** Strings YAML 1.1 or 1.2 readers take for something else, or cannot hold plain; and some they can. */
const TRICKY = [
  ...["yes", "no", "on", "off", "y", "n", "Y", "N", "Yes", "NO", "On", "OFF", "yEs", "true", "False", "null", "Null", "~", ""],
  ...["2026-12-07", "2026-12-07T10:00:00Z", "2026-1-7 1:02:03", "2026-12-07t10:00:00.5+01:00", "2025-06-01T12:00:00Z"],
  ...["0o17", "017", "09", "0x1F", "0b101", "1_000", "1,000", "1:20", "-1:20", "190:20:30.15", "1.2.3", "1.", ".5", "._5", "1e3", "e7", "+e7", "1.5e+3", "+12", "-0", "0x1p-2"],
  ...[".inf", "-.Inf", "+.INF", ".nan", ".NaN", "inf", "+inf", "NaN", "Infinity", "<<", "="],
  ...["-", "--", "---", "...", "- a", "? a", ":a", "a:", "a: b", "a #b", "#a", "@a", "`a", "%YAML 1.1", "!a", "&a", "*a", "|a", ">a", "'a", '"a', "[a", "{a", " a", "a ", "\u00a0a"],
  // Several lines: a literal block, or double-quoted where a reader could read the block otherwise.
  ...["a\nb", "a\n", "a\n\n", "\na", " a\nb", "a\n  \nb", "a\n\n\nb", "a\n b\n  c", "#a\n- b\n---\n...", "a: b\nc # d", "a\n\tb", "a\nb ", "yes\n017", "\"a\n'b"],
  ...["a\u2028b", "a\u2029b", "a\u0085b", "a\u007fb", "a\u009bb", "a\r\nb", "\tx", "\u0000", "\u001b[31m", "\u200ex", "\u202ex", "\ufeffx", "\ufffe", "\uffff", "x\u{e0041}"],
  // Plain, and they stay plain: readable output.
  ...["zone.trusted.org", "7f1c2e4a-0b5d-4c8e-9a61-100000000012", "sha256:ab12", "https://onex.dev/x", "task-42", "é ok", "😀", "a#b", "-a", "a-1", "node-7", "1a", "v0.2"],
];

/** Every string of one to three characters from an alphabet of what number, date and word forms are made of. */
function combinations(): string[] {
  const alphabet = ["0", "1", "7", ".", "_", ":", "+", "-", "e", "x", "o", "b", "~", "y", "n", ",", "i", "T", " ", "#"];
  const all: string[] = [];
  const grow = (prefix: string, depth: number) => {
    if (prefix !== "") all.push(prefix);
    if (depth > 0) for (const c of alphabet) grow(prefix + c, depth - 1);
  };
  grow("", 3);
  return all;
}

/** No character a YAML reader takes for a line break, or refuses, or that shows as nothing. */
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u202e\ufeff\ufffe\uffff]|\u{e0041}/u;

describe("YAML output", () => {
  it("reads back as the same strings, keys and numbers in YAML 1.1 and in YAML 1.2", () => {
    const value = {
      values: Object.fromEntries(TRICKY.map((s, i) => [`k${i}`, s])),
      keys: Object.fromEntries(TRICKY.map((s, i) => [s, i])),
      list: TRICKY,
      lists: TRICKY.map((s) => [s, { [s.slice(0, 3)]: s }]),
      generated: combinations(),
      numbers: [0, 1, -1, 0.5, 1e21, -1.5e300, 5e-7, 2.5e-8, 123456789],
      nested: [[1, [2, []]], {}, [{}], { a: { b: [{ c: null, d: true }] } }],
      [`${"k".repeat(1500)}`]: "a key too long for an implicit key",
    };
    const text = stringifyYaml(value);
    expect(text).not.toMatch(RAW_UNSAFE);
    for (const version of ["1.1", "1.2"] as const) expect([version, parse(text, { version })]).toEqual([version, value]);
  });

  it("writes a number YAML 1.1 would read as a string with a point (1.0e+21), and keeps readable strings plain", () => {
    // YAML 1.1's floats have a point and a signed exponent: `1e+21` is a string to PyYAML.
    const float11 = /^[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?$/;
    for (const [n, text] of [[1e21, "1.0e+21"], [5e-7, "5.0e-7"], [-1.5e300, "-1.5e+300"], [0.5, "0.5"]] as const) {
      expect(stringifyYaml({ x: n })).toBe(`x: ${text}\n`);
      expect(text).toMatch(float11);
    }
    // `n` is YAML 1.1's false, as a key too.
    expect(stringifyYaml({ big: 12345678901234567890n, n: 42 })).toBe('big: 12345678901234567890\n"n": 42\n');
    for (const s of ["zone.trusted.org", "7f1c2e4a-0b5d-4c8e-9a61-100000000012", "sha256:ab12", "https://onex.dev/x", "é ok", "😀"]) expect([s, plainIsSafe(s)]).toEqual([s, true]);
    for (const s of ["yes", "2026-12-07", "017", "1_000", "1:20", ".inf", "a\u2028b"]) expect([s, plainIsSafe(s)]).toEqual([s, false]);
    // Numbers to Go's readers, which drop every underscore first, and to SnakeYAML (-_1 is -1).
    for (const s of ["0_x10", "0_b1", "0_o7", "1e_5", "-_1", "-_.5", "00e0_", "-_", "+_", "._5"]) expect([s, plainIsSafe(s)]).toEqual([s, false]);
    for (const s of ["1_abc", "v_1", "_1"]) expect([s, plainIsSafe(s)]).toEqual([s, true]);
    expect(doubleQuoted('a\u2028"b\\\u0085\u{e0041}')).toBe('"a\\u2028\\"b\\\\\\u0085\\U000E0041"');
    expect(stringifyYaml({ a: [{ b: 1, c: [] }, ["p", "q"]], d: {} })).toBe("a:\n  - b: 1\n    c: []\n  - - p\n    - q\nd: {}\n");
    // Several lines, readable: a literal block under a key and in a sequence; `|` keeps one final line break.
    expect(stringifyYaml({ d: "a\n\n# b", l: ["x\n", " y\nz"] })).toBe('d: |-\n  a\n\n  # b\nl:\n  - |\n    x\n  - " y\\nz"\n');
  });

  it("onex migrate writes YAML documents and YAML sequences that YAML 1.1 reads as the messages the same run writes as NDJSON", () => {
    const message = dispatch(1, { input: { values: TRICKY, keyed: Object.fromEntries(TRICKY.filter((s) => s !== "").map((s) => [s, s])), big: 1e21, small: 5e-7 } });
    const second = dispatch(2);
    writeFileSync(join(dir, "log.ndjson"), `${JSON.stringify(message)}\n${JSON.stringify(second)}\n`);
    // The same messages as YAML input, as documents and as one sequence (a JSON value is YAML).
    writeFileSync(join(dir, "log.yaml"), `${JSON.stringify(message)}\n---\n${JSON.stringify(second)}\n`);
    writeFileSync(join(dir, "list.yaml"), `- ${JSON.stringify(message)}\n- ${JSON.stringify(second)}\n`);
    const ndjson = onex(dir, ["migrate", "v0.1", "v0.2", "log.ndjson"]);
    expect(ndjson.code, ndjson.stderr).toBe(0);
    const expected = ndjson.stdout.trim().split("\n").map((line) => JSON.parse(line) as unknown);
    expect(JSON.stringify(expected)).toContain("a\u2028b");
    for (const workers of ["0", "2"]) {
      for (const [input, shape] of [["log.yaml", "documents"], ["list.yaml", "sequence"]] as const) {
        const out = `out-${workers}-${input}`;
        const run = onex(dir, ["migrate", "v0.1", "v0.2", input, "--workers", workers, "--out", out]);
        assertNoCrash(run);
        expect(run.code, run.stderr).toBe(0);
        const text = readFileSync(join(dir, out), "utf8");
        expect(text).not.toMatch(RAW_UNSAFE);
        expect(text).toContain('time: "');
        for (const version of ["1.1", "1.2"] as const) {
          const read = shape === "documents" ? parseAllDocuments(text, { version }).map((doc) => doc.toJS() as unknown) : (parse(text, { version }) as unknown);
          expect([version, shape, read]).toEqual([version, shape, expected]);
        }
        // And onex reads it back: migrated down again, the input comes back.
        const back = onex(dir, ["migrate", "v0.2", "v0.1", out, "--workers", workers, "--out", `back-${out}`]);
        expect(back.code, back.stderr).toBe(0);
        const again = readFileSync(join(dir, `back-${out}`), "utf8");
        const restored = shape === "documents" ? parseAllDocuments(again, { version: "1.1" }).map((doc) => doc.toJS() as unknown) : (parse(again, { version: "1.1" }) as unknown);
        expect(restored).toEqual([message, second].map((m) => JSON.parse(JSON.stringify(m)) as unknown));
      }
    }
  }, 120_000);
});
