/**
 * `onex validate` on a 100 MB JSON file on one line (an array of v0.1
 * messages, what `JSON.stringify` and `jq -c` write), against `jq empty` reading the same
 * file, in the same run. Prints seconds, ms per MB and the ratio. The old reader re-split the
 * carried-over text per 64 KiB chunk and did not finish on such a file. Not a test: it never
 * fails on timing.
 *   BENCH_MB=100 node --import tsx bench/input-reader.bench.ts
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MB = Number(process.env.BENCH_MB ?? 100);
const dir = mkdtempSync(join(tmpdir(), "onex-bench-input-"));

function message(n: number): string {
  return JSON.stringify({
    type: "signal.task.dispatch",
    id: `6f1c2a4e-1111-4000-8000-${String(n).padStart(12, "0")}`,
    time: "2026-06-01T12:00:00Z",
    protocol: { version: "0.1", compatible_with: ["0.0.9"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.1/manifest.yaml" },
    source: { zone: "zone.trusted.org", entity_type: "node", entity_id: `node-${n % 97}` },
    trust: { signer: "key-0123456789abcdef0123456789abcdef", level: "verified", zone: "zone.trusted.org", expires_at: "2027-01-01T00:00:00Z" },
    payload: { task_id: `t-${n}`, target: "node-b", action: "render", priority: n % 10, input: { frames: [1, 2, 3], scene: "intro", quality: 0.85 } },
  });
}

async function writeOneLine(file: string, bytes: number): Promise<number> {
  const out = createWriteStream(file);
  let written = 1;
  let count = 0;
  let chunk = "[";
  while (written < bytes) {
    const text = (count === 0 ? "" : ",") + message(count);
    chunk += text;
    written += Buffer.byteLength(text);
    count++;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end(chunk + "]");
  await once(out, "finish");
  return count;
}

function time(command: string, args: string[]): { seconds: number; status: number | null; stderr: string } {
  const started = process.hrtime.bigint();
  const run = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 26 });
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, status: run.status, stderr: run.stderr.trim().split("\n").at(-1) ?? "" };
}

const file = join(dir, "one-line.json");
const count = await writeOneLine(file, MB * 1024 * 1024);
const size = statSync(file).size / (1024 * 1024);
console.log(`input: ${size.toFixed(1)} MB on one line, ${count} messages`);
const onex = time(process.execPath, [join(ROOT, "bin/onex.js"), "validate", "v0.1", file]);
console.log(`onex validate: ${onex.seconds.toFixed(2)} s, ${((onex.seconds * 1000) / size).toFixed(1)} ms/MB (exit ${onex.status}: ${onex.stderr})`);
const jq = time("jq", ["empty", file]);
console.log(`jq empty:      ${jq.seconds.toFixed(2)} s, ${((jq.seconds * 1000) / size).toFixed(1)} ms/MB (exit ${jq.status})`);
if (onex.status !== 0 || jq.status !== 0) console.log("a run did not complete: no ratio (is dist/ built? run `npm run build`)");
else console.log(`ratio onex/jq: ${(onex.seconds / jq.seconds).toFixed(2)} (onex also validates every message against its schema)`);
rmSync(dir, { recursive: true, force: true });
