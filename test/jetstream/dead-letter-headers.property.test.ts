/**
 * A dead letter's headers, fuzzed (control-plane.md, runtime/jetstream/dead-letter.ts): a zone
 * member may write letters under its zone's prefix with any header block, and `onex dlq list`
 * and replay read them. Whatever the bytes, letterOf reads a letter, never throws, and its
 * sequence, delivery count and truncated size are whole numbers (0 when the header says none);
 * the numbers onex writes are read back as written.
 */
import fc from "fast-check";
import { headers as natsHeaders, MsgHdrsImpl, type MsgHdrs } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { letterOf } from "../../runtime/jetstream/dead-letter.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";

const RUNS = { numRuns: 2_000 };

/** A stored letter whose headers are decoded from `block` when first read, as nats.js decodes a stored message's. */
function stored(block: Uint8Array | MsgHdrs) {
  return { seq: 7, subject: "onex.dlq.zone~2Ea.ONEX_EVENT.worker", time: new Date(0), data: new Uint8Array(), get header(): MsgHdrs { return block instanceof Uint8Array ? MsgHdrsImpl.decode(block) : block; } };
}

const value = fc.oneof(
  fc.constantFrom("", "0", "1", "-1", "1.5", "1e3", "0x10", "Infinity", "NaN", " 12 ", "9007199254740993", "99999999999999999999", "٣"),
  fc.string({ unit: "binary", maxLength: 24 }).map((text) => text.replace(/[\r\n]/g, "")),
);
const name = fc.oneof(fc.constantFrom(...Object.values(OnexHeader)), fc.string({ unit: "binary", maxLength: 12 }).map((text) => text.replace(/[\r\n]/g, "")));
/** Header blocks as a writer could publish them: onex's names and any others, any values, and any bytes at all. */
const block = fc.oneof(
  fc.array(fc.tuple(name, value), { maxLength: 6 }).map((lines) => new TextEncoder().encode(`NATS/1.0\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`)),
  fc.uint8Array({ maxLength: 64 }),
);

describe("dead-letter headers fuzz", () => {
  it("any header block reads as a letter whose numbers are whole numbers", () => {
    fc.assert(
      fc.property(block, (bytes) => {
        const letter = letterOf("ONEX_DLQ", stored(bytes));
        for (const n of [letter.originalSequence, letter.deliveries, letter.truncatedFrom ?? 0]) expect(Number.isSafeInteger(n) && n >= 0, String(n)).toBe(true);
        expect(letter.sequence).toBe(7);
      }),
      RUNS,
    );
  });

  it("the numbers onex writes are read back as written", () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), ([sequence, deliveries, size]) => {
        const h = natsHeaders();
        h.set(OnexHeader.DlqSequence, String(sequence));
        h.set(OnexHeader.DlqDeliveries, String(deliveries));
        h.set(OnexHeader.DlqTruncated, String(size));
        const letter = letterOf("ONEX_DLQ", stored(MsgHdrsImpl.decode(new TextEncoder().encode(h.toString()))));
        expect([letter.originalSequence, letter.deliveries, letter.truncatedFrom]).toEqual([sequence, deliveries, size]);
      }),
      RUNS,
    );
  });
});
