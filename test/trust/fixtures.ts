/** Shared test data for the trust tests: a typical v0.1 message and a fixed clock. */
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";

/** The fixed "now" the trust tests judge at. */
export const NOW = Date.parse("2026-06-01T12:00:00Z");
export const ZONE = "zone.trusted.org";

/** A typical v0.1 `signal.task.dispatch`, created a second before NOW, trusted until the end of the year. */
export function taskDispatch(signer = "key-unset", overrides: { id?: string; time?: string; expires_at?: string; zone?: string; entity_id?: string } = {}): v0_1.TaskDispatch {
  return v0_1.TaskDispatch.create({
    ...(overrides.id === undefined ? {} : { id: overrides.id }),
    time: overrides.time ?? new Date(NOW - 1000).toISOString(),
    source: { zone: overrides.zone ?? ZONE, entity_type: "node", entity_id: overrides.entity_id ?? "node-dispatcher" },
    trust: { signer, level: "verified", zone: overrides.zone ?? ZONE, expires_at: overrides.expires_at ?? "2026-12-31T00:00:00Z" },
    payload: { task_id: "t-42", target: "node-worker", action: "render", priority: 5, input: { frames: [1, 2, 3], scene: "intro", quality: 0.85 } },
  });
}

/** Runs `fn` and returns the OnexError it throws; fails the test when it throws nothing or something else. */
export function catchOnexError(fn: () => unknown): OnexError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OnexError) return error;
    throw error;
  }
  throw new Error("expected an OnexError, but nothing was thrown");
}

export { ErrorCode };
