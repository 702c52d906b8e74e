/**
 * Calls a subscription's `onRefusal`, the service developer's code, after the refused message
 * was recorded and acknowledged. A callback that throws, or returns a promise that rejects (an
 * async callback), ends the subscription with ONEX_E_HANDLER_FAILED, as a throw in the loop
 * body ends a for-await: before, a throw ended the iteration with whatever was thrown (a string,
 * undefined) ahead of the message's acknowledgement, so every resume was refused the same
 * message and ended again, and a rejection was an unhandled rejection. The callback is not
 * waited for: one whose promise never settles holds nothing up.
 */
import type { Refusal } from "./control-plane.js";
import { ErrorCode, OnexError } from "./errors.js";

export function callOnRefusal(onRefusal: ((refusal: Refusal) => void) | undefined, refusal: Refusal, failed: (error: OnexError) => void): void {
  if (onRefusal === undefined) return;
  const fail = (error: unknown) =>
    failed(new OnexError(ErrorCode.HandlerFailed, `onRefusal failed on the refused message ${refusal.subject} #${refusal.sequence}: ${error instanceof Error ? error.message : String(error)}`, { sequence: refusal.sequence, subject: refusal.subject }, { cause: error }));
  try {
    const result: unknown = onRefusal(refusal);
    if (result instanceof Promise) result.catch(fail);
  } catch (error) {
    fail(error);
  }
}
