/**
 * What `onex dlq list` and `onex dlq show` print of a dead letter (cli/dead-letter-view.ts). A
 * zone member may write letters, with any headers and body: every way a letter is printed
 * escapes the characters a terminal must not be handed raw (errors.md), bidirectional marks and
 * zero-width characters included, and its JSON still reads back as the letter.
 */
import { describe, expect, it } from "vitest";
import { deadLetterData, deadLetterJson, deadLetterLine } from "../../cli/dead-letter-view.js";
import type { DeadLetter } from "../../runtime/jetstream/dead-letter.js";

/** The characters a forged field hides behind: marks that reorder, and characters shown as nothing. */
const HIDING = ["\u200f", "\u200e", "\u061c", "\u200b", "\u2060", "\ufeff", "\u00ad", "\u{e0041}", "\ufe0f", "\u202e", "\u2066"];
const UNSAFE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u;

/** A letter a member wrote, every field it chose holding each of HIDING. */
function forgedLetter(): DeadLetter {
  const forged = `node-1${HIDING.join("")}`;
  return {
    deadLetterStream: "ONEX_DLQ~zone~2Ea",
    sequence: 3,
    reason: forged,
    message: forged,
    letterSubject: "onex.dlq.zone~2Ea.ONEX_EVENT.worker",
    writerZone: "zone.a",
    stream: forged,
    consumer: forged,
    subject: forged,
    originalSequence: 1,
    deliveries: 1,
    time: new Date(0).toISOString(),
    data: new TextEncoder().encode(JSON.stringify({ id: forged, type: forged })),
    headers: { "Onex-Type": forged },
  };
}

describe("a dead letter a member forged, as onex dlq prints it", () => {
  it("dlq show (indented JSON) and dlq list --json escape every mark and invisible character, and read back as the letter", () => {
    const letter = forgedLetter();
    const expected = JSON.parse(JSON.stringify(deadLetterData(letter, [])));
    for (const pretty of [true, false]) {
      const shown = deadLetterJson(letter, [], pretty);
      // The new lines of indented JSON are its own; none is inside a string.
      expect(shown.replace(/\n */g, "")).not.toMatch(UNSAFE);
      expect(JSON.parse(shown)).toEqual(expected);
    }
  });

  it("dlq list escapes them too", () => {
    expect(deadLetterLine(forgedLetter(), [])).not.toMatch(UNSAFE);
  });
});
