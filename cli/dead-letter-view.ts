/** How `onex dlq` prints a dead letter. */
import type { DeadLetter } from "../runtime/jetstream/dead-letter.js";

/** One line: sequence, reason, origin, deliveries, message type. */
export function deadLetterLine(letter: DeadLetter): string {
  const type = letter.headers["Onex-Type"] ?? "-";
  return `${String(letter.sequence).padStart(6)}  ${letter.reason.padEnd(26)} ${letter.stream}#${letter.originalSequence} ${type} deliveries=${letter.deliveries} consumer=${letter.consumer}`;
}

/** A dead letter as data, with the body as text when it is UTF-8. */
export function deadLetterData(letter: DeadLetter): Record<string, unknown> {
  const { data, ...rest } = letter;
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    body = Buffer.from(data).toString("base64");
  }
  return { ...rest, body };
}
