/** How `onex dlq` prints a dead letter. Letters are written by subscribers, so every field is printed with control characters escaped. */
import { isOnexError } from "@onex/runtime";
import { originalOf } from "@onex/runtime/jetstream";
import type { DeadLetter } from "@onex/runtime/jetstream";
import type { ProtocolSdk } from "@onex/runtime";
import { printable, printableJson } from "./terminal-text.js";

/** Who wrote a letter: the zone the server let it write under (`*` for an unscoped, admin subscription) and the consumer it names; none for a message stored under no letter's subject. */
export function writerOf(letter: DeadLetter): string {
  if (letter.writerZone === "") return `(none: stored under ${letter.letterSubject}, not a letter's subject)`;
  return `${letter.writerZone ?? "*"}/${letter.consumer}`;
}

/**
 * Where `onex dlq replay` would publish the letter's original: the subject its own source
 * fields build (signature not checked here), or why it has none.
 */
export function targetOf(letter: DeadLetter, sdks: readonly ProtocolSdk[]): string {
  if (letter.truncatedFrom !== undefined) return `(body cut at ${letter.data.length} of ${letter.truncatedFrom} bytes; the original is ${letter.stream}#${letter.originalSequence})`;
  try {
    const { target } = originalOf(letter, letter.data, sdks);
    return target === letter.subject ? target : `${target} (the letter records ${letter.subject})`;
  } catch (error) {
    return `(none: ${isOnexError(error) ? error.message.replace(/^dead letter \d+ is not replayed: /, "") : String(error)})`;
  }
}

/** One line: stream and sequence, reason, writer, origin, type, deliveries, target. */
export function deadLetterLine(letter: DeadLetter, sdks: readonly ProtocolSdk[]): string {
  const type = letter.headers["Onex-Type"] ?? "-";
  return printable(
    `${letter.deadLetterStream}#${letter.sequence}  ${letter.reason.padEnd(26)} writer=${writerOf(letter)} from=${letter.stream}#${letter.originalSequence} ${type} deliveries=${letter.deliveries} target=${targetOf(letter, sdks)}`,
  );
}

/** A dead letter as data, with the body as JSON when it is, and its writer and target. */
export function deadLetterData(letter: DeadLetter, sdks: readonly ProtocolSdk[]): Record<string, unknown> {
  const { data, ...rest } = letter;
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    body = Buffer.from(data).toString("base64");
  }
  return { ...rest, writer: writerOf(letter), target: targetOf(letter, sdks), body };
}

/** `deadLetterData` as JSON that is safe on a terminal (printableJson), indented for `dlq show`. */
export function deadLetterJson(letter: DeadLetter, sdks: readonly ProtocolSdk[], pretty = false): string {
  return printableJson(deadLetterData(letter, sdks), pretty ? 2 : undefined);
}
