/** Which pieces a peer holds: one bit per piece, most significant bit first, as `signal.artifact.have` carries it. */
import { ErrorCode, OnexError } from "../errors.js";

/** A fixed-length set of piece indexes. */
export class Bitfield {
  readonly #bytes: Uint8Array;
  #count = 0;

  constructor(readonly length: number) {
    this.#bytes = new Uint8Array(Math.ceil(length / 8));
  }

  /** Parses the base64url form; ONEX_E_VALIDATION when it does not fit `length` pieces. */
  static fromBase64url(text: string, length: number): Bitfield {
    const bytes = Buffer.from(text, "base64url");
    const field = new Bitfield(length);
    if (bytes.length !== field.#bytes.length) throw new OnexError(ErrorCode.ValidationFailed, `a bitfield of ${length} pieces is ${field.#bytes.length} bytes, not ${bytes.length}`, { instancePath: "/bitfield" });
    for (let i = 0; i < length; i++) if ((bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0) field.set(i);
    return field;
  }

  /** A bitfield with every piece set. */
  static full(length: number): Bitfield {
    const field = new Bitfield(length);
    for (let i = 0; i < length; i++) field.set(i);
    return field;
  }

  /** Number of pieces set. */
  get count(): number {
    return this.#count;
  }

  get complete(): boolean {
    return this.#count === this.length;
  }

  has(index: number): boolean {
    return index >= 0 && index < this.length && (this.#bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0;
  }

  /** Sets piece `index`; false when it was already set. */
  set(index: number): boolean {
    if (index < 0 || index >= this.length || !Number.isInteger(index)) throw new OnexError(ErrorCode.Internal, `piece ${index} is outside 0..${this.length - 1}`);
    if (this.has(index)) return false;
    this.#bytes[index >> 3]! |= 0x80 >> (index & 7);
    this.#count++;
    return true;
  }

  /** Indexes not set, in order. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.length; i++) if (!this.has(i)) out.push(i);
    return out;
  }

  toBase64url(): string {
    return Buffer.from(this.#bytes).toString("base64url");
  }

  /** The raw bytes (a copy), for persisting. */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** Parses raw bytes as written by `toBytes`. */
  static fromBytes(bytes: Uint8Array, length: number): Bitfield {
    return Bitfield.fromBase64url(Buffer.from(bytes).toString("base64url"), length);
  }
}
