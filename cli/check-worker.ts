/**
 * The worker thread `onex check` checks the version graph on (started by checkOnWorker in
 * cli/check-pool.ts): each transform step is counted in shared memory as it starts and ends,
 * with the step's place beside it, so the command's thread can end a step that never returns.
 */
import { parentPort, workerData } from "node:worker_threads";
import { isOnexError, type VersionGraph } from "@onex/runtime";
import { checkVersionGraph } from "../generator/transforms/check-transforms.js";
import { PROGRESS_CALLS, PROGRESS_HOP, type CheckHop, type CheckWorkerData, type CheckWorkerMessage } from "./check-pool.js";
import { loadFailure } from "./transforms-load-failure.js";

const setup = workerData as CheckWorkerData;
const progress = new Int32Array(setup.progress);

type TransformPair = VersionGraph["steps"][number]["pairs"][string];
type FieldConversion = TransformPair["up"];

/** `graph` with each pair's adapters counted (see PROGRESS_*); `hops` gets each step's place. */
function counted(graph: VersionGraph, hops: CheckHop[]): VersionGraph {
  const timed = (convert: FieldConversion, hop: CheckHop): FieldConversion => {
    const place = hops.push(hop) - 1;
    return (fields, restore, dropped) => {
      Atomics.store(progress, PROGRESS_HOP, place);
      Atomics.add(progress, PROGRESS_CALLS, 1);
      try {
        return convert(fields, restore, dropped);
      } finally {
        Atomics.add(progress, PROGRESS_CALLS, 1);
      }
    };
  };
  const steps = graph.steps.map((step) => {
    const pairs: Record<string, TransformPair> = {};
    for (const [type, pair] of Object.entries(step.pairs)) {
      pairs[type] = { ...pair, up: timed(pair.up, { type, from: step.older, to: step.newer }), down: timed(pair.down, { type, from: step.newer, to: step.older }) };
    }
    return { ...step, pairs };
  });
  return { ...graph, steps };
}

let message: CheckWorkerMessage;
try {
  // Loading the transforms runs their modules' top-level code (escape-function files): timed as a step, at no hop.
  Atomics.store(progress, PROGRESS_HOP, -1);
  Atomics.add(progress, PROGRESS_CALLS, 1);
  const { versionGraph } = (await import(setup.transforms).catch((error: unknown) => Promise.reject(loadFailure(error)))) as { versionGraph: VersionGraph };
  Atomics.add(progress, PROGRESS_CALLS, 1);
  const hops: CheckHop[] = [];
  const graph = counted(versionGraph, hops);
  parentPort!.postMessage({ hops } satisfies CheckWorkerMessage);
  message = { result: checkVersionGraph(graph, new Map(setup.models), { samples: setup.samples, seed: setup.seed }) };
} catch (error) {
  message = isOnexError(error) ? { error: { code: error.code, message: error.message, details: error.details } } : { error: { message: (error as Error)?.message ?? String(error), stack: (error as Error)?.stack } };
}
try {
  parentPort!.postMessage(message);
} catch (error) {
  // Details a clone cannot carry (a function): the error without them.
  if (!("error" in message)) throw error;
  parentPort!.postMessage({ error: { ...message.error, details: { lines: message.error.details?.lines } } } satisfies CheckWorkerMessage);
}
