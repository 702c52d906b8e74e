/**
 * `npm run bench:message-data`: what it costs a message to own its data (runtime/message.ts).
 * Two ways were possible: copy what the caller gives (and copy again in `toJSON()`), or copy
 * and then deep-freeze (a caller's objects are not ours to freeze, so freezing never saves
 * the copy) and hand out the frozen data. Measured on a typical v0.2 `signal.task.dispatch`,
 * interleaved in one process, beside what `create()` costs in all (validation included), and
 * printed as ratios. It prints; it never fails on timing. Needs the built package
 * (`npm run build`), since the generated SDK imports `@onex/runtime/codegen-v1`.
 *
 * BENCH_ROUNDS (default 9) sets interleaved rounds; BENCH_OPS (default 20000) operations per round.
 */
import { TaskDispatch } from "../generated/v0.2/index.js";
import { copyMessageData } from "../runtime/message.js";

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 9));
const OPS = Math.max(1000, Number(process.env.BENCH_OPS ?? 20000));

const zone = "zone.trusted.org";
const fields = {
  source: { zone, entity_type: "node" as const, entity_id: "node-dispatcher-eu-1" },
  trust: { signer: "key-1", level: "verified" as const, zone, expires_at: "2030-01-01T00:00:00Z" },
  payload: {
    task_id: "task-7f3c9a",
    targets: ["node-render-04", "node-render-05"] as [string, ...string[]],
    operation: "render.frames",
    priority: 5,
    input: { scene: "intro", frames: { from: 1, to: 240 }, tags: ["preview", "hdr"] },
    retry: { max_attempts: 3, backoff_ms: 250 },
  },
};
const value = TaskDispatch.create(fields).toJSON();

function deepFreeze(node: unknown): unknown {
  if (node !== null && typeof node === "object") {
    for (const key of Object.keys(node)) deepFreeze((node as Record<string, unknown>)[key]);
    Object.freeze(node);
  }
  return node;
}

const cases: Record<string, () => unknown> = {
  "copy (what onex does)": () => copyMessageData(value, "bench"),
  "copy + deep freeze": () => deepFreeze(copyMessageData(value, "bench")),
  "structuredClone": () => structuredClone(value),
  "JSON round trip": () => JSON.parse(JSON.stringify(value)),
  "create() in all": () => TaskDispatch.create(fields),
};

const samples = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(cases)) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) if (run()) sink++;
    samples.get(name)!.push(Number(process.hrtime.bigint() - start) / OPS);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const copy = median(samples.get("copy (what onex does)")!);
console.log(`message data ownership, v0.2 signal.task.dispatch, median of ${ROUNDS} rounds x ${OPS} ops (sink ${sink > 0})`);
for (const [name, xs] of samples) {
  const ns = median(xs);
  console.log(`${name.padEnd(24)} ${(ns / 1000).toFixed(2).padStart(8)} µs   ${(ns / copy).toFixed(2)}x copy`);
}
