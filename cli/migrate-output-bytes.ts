/**
 * A migrate batch's output, encoded to UTF-8 message by message into one buffer: a shared
 * output slot (cli/migrate-pool.ts) the command's thread writes from, or memory of its own.
 * Gathering a batch into one string and encoding it at the end cost ~0.6 µs a message (the
 * joined string is flattened, then encoded, and lives through collections until then); writing
 * each message's text into the buffer as it comes costs ~0.1.
 */
import type { OutputText } from "./migrate-batch.js";

export class OutputBytes implements OutputText {
  #buffer: Buffer;
  #used = 0;
  #taken = 0;
  /** Every buffer a piece was taken from (a buffer outgrown keeps the pieces taken before). */
  readonly buffers = new Set<ArrayBufferLike>();

  /** Into `spare` (a recycled buffer, or the bytes of a shared output slot) when given, else a new buffer of `size` bytes. */
  constructor(spare: ArrayBuffer | Uint8Array | undefined, size: number) {
    if (spare === undefined) this.#buffer = Buffer.from(new ArrayBuffer(size));
    else if (spare instanceof Uint8Array) this.#buffer = Buffer.from(spare.buffer, spare.byteOffset, spare.byteLength);
    else this.#buffer = Buffer.from(spare);
  }

  add(text: string): void {
    // A UTF-16 unit takes at most 3 bytes of UTF-8; below that room the buffer may be too small.
    if (this.#buffer.length - this.#used < text.length * 3) this.#grow(Buffer.byteLength(text));
    this.#used += this.#buffer.write(text, this.#used);
  }

  take(): Uint8Array {
    const piece = new Uint8Array(this.#buffer.buffer, this.#buffer.byteOffset + this.#taken, this.#used - this.#taken);
    this.buffers.add(this.#buffer.buffer);
    this.#taken = this.#used;
    return piece;
  }

  #grow(bytes: number): void {
    if (this.#buffer.length - this.#used >= bytes) return;
    const larger = Buffer.from(new ArrayBuffer(Math.max(this.#buffer.length * 2, this.#used + bytes)));
    // Bytes taken as pieces stay where they are; only those not yet taken move.
    this.#buffer.copy(larger, 0, this.#taken, this.#used);
    this.#used -= this.#taken;
    this.#taken = 0;
    this.#buffer = larger;
  }
}
