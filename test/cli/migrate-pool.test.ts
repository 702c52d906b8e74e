/**
 * The pieces of `onex migrate` on NDJSON that move work between threads: the reader that
 * hands over whole lines as bytes (readInputLineBatches + readNdjsonBytes must give the same
 * items, line numbers and errors as reading in place, wherever the chunks of the input fall),
 * and the worker pool (results in submission order, each exactly what migrating the batch on
 * this thread gives: the output bytes and the bad messages with their dead letters).
 * The pool runs the built workers (dist/cli), as the CLI does.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { readInputBatches, readInputLineBatches, readNdjsonBytes, type ByteBatch, type InputItem } from "../../cli/message-input.js";
import { migrateBatch, type MigratedPiece } from "../../cli/migrate-batch.js";
import { OutputBytes } from "../../cli/migrate-output-bytes.js";
import { migrate } from "../../generated/transforms/index.js";
import { scratch } from "./cli-harness.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const { dir, remove } = scratch("migrate-pool");
afterAll(remove);

const { readFileSync } = await import("node:fs");
const examples = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8").trim().split("\n");

/** Lines of every kind the reader and the workers must treat alike. */
const line = fc.oneof(
  { arbitrary: fc.constantFrom(...examples), weight: 6 },
  fc.constantFrom("", "   ", "{not json", '{"a":1,"a":2}', '{"type":"event.node.sneezed"}', "[1,2]", "\u0000oops", "9007199254740993", '"\\u003a"'),
  fc.constantFrom(...examples).map((l) => l.replace('"capabilities":[', '"capabilities":["x\\u0041",')),
  fc.integer({ min: 20_000, max: 200_000 }).map((n) => `{"pad":"${"x".repeat(n)}"}`),
);
const ending = fc.constantFrom("\n", "\n", "\r\n");
/** An input as bytes: lines with endings, sometimes a line of invalid UTF-8, sometimes no final newline. */
const ndjson = fc
  .tuple(fc.array(fc.tuple(line, ending, fc.boolean()), { minLength: 1, maxLength: 60, size: "medium" }), fc.boolean())
  .map(([lines, unterminated]) => {
    const parts = lines.map(([text, end, broken]) => Buffer.concat([Buffer.from(text), broken && text.length % 7 === 0 ? Buffer.from([0xc3, 0x28]) : Buffer.alloc(0), Buffer.from(end)]));
    const bytes = Buffer.concat(parts);
    return unterminated && bytes[bytes.length - 1] === 0x0a ? bytes.subarray(0, bytes.length - 1) : bytes;
  });

/** Everything about an item that migrate shows: where it is, what it holds, why it is bad. */
function summary(item: InputItem): unknown {
  return { ...item, ...("error" in item ? { error: [item.error.code, item.error.message, item.error.details] } : {}) };
}

async function inPlace(file: string): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const batch of readInputBatches({ file, bigIntegers: "bigint" })) items.push(...batch.map(summary));
  return items;
}

async function handedOver(file: string): Promise<{ items: unknown[]; batches: ByteBatch[] }> {
  const items: unknown[] = [];
  const batches: ByteBatch[] = [];
  for await (const batch of readInputLineBatches({ file, bigIntegers: "bigint" })) {
    if (Array.isArray(batch)) items.push(...batch.map(summary));
    else {
      batches.push(batch);
      items.push(...[...readNdjsonBytes(batch.bytes, batch.firstLine, file, "bigint")].map(summary));
    }
  }
  return { items, batches };
}

