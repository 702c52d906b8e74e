/**
 * ChangeQueue hands out what was pushed, in order, however pushes and pulls interleave: its
 * backlog is read from a moving head and compacted now and then (runtime/registry/change-queue.ts),
 * which must lose, repeat or reorder nothing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChangeQueue } from "../../runtime/registry/change-queue.js";

describe("ChangeQueue", () => {
  it("pulls every change once, in the order pushed, through bursts large enough to compact its backlog", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 3_000 })), { minLength: 1, maxLength: 12 }), async (steps) => {
        const controller = new AbortController();
        const queue = new ChangeQueue<number>(controller.signal);
        const pulls = queue[Symbol.asyncIterator]();
        let pushed = 0;
        const pulled: number[] = [];
        for (const [push, pull] of steps) {
          for (let i = 0; i < push; i++) queue.push(pushed++);
          const waiting = Math.min(pull, pushed - pulled.length);
          for (let i = 0; i < waiting; i++) pulled.push((await pulls.next()).value as number);
        }
        queue.end();
        for (let next = await pulls.next(); next.done !== true; next = await pulls.next()) pulled.push(next.value);
        expect(pulled).toEqual(Array.from({ length: pushed }, (_, i) => i));
      }),
      { numRuns: 60 },
    );
  });

  it("a pull waiting on an empty queue gets the next push, and the end after the backlog", async () => {
    const controller = new AbortController();
    const queue = new ChangeQueue<string>(controller.signal);
    const pulls = queue[Symbol.asyncIterator]();
    const waiting = pulls.next();
    queue.push("a");
    expect(await waiting).toEqual({ value: "a", done: false });
    queue.push("b");
    controller.abort();
    expect(await pulls.next()).toEqual({ value: "b", done: false });
    expect((await pulls.next()).done).toBe(true);
  });
});
