/**
 * The queue a negotiation service answers its requests from: however many come at once, at
 * most MAX_QUEUED_REQUESTS wait (the rest are turned away when they come), they are answered
 * in the order they came, and one that waited past MAX_WAIT_MS is dropped unanswered. The
 * clock is the test's, so no assertion depends on how fast this machine is.
 */
import { describe, expect, it } from "vitest";
import { MAX_QUEUED_REQUESTS, MAX_WAIT_MS, RequestQueue } from "../../runtime/negotiation/request-queue.js";

describe("a service's request queue", () => {
  it("holds at most MAX_QUEUED_REQUESTS of a flood, answers them in order, and then takes requests again", async () => {
    const queue = new RequestQueue(() => 0);
    const answered: number[] = [];
    const taken: number[] = [];
    let largest = 0;
    for (let i = 0; i < 10 * MAX_QUEUED_REQUESTS; i++) {
      if (queue.add(() => answered.push(i))) taken.push(i);
      largest = Math.max(largest, queue.size);
    }
    expect(largest).toBe(MAX_QUEUED_REQUESTS);
    expect(taken).toEqual([...Array(MAX_QUEUED_REQUESTS).keys()]);
    await expect.poll(() => answered.length).toBe(MAX_QUEUED_REQUESTS);
    expect(answered).toEqual(taken);
    expect(queue.size).toBe(0);
    // After the flood, a request is taken and answered.
    expect(queue.add(() => answered.push(-1))).toBe(true);
    await expect.poll(() => answered.at(-1)).toBe(-1);
  });

  it("drops a request that waited longer than MAX_WAIT_MS, and answers one that did not", async () => {
    let now = 0;
    const queue = new RequestQueue(() => now);
    const answered: string[] = [];
    queue.add(() => answered.push("stale"));
    now = MAX_WAIT_MS + 1;
    queue.add(() => answered.push("fresh"));
    await expect.poll(() => queue.size).toBe(0);
    expect(answered).toEqual(["fresh"]);
  });

  it("goes on answering when an answer throws", async () => {
    const queue = new RequestQueue(() => 0);
    const answered: string[] = [];
    queue.add(() => {
      throw new Error("broken");
    });
    queue.add(() => answered.push("next"));
    await expect.poll(() => answered).toEqual(["next"]);
  });
});
