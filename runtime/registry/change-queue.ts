/**
 * A push-to-pull queue: adapter callbacks (watch streams, sweep timers) push changes, and
 * one async iterator pulls them in order. It ends when the signal aborts or `fail` is called.
 */
export class ChangeQueue<T> {
  readonly #items: T[] = [];
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
      if (this.#items.length > 0) {
        yield this.#items.shift() as T;
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
