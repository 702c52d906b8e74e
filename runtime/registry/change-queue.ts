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
  /** The last change pushed about each key (push's `key`) while it waits to be pulled: see `pendingAt`. */
  readonly #pendingByKey = new Map<string, T>();
  readonly #keyOf = new WeakMap<object, string>();

  constructor(signal: AbortSignal) {
    if (signal.aborted) this.end();
    else signal.addEventListener("abort", () => this.end(), { once: true });
  }

  /** True once the queue ended (aborted or failed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Adds a change; ignored after the end. With `key`, the change is about that key (see `pendingAt`). */
  push(item: T, key?: string): void {
    if (this.#ended) return;
    if (key !== undefined) this.#pendingByKey.delete(key);
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = this.#rejectWaiting = undefined;
      waiting({ value: item, done: false });
    } else {
      this.#items.push(item);
      if (key !== undefined && typeof item === "object" && item !== null) {
        this.#pendingByKey.set(key, item);
        this.#keyOf.set(item, key);
      }
    }
  }

  /**
   * The last change pushed about `key`, while it still waits to be pulled (a reader that is behind):
   * the caller may fold a later change into it rather than queue one more.
   */
  pendingAt(key: string): T | undefined {
    return this.#pendingByKey.get(key);
  }

  #pulled(item: T): void {
    if (typeof item !== "object" || item === null) return;
    const key = this.#keyOf.get(item);
    if (key !== undefined && this.#pendingByKey.get(key) === item) this.#pendingByKey.delete(key);
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
        this.#pulled(item);
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
