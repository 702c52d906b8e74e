/**
 * The pieces of `onex migrate` on NDJSON that move work between threads: the reader that
 * hands over whole lines as bytes (readInputLineBatches + readNdjsonBytes must give the same
 * items, line numbers and errors as reading in place, wherever the chunks of the input fall),
 * and the worker pool (results in submission order, each exactly what migrating the batch on
 * this thread gives: the output bytes and the bad messages with their dead letters).
 * The pool runs the built workers (dist/cli), as the CLI does.
 */
import { spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { readInputBatches, readInputLineBatches, readNdjsonBytes, type ByteBatch, type InputItem } from "../../cli/message-input.js";
import { migrateBatch, type MigratedPiece } from "../../cli/migrate-batch.js";
import { OutputBytes } from "../../cli/migrate-output-bytes.js";
import { migrate } from "../../generated/transforms/index.js";
import { onex, scratch } from "./cli-harness.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const { dir, remove } = scratch("migrate-pool");
afterAll(remove);

const { readFileSync } = await import("node:fs");
const examples = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8").trim().split("\n");

/** Lines of every kind the reader and the workers must treat alike. */
const line = fc.oneof(
  { arbitrary: fc.constantFrom(...examples), weight: 6 },
  fc.constantFrom("", "   ", "{not json", '{"a":1,"a":2}', '{"type":"event.node.sneezed"}', "[1,2]", "[[{}],[1]]", "[{},1,[2]]", "[]", "\ufeff", "\ufeff[1]", "\ufeff\ufeff{}", "\u0000oops", "9007199254740993", '"\\u003a"'),
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
          // Each batch owns its memory (it is moved to a worker: a file's batch is the start of the buffer it was
          // read into, whose rest holds nothing in use), and only the input's last batch may say it is the last.
          expect(batch.bytes.byteOffset).toBe(0);
          expect(batch.bytes.buffer.byteLength).toBeGreaterThanOrEqual(batch.bytes.length);
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

  it("keeps a result's output slot until the command says it is written, however many batches come after", async () => {
    const { MigratePool } = (await import(pathToFileURL(join(PROJECT_ROOT, "dist/cli/migrate-pool.js")).href)) as typeof import("../../cli/migrate-pool.js");
    const file = join(dir, "held.ndjson");
    writeFileSync(file, Array.from({ length: 4_000 }, (_, i) => examples[i % examples.length]!).join("\n") + "\n");
    const { batches } = await handedOver(file);
    expect(batches.length).toBeGreaterThan(4);
    const asText = (pieces: MigratedPiece[]) => pieces.map((p) => ("text" in p ? Buffer.from(p.text).toString() : p));
    const pool = new MigratePool(2, { file, from: "0.2", to: "0.1", transforms: pathToFileURL(join(PROJECT_ROOT, "generated/dist/transforms/index.js")).href });
    try {
      while (!pool.ready) await new Promise((resolve) => setTimeout(resolve, 10));
      pool.submit({ ...batches[0]!, bytes: Buffer.from(new Uint8Array(batches[0]!.bytes)) });
      // The first result is held, as while its bytes wait on a slow --out; its text is a view of its slot.
      const held = await pool.take();
      expect(held.pieces.some((p) => "text" in p && typeof p.text !== "string" && p.text.buffer instanceof SharedArrayBuffer)).toBe(true);
      const before = asText(held.pieces);
      for (const batch of batches.slice(1)) {
        pool.submit({ ...batch, bytes: Buffer.from(new Uint8Array(batch.bytes)) });
        const { written } = await pool.take();
        written();
      }
      expect(asText(held.pieces)).toEqual(before);
      held.written();
    } finally {
      await pool.close();
    }
  });
  it("holds back batches once about 64 MiB of input is in flight, so long lines do not go to every worker at once", async () => {
    const { MigratePool } = (await import(pathToFileURL(join(PROJECT_ROOT, "dist/cli/migrate-pool.js")).href)) as typeof import("../../cli/migrate-pool.js");
    const file = join(dir, "long-lines.ndjson");
    const long = JSON.parse(examples.find((l) => l.includes('"signal.task.dispatch"'))!) as { payload: { input: Record<string, string> } };
    long.payload.input.document = "x".repeat(33 * 1024 * 1024);
    const line = Buffer.from(JSON.stringify(long) + "\n");
    const pool = new MigratePool(4, { file, from: "0.2", to: "0.1", transforms: pathToFileURL(join(PROJECT_ROOT, "generated/dist/transforms/index.js")).href });
    try {
      while (!pool.ready) await new Promise((resolve) => setTimeout(resolve, 10));
      // Four workers take sixteen small batches before they are full; two of these lines are enough.
      pool.submit({ bytes: Buffer.from(line), firstLine: 1, last: false });
      expect(pool.full).toBe(false);
      pool.submit({ bytes: Buffer.from(line), firstLine: 2, last: true });
      expect(pool.full).toBe(true);
      const first = await pool.take();
      expect(pool.full).toBe(false);
      const second = await pool.take();
      for (const [n, result] of [first, second].entries()) {
        const text = result.pieces.map((p) => ("text" in p ? Buffer.from(p.text).toString() : JSON.stringify(p))).join("");
        const migrated = JSON.parse(text) as { protocol: { version: string }; payload: { input: { document: string } } };
        expect([n, migrated.protocol.version, migrated.payload.input.document.length]).toEqual([n, "0.1", 33 * 1024 * 1024]);
      }
    } finally {
      await pool.close();
    }
  });
});

