/**
 * The pieces a fetch still lacks, by how many peers offer each: rarest first, and among pieces
 * offered as often, in index order from a start of the fetch's own (fetchers that start together
 * begin with different pieces, and each reads a run of the seeder's file, not scattered pieces).
 *
 * It is kept a change at a time (a peer offers a piece or stops offering it, the fetch gets one)
 * at a constant cost each: one bitfield per offer count, holding the wanted pieces offered that
 * many times. Counting every piece again whenever a peer announced one cost O(pieces × peers)
 * and a sort (0.3 s at 655,360 pieces), and a pass read every piece only busy peers held before
 * reaching one it could ask for; a pass here skips eight pieces at a time that no peer with room
 * offers (`forEachRarest`'s mask).
 */
import { ErrorCode, OnexError } from "../errors.js";

export class PiecePicker {
  /** How many peers offer each piece (wanted or not). */
  readonly #offers: Uint32Array;
  /** The wanted pieces, one bit each, most significant bit first (as Bitfield lays them out). */
  readonly #wanted: Uint8Array;
  /** #byOffers[c]: the wanted pieces c peers offer (c ≥ 1), laid out as #wanted; #sizes[c]: how many. */
  readonly #byOffers: Uint8Array[] = [new Uint8Array(0)];
  readonly #sizes: number[] = [0];
  /** The piece each count's walk starts at (in its byte, then on a byte at a time, then that byte's first pieces last). */
  readonly #startByte: number;
  readonly #startBit: number;

  /** Every piece `held` says is not set is wanted; none is offered yet. */
  constructor(
    readonly length: number,
    held: (piece: number) => boolean,
  ) {
    this.#offers = new Uint32Array(length);
    this.#wanted = new Uint8Array(Math.ceil(length / 8));
    for (let i = 0; i < length; i++) if (!held(i)) this.#wanted[i >> 3]! |= 0x80 >> (i & 7);
    const start = Math.floor(Math.random() * length);
    this.#startByte = start >> 3;
    this.#startBit = start & 7;
  }

  /** How many peers offer `piece`. */
  offersOf(piece: number): number {
    return this.#offers[piece]!;
  }

  /** One more peer offers `piece`. */
  offer(piece: number): void {
    const count = this.#offers[piece]!;
    this.#offers[piece] = count + 1;
    if (!this.#isWanted(piece)) return;
    if (count > 0) this.#unfile(piece, count);
    this.#file(piece, count + 1);
  }

  /** One peer fewer offers `piece` (it refused it, went away or was dropped). */
  withdraw(piece: number): void {
    const count = this.#offers[piece]!;
    if (count === 0) throw new OnexError(ErrorCode.Internal, `piece ${piece} withdrawn by more peers than offered it`, { piece });
    this.#offers[piece] = count - 1;
    if (!this.#isWanted(piece)) return;
    this.#unfile(piece, count);
    if (count > 1) this.#file(piece, count - 1);
  }

  /** The fetch holds `piece`: it is no longer picked. */
  take(piece: number): void {
    if (!this.#isWanted(piece)) return;
    this.#wanted[piece >> 3]! &= ~(0x80 >> (piece & 7));
    const count = this.#offers[piece]!;
    if (count > 0) this.#unfile(piece, count);
  }

  /**
   * Calls `visit` with each wanted, offered piece, fewest offers first, until it returns false.
   * `mask(byte)` narrows each byte's eight pieces (pieces 8·byte to 8·byte + 7, the first in bit
   * 0x80) to those worth visiting: it is asked again for each byte, so it may change as `visit`
   * runs.
   */
  forEachRarest(mask: (byte: number) => number, visit: (piece: number) => boolean): void {
    const bytes = this.#wanted.length;
    for (let count = 1; count < this.#byOffers.length; count++) {
      if (this.#sizes[count] === 0) continue;
      const pieces = this.#byOffers[count]!;
      for (let k = 0, byte = this.#startByte; k <= bytes; k++, byte = byte + 1 === bytes ? 0 : byte + 1) {
        // The start byte is read twice: from the start bit first, its earlier bits last.
        const from = k === 0 ? this.#startBit : 0;
        const to = k === bytes ? this.#startBit : 8;
        if (from >= to || pieces[byte] === 0 || (pieces[byte]! & mask(byte)) === 0) continue;
        for (let bit = from; bit < to; bit++) {
          const one = 0x80 >> bit;
          if ((pieces[byte]! & one) !== 0 && (mask(byte) & one) !== 0 && !visit(byte * 8 + bit)) return;
        }
      }
    }
  }

  #isWanted(piece: number): boolean {
    return (this.#wanted[piece >> 3]! & (0x80 >> (piece & 7))) !== 0;
  }

  #file(piece: number, count: number): void {
    while (this.#byOffers.length <= count) {
      this.#byOffers.push(new Uint8Array(this.#wanted.length));
      this.#sizes.push(0);
    }
    this.#byOffers[count]![piece >> 3]! |= 0x80 >> (piece & 7);
    this.#sizes[count]!++;
  }

  #unfile(piece: number, count: number): void {
    this.#byOffers[count]![piece >> 3]! &= ~(0x80 >> (piece & 7));
    this.#sizes[count]!--;
  }
}
