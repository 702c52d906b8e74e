/**
 * Timers for durations a caller chose. Node's timers hold at most 2^31 - 1 ms (about 24.8
 * days) and fire a longer one at once, with a warning: a `timeoutMs` of 30 days, or Infinity
 * for "no limit", timed out straight away. These wait as long as asked; Infinity never fires.
 */

/** The longest one Node timer waits. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending `after`. */
export interface Timer {
  cancel(): void;
}

/**
 * Calls `fn` once `ms` have passed: any length (a long wait is a chain of timers), never for
 * Infinity, at once for 0, a negative number or NaN. With `unref`, it does not keep the process alive.
 */
export function after(ms: number, fn: () => void, options: { unref?: boolean } = {}): Timer {
  let left = ms > 0 ? ms : 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (left === Infinity) return;
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    timer = setTimeout(left > 0 ? arm : fn, step);
    if (options.unref) timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}

/** As AbortSignal.timeout (a TimeoutError, a timer that keeps nothing alive), for any `ms` that `after` takes. */
export function timeoutSignal(ms: number): AbortSignal {
  // Node's own, where it can: its timer goes with the signal once nothing holds the signal.
  if (ms >= 0 && ms <= MAX_TIMER_MS) return AbortSignal.timeout(ms);
  const controller = new AbortController();
  after(ms, () => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), { unref: true });
  return controller.signal;
}
