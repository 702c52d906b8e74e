/**
 * readJsonValues (cli/key-files.ts): the records a command is given in one file (`verify
 * --entries`), as a JSON array, one JSON value, or NDJSON as `onex registry list` prints them.
 * Whatever the layout, a value the one JSON parser refuses is refused with its own code.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readJsonValues } from "../../cli/key-files.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { scratch } from "./cli-harness.js";

const { dir, remove } = scratch("json-values");
afterAll(remove);

/** The values `text` holds, or the code and line it is refused with. */
function read(text: string): unknown {
  const path = join(dir, "values.json");
  writeFileSync(path, text);
  try {
    return readJsonValues(path, "records file");
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    return { code: error.code, line: error.details.line };
  }
}

describe("readJsonValues", () => {
  it("reads a JSON array, one value, and NDJSON alike", () => {
    expect(read('[\n  {"a": 1},\n  {"a": 2}\n]\n')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(read('{"a": 1}\n')).toEqual([{ a: 1 }]);
    expect(read('{"a": 1}\n\n{"a": 2}\n')).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it("names the NDJSON line a refused value is on", () => {
    expect(read('{"a": 1}\n{"a": 2}\n{"a": 3, "a": 4}\n')).toEqual({ code: ErrorCode.JsonDuplicateKey, line: 3 });
    expect(read('{"a": 1}\n{"a": \n')).toEqual({ code: ErrorCode.JsonSyntax, line: 2 });
  });

  it("a pretty-printed array is refused for what is wrong in it, not as a syntax error at its '['", () => {
    // Read as NDJSON, its first line ("[") was the error: ONEX_E_JSON_SYNTAX at line 1 for a duplicate member name.
    expect(read('[\n  {"a": 1},\n  {"a": 2, "a": 3}\n]\n')).toEqual({ code: ErrorCode.JsonDuplicateKey, line: 3 });
    expect(read('[\n  {"n": 12345678901234567890}\n]\n')).toMatchObject({ code: ErrorCode.NumberRange });
    expect(read('[\n  {"a": 1}\n')).toMatchObject({ code: ErrorCode.JsonSyntax });
  });
});
