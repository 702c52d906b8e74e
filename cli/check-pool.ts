/**
 * `onex check` runs its transforms on one worker thread (cli/check-worker.ts), never on the
 * command's own: an escape function that never returns would hold that thread for ever (only a
 * signal ended the check). A watchdog ends the worker when one transform step has run on one
 * sample for longer than the time limit (`--message-timeout`, as `onex migrate` has), and says
 * which step it was. The worker checks the whole graph at once, so the check costs one worker's
 * start and two counters a step, not a worker or a context per call.
 */
import { Worker } from "node:worker_threads";
import { ErrorCode, OnexError, type ErrorCode as Code } from "@onex/runtime";
import type { CheckResult } from "../generator/transforms/check-transforms.js";
import type { VersionModel } from "../generator/model.js";

/** What the worker is started with. */
export interface CheckWorkerData {
  /** URL of the generated transforms module to check (cli/sdk.ts). */
  transforms: string;
  /** The loaded versions, by version, oldest first. */
  models: [string, VersionModel][];
  samples: number;
  seed: number;
  /** Int32 fields (PROGRESS_*) the worker updates around each transform step. */
  progress: SharedArrayBuffer;
}

/** Incremented as a transform step starts and as it ends: odd while one runs. */
export const PROGRESS_CALLS = 0;
/** The step running: its place in the hops the worker posted first. */
export const PROGRESS_HOP = 1;

/** One message type's step between adjacent versions, one way. */
export interface CheckHop {
  type: string;
  from: string;
  to: string;
}

/** What the worker posts: its hops (first), then the result or the error the check ended with. */
export type CheckWorkerMessage = { hops: CheckHop[] } | { result: CheckResult } | { error: { code?: string; message: string; details?: Record<string, unknown>; stack?: string } };

/** The check's outcome: its result, or the step that ran past the time limit (its worker ended). */
export type CheckOutcome = { result: CheckResult } | { timedOut: CheckHop | undefined };

/** Runs checkVersionGraph on a worker; a step that runs past `timeoutMs` on one sample ends it. Rejects with the check's own error (ONEX_E_TRANSFORM_UNSOUND, ...). */
export function checkOnWorker(setup: Omit<CheckWorkerData, "progress">, timeoutMs: number): Promise<CheckOutcome> {
  const progress = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const workerData: CheckWorkerData = { ...setup, progress: progress.buffer as SharedArrayBuffer };
  const worker = new Worker(new URL("./check-worker.js", import.meta.url), { workerData });
  return new Promise<CheckOutcome>((resolve, reject) => {
    let hops: CheckHop[] = [];
    let settled = false;
    let seenCalls = 0;
    let seenAt = Date.now();
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      void worker.terminate();
      finish();
    };
    const watchdog = setInterval(() => {
      const calls = Atomics.load(progress, PROGRESS_CALLS);
      // Even: between steps (sampling, validating, comparing), which no escape function runs in.
      if (calls !== seenCalls || calls % 2 === 0) {
        seenCalls = calls;
        seenAt = Date.now();
        return;
      }
      if (Date.now() - seenAt >= timeoutMs) settle(() => resolve({ timedOut: hops[Atomics.load(progress, PROGRESS_HOP)] }));
    }, Math.max(Math.min(timeoutMs / 4, 1_000), 10));
    worker.on("message", (message: CheckWorkerMessage) => {
      if ("hops" in message) hops = message.hops;
      else if ("result" in message) settle(() => resolve({ result: message.result }));
      else settle(() => reject(errorFrom(message.error)));
    });
    worker.on("error", (error) => settle(() => reject(new OnexError(ErrorCode.Internal, `the check's worker failed: ${String(error)}`))));
    worker.on("exit", (code) => settle(() => reject(new OnexError(ErrorCode.Internal, `the check's worker exited (code ${code})`))));
  });
}

/** The worker's error as the command throws it: an OnexError again (a cloned one is a plain Error), else a bug with its stack. */
function errorFrom(error: { code?: string; message: string; details?: Record<string, unknown>; stack?: string }): Error {
  if (error.code !== undefined) return new OnexError(error.code as Code, error.message, error.details ?? {});
  return new OnexError(ErrorCode.Internal, `the check failed: ${error.stack ?? error.message}`);
}
