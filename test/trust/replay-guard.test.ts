import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { catchOnexError, ErrorCode, NOW } from "./fixtures.js";

/** A minimal envelope: replay only reads id, time and trust.expires_at. */
function message(id: string, createdAt: number, expiresAt = createdAt + 3_600_000) {
  return { id, time: new Date(createdAt).toISOString(), trust: { signer: "k", level: "basic", zone: "z", expires_at: new Date(expiresAt).toISOString() } };
}

describe("ReplayGuard", () => {
  it("refuses bounds it cannot keep, as ONEX_E_USAGE (a window of NaN accepted one message twice)", () => {
    const bad: ConstructorParameters<typeof ReplayGuard>[0][] = [
      { windowMs: Number.NaN },
      { windowMs: 0 },
      { windowMs: -1 },
      { windowMs: Infinity },
      { windowMs: 1e17 },
      { skewMs: Number.NaN },
      { skewMs: -1 },
      { skewMs: Infinity },
      { maxEntries: Number.NaN },
      { maxEntries: 0 },
      { maxEntries: 1.5 },
    ];
    for (const options of bad) expect(catchOnexError(() => new ReplayGuard(options))).toMatchObject({ code: ErrorCode.Usage, message: expect.stringContaining(Object.keys(options!)[0]!) });
    // What it still takes: a replay inside a window of a year is refused.
    const guard = new ReplayGuard({ windowMs: 365 * 86_400_000, skewMs: 0, maxEntries: 1 });
    guard.accept(message("a", NOW), NOW);
    expect(catchOnexError(() => guard.accept(message("a", NOW), NOW + 1000))).toMatchObject({ code: ErrorCode.Replay, details: { reason: "duplicate" } });
  });

  it("accepts an id once inside its window, and again once the window has passed", () => {
    const guard = new ReplayGuard({ windowMs: 60_000 });
    guard.accept(message("a", NOW), NOW);
    expect(catchOnexError(() => guard.accept(message("a", NOW), NOW + 1000))).toMatchObject({ code: ErrorCode.Replay, details: { reason: "duplicate", messageId: "a" } });
    // After the window a replay is refused as stale, not remembered.
    expect(catchOnexError(() => guard.accept(message("a", NOW), NOW + 60_000))).toMatchObject({ code: ErrorCode.Replay, details: { reason: "stale" } });
    guard.accept(message("b", NOW), NOW);
  });

  it("refuses messages from the future beyond the skew, expired ones, and ones without id or time", () => {
    const guard = new ReplayGuard({ windowMs: 60_000, skewMs: 5000 });
    guard.accept(message("near-future", NOW + 4000), NOW);
    expect(catchOnexError(() => guard.accept(message("future", NOW + 6000), NOW)).details.reason).toBe("future");
    expect(catchOnexError(() => guard.accept(message("expired", NOW - 10_000, NOW - 1), NOW)).details.reason).toBe("expired");
    expect(catchOnexError(() => guard.accept({ ...message("x", NOW), id: undefined }, NOW)).details.reason).toBe("no-id");
    expect(catchOnexError(() => guard.accept({ ...message("y", NOW), time: "yesterday" }, NOW)).details.reason).toBe("no-time");
  });

  it("reads a v0.0.9 message's creation time where v0.0.9's generated envelope layout puts it", () => {
    const guard = new ReplayGuard();
    const { time, ...rest } = message("old-version", NOW);
    expect(v0_0_9.envelope.time).toBe("/timestamp");
    guard.accept({ ...rest, timestamp: time, protocol_version: v0_0_9.version }, NOW);
    expect(catchOnexError(() => guard.accept({ ...rest, timestamp: time, protocol_version: v0_0_9.version }, NOW)).code).toBe(ErrorCode.Replay);
    // Read through the layout, not guessed: a v0.0.9 message carrying only a `time` field has no creation time.
    expect(catchOnexError(() => guard.accept({ ...rest, id: "other", time, protocol_version: v0_0_9.version }, NOW)).details.reason).toBe("no-time");
  });

  it("stays within its memory bound and never lets a forgotten id back in", () => {
    const guard = new ReplayGuard({ windowMs: 60_000, maxEntries: 100 });
    for (let i = 0; i < 1000; i++) guard.accept(message(`m${i}`, NOW + i), NOW + 1000);
    expect(guard.size).toBeLessThanOrEqual(100);
    // Every id, remembered or forgotten, is refused on replay.
    for (let i = 0; i < 1000; i++) {
      expect(catchOnexError(() => guard.accept(message(`m${i}`, NOW + i), NOW + 1000)).code).toBe(ErrorCode.Replay);
    }
    // A fresh message newer than everything forgotten is still accepted.
    guard.accept(message("fresh", NOW + 2000), NOW + 2000);
  });

  it("remembers ids per signer: another signer's message under an id uses up nothing, the same signer's is a replay", () => {
    const guard = new ReplayGuard();
    const squatted = { ...message("job-7", NOW), trust: { ...message("job-7", NOW).trust, signer: "squatter" } };
    guard.accept(squatted, NOW);
    guard.accept(message("job-7", NOW), NOW);
    expect(catchOnexError(() => guard.accept(message("job-7", NOW), NOW)).details.reason).toBe("duplicate");
    expect(catchOnexError(() => guard.accept(squatted, NOW)).details.reason).toBe("duplicate");
  });

  it("a flood of ids dated ahead, inside the skew, saturates nothing created now: they are forgotten last", () => {
    const guard = new ReplayGuard({ windowMs: 60_000, skewMs: 30_000, maxEntries: 1_000 });
    for (let i = 0; i < 1_000; i++) guard.accept(message(`ahead${i}`, NOW + 29_000), NOW);
    // Each honest message is accepted and, ending before every flooded id, forgotten at once: the mark stays below the next.
    for (let i = 0; i < 2_000; i++) guard.accept(message(`now${i}`, NOW + i), NOW + i);
    expect(guard.size).toBe(1_000);
    for (const id of ["ahead0", "ahead999"]) expect(catchOnexError(() => guard.accept(message(id, NOW + 29_000), NOW + 2_000)).details.reason).toBe("duplicate");
    // A forgotten honest id is still refused, by the mark.
    expect(catchOnexError(() => guard.accept(message("now0", NOW), NOW + 2_000)).details.reason).toBe("saturated");
  });

  it("under such a flood, a message arriving after one whose window ends later (a publisher's clock ahead) is refused as saturated, a later one accepted", () => {
    const guard = new ReplayGuard({ windowMs: 60_000, skewMs: 30_000, maxEntries: 1_000 });
    for (let i = 0; i < 1_000; i++) guard.accept(message(`ahead${i}`, NOW + 29_000), NOW);
    // From a publisher 5 s ahead: accepted, forgotten at once, and the mark rises to its window end.
    guard.accept(message("ahead-clock", NOW + 5_000), NOW);
    const behind = catchOnexError(() => guard.accept(message("on-time", NOW + 10), NOW + 10));
    expect([behind.code, behind.details.reason]).toEqual([ErrorCode.Replay, "saturated"]);
    guard.accept(message("after-it", NOW + 5_001), NOW + 20);
    expect(guard.size).toBe(1_000);
  });

  it("forgets expired ids first when full, so normal traffic never saturates", () => {
    const guard = new ReplayGuard({ windowMs: 1000, maxEntries: 10 });
    for (let i = 0; i < 100; i++) guard.accept(message(`m${i}`, NOW + i * 500), NOW + i * 500);
    expect(guard.size).toBeLessThanOrEqual(10);
    // The latest message's neighbour (still in its window) is remembered.
    expect(catchOnexError(() => guard.accept(message("m99", NOW + 99 * 500), NOW + 99 * 500)).details.reason).toBe("duplicate");
  });
});