describe("readInputLineBatches", () => {
  it("hands over lines that read exactly as reading in place, wherever the input's chunks end", async () => {
    let n = 0;
    let handed = 0;
    let several = 0;
    await fc.assert(
      fc.asyncProperty(ndjson, async (bytes) => {
        const file = join(dir, `input-${n++}.ndjson`);
        writeFileSync(file, bytes);
        const { items, batches } = await handedOver(file);
        expect(items).toEqual(await inPlace(file));
        handed += batches.length;
        if (batches.length > 1) several++;
        for (const batch of batches) {
          // Each batch owns its memory (it is moved to a worker), and only the input's last batch may say it is the last.
          expect(batch.bytes.byteOffset).toBe(0);
          expect(batch.bytes.buffer.byteLength).toBe(batch.bytes.length);
          if (batch !== batches.at(-1)) expect(batch.last).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
    // The property is about handed-over lines: most inputs must have been handed over, some in several batches.
    expect(handed).toBeGreaterThan(30);
    expect(several).toBeGreaterThan(3);
  });
});

describe("OutputBytes", () => {
  it("takes pieces whose bytes are the UTF-8 of the texts added, however small the buffer it starts in", () => {
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 300 }));
    const step = fc.oneof({ arbitrary: text.map((t) => ({ add: t })), weight: 5 }, fc.constant({ take: true as const }));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.integer({ min: 0, max: 64 }), (steps, size) => {
        const output = new OutputBytes(size % 2 === 0 ? new ArrayBuffer(size) : undefined, size);
        const expected: string[] = [];
        const got: Uint8Array[] = [];
        let pending = "";
        for (const s of [...steps, { take: true as const }]) {
          if ("add" in s) {
            output.add(s.add);
            pending += s.add;
            continue;
          }
          got.push(output.take());
          expected.push(pending);
          pending = "";
        }
        // Compared at the end: a piece taken before the buffer grew must still hold its bytes.
        expect(got.map((piece) => Buffer.from(piece).toString("hex"))).toEqual(expected.map((t) => Buffer.from(t).toString("hex")));
        for (const piece of got) expect(output.buffers.has(piece.buffer as ArrayBuffer)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe("MigratePool", () => {
  it("gives back each batch's pieces in submission order, exactly as migrating it here", async () => {
    const { MigratePool } = (await import(pathToFileURL(join(PROJECT_ROOT, "dist/cli/migrate-pool.js")).href)) as typeof import("../../cli/migrate-pool.js");
    const file = join(dir, "pool.ndjson");
    const lines = Array.from({ length: 4_000 }, (_, i) => (i % 97 === 5 ? "{not json" : i % 89 === 7 ? '{"type":"event.node.sneezed"}' : examples[i % examples.length]!));
    writeFileSync(file, lines.join("\n") + "\n");
    const { batches } = await handedOver(file);
    expect(batches.length).toBeGreaterThan(4);
    const expected = batches.map((b) => migrateBatch(readNdjsonBytes(b.bytes, b.firstLine, file, "bigint"), "0.2", "0.1", "ndjson", 0, migrate));

    const pool = new MigratePool(2, { file, from: "0.2", to: "0.1", transforms: pathToFileURL(join(PROJECT_ROOT, "generated/dist/transforms/index.js")).href });
    try {
      while (!pool.ready) await new Promise((resolve) => setTimeout(resolve, 10));
      const asText = (pieces: MigratedPiece[]) => pieces.map((p) => ("text" in p ? { ...p, text: Buffer.from(p.text).toString() } : p));
      const got: unknown[] = [];
      const take = async () => {
        const { pieces } = await pool.take();
        got.push(asText(pieces));
        // As the command does once the bytes are written: later batches are encoded into these buffers.
        for (const buffer of new Set(pieces.flatMap((p) => ("text" in p && typeof p.text !== "string" ? [p.text.buffer as ArrayBuffer] : [])))) pool.buffers.returnOutput(buffer);
      };
      for (const batch of batches) {
        // Copies: submitting moves the bytes away.
        pool.submit({ ...batch, bytes: Buffer.from(new Uint8Array(batch.bytes)) });
        while (pool.full) await take();
      }
      while (pool.pending) await take();
      expect(got).toEqual(expected.map(asText));
      // Bad lines of several kinds came back too (not JSON, unknown type, no counterpart in v0.1).
      const codes = new Set((got as MigratedPiece[][]).flat().flatMap((p) => ("code" in p ? [p.code] : [])));
      expect([...codes].sort()).toEqual(["ONEX_E_JSON_SYNTAX", "ONEX_E_NO_COUNTERPART", "ONEX_E_UNKNOWN_TYPE"]);
    } finally {
      await pool.close();
    }
  });
});