describe("MigratePool when a worker is gone", () => {
  const realTransforms = pathToFileURL(join(PROJECT_ROOT, "generated/dist/transforms/index.js")).href;
  /** A transforms module for the workers: the generated one, plus `onLoad` (run in each worker as it loads) and `inMigrate` (run as each message is migrated). */
  const transformsWith = (name: string, onLoad: string, inMigrate = ""): string => {
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, `import { migrate as real } from ${JSON.stringify(realTransforms)};\nlet calls = 0;\n${onLoad}\nexport function migrate(...args) { calls++; ${inMigrate} return real(...args); }\n`);
    return pathToFileURL(file).href;
  };
  const loadPool = async () => ((await import(pathToFileURL(join(PROJECT_ROOT, "dist/cli/migrate-pool.js")).href)) as typeof import("../../cli/migrate-pool.js")).MigratePool;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** What `promise` settles with, or "hung" after `ms`. */
  const settled = <T>(promise: Promise<T>, ms = 10_000) =>
    Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), sleep(ms).then(() => "hung" as const)]);
  const internal = (outcome: unknown, message: RegExp) => {
    expect(outcome).not.toBe("hung");
    const error = (outcome as { error?: { code?: string; message?: string } }).error;
    expect(error?.code).toBe("ONEX_E_INTERNAL");
    expect(error?.message).toMatch(message);
  };

  const file = join(dir, "gone.ndjson");
  writeFileSync(file, Array.from({ length: 2_000 }, (_, i) => examples[i % examples.length]!).join("\n") + "\n");

  it("fails every later submit and take with an internal error when a worker dies while idle (a batch given to it was lost)", async () => {
    const MigratePool = await loadPool();
    const { batches } = await handedOver(file);
    // Each worker throws outside any job, a while after it said it was ready.
    const pool = new MigratePool(2, { file, from: "0.2", to: "0.1", transforms: transformsWith("idle-throw", "setTimeout(() => { throw new Error('adapters failed later'); }, 300);") });
    try {
      for (let i = 0; i < 500 && !pool.ready; i++) await sleep(10);
      await sleep(800);
      const outcome = await settled(
        (async () => {
          pool.submit({ ...batches[0]!, bytes: Buffer.from(new Uint8Array(batches[0]!.bytes)) });
          return pool.take();
        })(),
      );
      internal(outcome, /a migrate worker failed: Error: adapters failed later/);
      await expect(settled(pool.failed)).resolves.toMatchObject({ error: { code: "ONEX_E_INTERNAL" } });
    } finally {
      await pool.close();
    }
  });

  it("rejects the batches in flight when a worker exits in the middle of one", async () => {
    const MigratePool = await loadPool();
    const { batches } = await handedOver(file);
    expect(batches.length).toBeGreaterThan(3);
    // Each worker exits in the middle of its second batch or so.
    const pool = new MigratePool(2, { file, from: "0.2", to: "0.1", transforms: transformsWith("exit-mid-batch", "", "if (calls === 500) process.exit(7);") });
    try {
      for (let i = 0; i < 500 && !pool.ready; i++) await sleep(10);
      const outcome = await settled(
        (async () => {
          for (let round = 0; round < 20; round++)
            for (const batch of batches) {
              pool.submit({ ...batch, bytes: Buffer.from(new Uint8Array(batch.bytes)) });
              while (pool.full) {
                const { written } = await pool.take();
                written();
              }
            }
          while (pool.pending) (await pool.take()).written();
        })(),
      );
      internal(outcome, /a migrate worker exited \(code 7\)/);
    } finally {
      await pool.close();
    }
  });

  it("fails, rather than never becoming ready, when every worker dies loading the adapters", async () => {
    const MigratePool = await loadPool();
    for (const [name, extra, message] of [
      ["throw-on-load", "throw new Error('adapters broken');", /a migrate worker failed: Error: adapters broken/],
      ["exit-on-load", "process.exit(5);", /a migrate worker exited \(code 5\) before loading the adapters/],
    ] as const) {
      const pool = new MigratePool(2, { file, from: "0.2", to: "0.1", transforms: transformsWith(name, extra) });
      try {
        const outcome = await settled(
          (async () => {
            for (;;) {
              if (pool.ready) return "ready";
              await sleep(10);
            }
          })(),
        );
        internal(outcome, message);
        await expect(pool.take()).rejects.toMatchObject({ code: "ONEX_E_INTERNAL" });
      } finally {
        await pool.close();
      }
    }
  });
});

