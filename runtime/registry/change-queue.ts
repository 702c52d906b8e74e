/**
 * A push-to-pull queue: adapter callbacks (watch streams, sweep timers) push changes, and
 * one async iterator pulls them in order. It ends when the signal aborts or `fail` is called.
 */
export class ChangeQueue<T> {
  /** Changes not yet pulled: #items from #head on. */
  #items: T[] = [];
  /**
   * The next change to pull. Pulled changes stay in #items until the queue empties (or they are
   * half of it): Array.prototype.shift copies the whole backlog once it is past about 32,000
   * items, 10 µs a change at 100,000 (a large registry's first sync, a stalled consumer).
   */
  #head = 0;
  #waiting: ((value: IteratorResult<T>) => void) | undefined;
  #rejectWaiting: ((error: unknown) => void) | undefined;
  #ended = false;
  #error: unknown;

  constructor(signal: AbortSignal) {
    if (signal.aborted) this.end();
    else signal.addEventListener("abort", () => this.end(), { once: true });
  }

  /** True once the queue ended (aborted or failed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Adds a change; ignored after the end. */
  push(item: T): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = this.#rejectWaiting = undefined;
      waiting({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  /** Ends the iteration after the queued items. */
  end(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = this.#rejectWaiting = undefined;
    waiting?.({ value: undefined as T, done: true });
  }

  /** Ends the iteration with an error. */
  fail(error: unknown): void {
    this.#error = error;
    const reject = this.#rejectWaiting;
    this.end();
    reject?.(error);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.#head < this.#items.length) {
        const item = this.#items[this.#head]!;
        this.#items[this.#head++] = undefined as T;
        if (this.#head === this.#items.length) {
          this.#items = [];
          this.#head = 0;
        } else if (this.#head >= 1_024 && this.#head * 2 >= this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        yield item;
        continue;
      }
      if (this.#ended) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        this.#waiting = resolve;
        this.#rejectWaiting = reject;
      });
      if (next.done) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      yield next.value;
    }
  }
}
