/**
 * Timers for durations a caller chose (runtime/timer.ts). Node's own hold at most 2^31 - 1 ms
 * and fire a longer one at once; under vitest's fake clock, which does the same, these must
 * fire exactly when asked, and never for Infinity.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { after, MAX_TIMER_MS, timeoutSignal } from "../../runtime/timer.js";

const DAY = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("after", () => {
  it("fires a wait longer than one Node timer holds when it is due, not at once", () => {
    // The clock this test runs on fires a plain setTimeout of 30 days at once, as Node does.
    const plain = vi.fn();
    setTimeout(plain, 30 * DAY);
    vi.advanceTimersByTime(1);
    expect(plain).toHaveBeenCalled();

    const fired = vi.fn();
    after(30 * DAY, fired);
    vi.advanceTimersByTime(30 * DAY - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100 * DAY);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it("fires a short wait as setTimeout does, and at once for 0, a negative number or NaN", () => {
    const fired = [vi.fn(), vi.fn(), vi.fn(), vi.fn()];
    after(250, fired[0]!);
    after(0, fired[1]!);
    after(-5, fired[2]!);
    after(Number.NaN, fired[3]!);
    vi.advanceTimersByTime(0);
    expect(fired.map((f) => f.mock.calls.length)).toEqual([0, 1, 1, 1]);
    vi.advanceTimersByTime(250);
    expect(fired[0]).toHaveBeenCalledTimes(1);
  });

  it("never fires for Infinity, and a cancelled timer never fires", () => {
    const never = vi.fn();
    const cancelled = vi.fn();
    after(Infinity, never);
    const timer = after(MAX_TIMER_MS + 10, cancelled);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    timer.cancel();
    vi.advanceTimersByTime(1_000 * DAY);
    expect(never).not.toHaveBeenCalled();
    expect(cancelled).not.toHaveBeenCalled();
  });
});

describe("timeoutSignal", () => {
  it("aborts a wait longer than one Node timer holds with a TimeoutError when due, and never for Infinity", () => {
    const signal = timeoutSignal(30 * DAY);
    vi.advanceTimersByTime(30 * DAY - 1);
    expect(signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe("TimeoutError");
    const forever = timeoutSignal(Infinity);
    vi.advanceTimersByTime(1_000 * DAY);
    expect(forever.aborted).toBe(false);
  });

  it("is Node's own AbortSignal.timeout for a wait one timer holds", async () => {
    vi.useRealTimers();
    const signal = timeoutSignal(20);
    expect(signal.aborted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe("TimeoutError");
  });
});