describe("onex migrate when a worker is gone", () => {
  it("ends the run with ONEX_E_INTERNAL, exit 70, leaving neither --out nor --dead-letter nor a temporary file", async () => {
    // A project whose v0.1 -> v0.2 escape function ends the worker thread it runs on (a thread has no stdin file descriptor).
    const root = join(dir, "crashing-project");
    await cp(join(PROJECT_ROOT, "schemas"), join(root, "schemas"), { recursive: true });
    const functions = join(root, "schemas", "v0.2", "from-v0.1.ts");
    const original = readFileSync(functions, "utf8");
    const marker = "export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n";
    expect(original).toContain(marker);
    writeFileSync(functions, original.replace(marker, `${marker}  if ((process.stdin as { fd?: number }).fd === undefined) process.exit(9);\n`));
    const previousCache = process.env.ONEX_CACHE_DIR;
    process.env.ONEX_CACHE_DIR = join(dir, "crashing-cache");
    try {
      expect(onex(root, ["generate"]).code).toBe(0);
      const v01 = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.1.ndjson"), "utf8").trim().split("\n");
      const chunk = Array.from({ length: 2_000 }, (_, i) => v01[i % v01.length]!).join("\n") + "\n";
      // Lines keep coming until the run ends: this thread migrates them until a worker has loaded the adapters, and the first batch a worker takes ends it.
      const child = spawn(process.execPath, [join(PROJECT_ROOT, "bin", "onex.js"), "migrate", "v0.1", "v0.2", "-", "--out", "out.ndjson", "--dead-letter", "dead.ndjson", "--workers", "2"], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdin.on("error", () => undefined);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      let done = false;
      void exited.then(() => (done = true));
      for (let i = 0; i < 600 && !done; i++) {
        child.stdin.write(chunk);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      child.stdin.end();
      expect([await exited, stdout]).toEqual([70, ""]);
      expect(stderr).toMatch(/^error ONEX_E_INTERNAL: .*worker/m);
      expect(readdirSync(root).filter((name) => !["schemas", "generated"].includes(name))).toEqual([]);
    } finally {
      process.env.ONEX_CACHE_DIR = previousCache;
    }
  }, 180_000);
});
