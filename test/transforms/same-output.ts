/**
 * Byte-for-byte comparison of two command outputs of several MB for the migrate tests. A deep
 * `toEqual` of Buffers that size takes seconds each (about 5 s a MB), which under a loaded
 * machine pushed a test with a few of them past its 30 s timeout: Buffer.equals decides, and
 * only a difference is reported, as the first line that differs.
 */
import { expect } from "vitest";

export function expectSameOutput(actual: string | Buffer, expected: string | Buffer): void {
  const a = typeof actual === "string" ? Buffer.from(actual) : actual;
  const b = typeof expected === "string" ? Buffer.from(expected) : expected;
  if (a.equals(b)) return;
  const aLines = a.toString("utf8").split("\n");
  const bLines = b.toString("utf8").split("\n");
  let i = 0;
  while (i < aLines.length && i < bLines.length && aLines[i] === bLines[i]) i++;
  expect({ line: i + 1, text: aLines[i]?.slice(0, 4_000) }).toEqual({ line: i + 1, text: bLines[i]?.slice(0, 4_000) });
  expect(a.length).toBe(b.length);
  expect(a.equals(b), "the outputs differ in bytes their text does not show").toBe(true);
}
