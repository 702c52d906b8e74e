/** The bounded queue of requests a negotiation service answers in turn. */

/**
 * Requests a service has taken in and not answered yet. An answer costs up to half a
 * millisecond (a signed 20 KB schemas document), so whoever may publish on the subjects can
 * send requests far faster than they are answered. nats.js hands a subscription each message
 * as it reads it; answering them there, in turn, leaves the backlog in the socket and the
 * server, unbounded, and answered minutes late. Here the reading goes on while requests wait:
 * at most MAX_QUEUED_REQUESTS wait (a new one past that is turned away at once), and one that
 * waited longer than MAX_WAIT_MS is dropped unanswered (its requester has given up by then).
 */
export class RequestQueue {
  #waiting: { at: number; answer: () => unknown }[] = [];
  #head = 0;
  #scheduled = false;
  readonly #now: () => number;

  /** `now` reads the clock requests' waits are measured on (milliseconds). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Queues `answer`; false when MAX_QUEUED_REQUESTS are waiting already. */
  add(answer: () => unknown): boolean {
    if (this.#waiting.length - this.#head >= MAX_QUEUED_REQUESTS) return false;
    this.#waiting.push({ at: this.#now(), answer });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
    return true;
  }

  /** Requests waiting now. */
  get size(): number {
    return this.#waiting.length - this.#head;
  }

  clear(): void {
    this.#waiting = [];
    this.#head = 0;
  }

  /** Answers a few, then lets the connection read on (setImmediate runs after pending I/O). */
  #drain(): void {
    this.#scheduled = false;
    for (let n = 0; n < ANSWERS_PER_TURN && this.#head < this.#waiting.length; n++) {
      const next = this.#waiting[this.#head++]!;
      if (this.#now() - next.at > MAX_WAIT_MS) continue;
      try {
        next.answer();
      } catch {
        // respond() and answerHandshake's wrapper catch their own; nothing here stops the queue.
      }
    }
    if (this.#head === this.#waiting.length) this.clear();
    else if (this.#head > 1_024) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    if (this.size > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
  }
}

/** Requests (probes and offers) waiting for an answer at most; a flood past it is turned away, not queued. */
export const MAX_QUEUED_REQUESTS = 256;
/** A request that waited this long (ms) is dropped unanswered: initiators wait 2 s by default. */
export const MAX_WAIT_MS = 2_000;
/** Requests answered before the connection gets to read again. */
const ANSWERS_PER_TURN = 16;
