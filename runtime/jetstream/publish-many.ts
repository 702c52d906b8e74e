/**
 * publishMany's window and its account of a failure. With acknowledgements pipelined, the
 * messages after a failing one may be stored (or fail too) before anyone hears of the first
 * failure, and one earlier in order may still be waiting out its retries when a later one fails.
 * The caller must learn, for every message it handed over, whether it was stored, failed, or
 * never sent: told only of the failure that came first in time, a caller who took "those before
 * it are stored" at its word lost an earlier message still retrying, and never learnt of the
 * later ones stored meanwhile.
 */
import { ErrorCode, OnexError } from "../errors.js";
import type { PublishReceipt } from "../control-plane.js";
import type { PublishableMessage } from "../protocol-sdk.js";

/** One message publishMany could not store: its position in the input, its id, and why. */
export interface PublishManyFailure {
  index: number;
  messageId: string | undefined;
  code: string;
  message: string;
}

/**
 * Publishes `messages` through `publish` with at most `window` in flight, and resolves with the
 * receipts in order. On a failure nothing more is sent, the publishes in flight are waited for,
 * and the rejection is the failure first in order (by input position), so every message before
 * it is stored; its details say what became of each message (see failureReport).
 */
export async function publishInWindow(
  messages: Iterable<PublishableMessage> | AsyncIterable<PublishableMessage>,
  window: number,
  publish: (message: PublishableMessage) => Promise<PublishReceipt>,
): Promise<PublishReceipt[]> {
  const receipts: (PublishReceipt | undefined)[] = [];
  const failures = new Map<number, { messageId: string | undefined; error: unknown }>();
  let active = 0;
  // Woken by each completion; a counter, not Promise.race over the window, keeps this O(1) per message.
  let wake: (() => void) | undefined;
  const slotFreed = () => new Promise<void>((resolve) => (wake = resolve));
  let sent = 0;
  const submit = (message: PublishableMessage) => {
    const at = sent++;
    active++;
    publish(message)
      .then(
        (receipt) => {
          receipts[at] = receipt;
        },
        (error: unknown) => {
          failures.set(at, { messageId: idOf(message), error });
        },
      )
      .finally(() => {
        active--;
        wake?.();
      });
  };
  try {
    // An array is walked synchronously: for-await would cost a microtask per message.
    if (Symbol.iterator in messages) {
      for (const message of messages) {
        while (active >= window) await slotFreed();
        if (failures.size > 0) break;
        submit(message);
      }
    } else {
      for await (const message of messages) {
        while (active >= window) await slotFreed();
        if (failures.size > 0) break;
        submit(message);
      }
    }
  } finally {
    // Also when the caller's iterable throws: publishMany settles only once nothing it sent is in flight.
    while (active > 0) await slotFreed();
  }
  if (failures.size > 0) throw failureReport(receipts, failures, sent);
  return receipts as PublishReceipt[];
}

/**
 * The message's id, read here and not from the error: a message refused before it was prepared
 * names no id in its error. Never throws: an `id` getter that threw here rejected the handler
 * that records the failure, so it went unrecorded (an unhandled rejection, and publishMany
 * resolved with a hole where that receipt belonged).
 */
function idOf(message: unknown): string | undefined {
  try {
    const id = (message as { id?: unknown } | null)?.id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The failure first in order, with what became of every message in its details: `index` (its
 * position), `sent` (messages from that position on were never sent), `receipts` (one per
 * message sent, null where none came) and `failures` (every message that failed, in order). A
 * failure that is no OnexError (none of publish's) is thrown as it is.
 */
function failureReport(receipts: readonly (PublishReceipt | undefined)[], failures: ReadonlyMap<number, { messageId: string | undefined; error: unknown }>, sent: number): unknown {
  const ordered = [...failures].sort(([a], [b]) => a - b);
  const [index, first] = ordered[0]!;
  if (!(first.error instanceof OnexError)) return first.error;
  const listed: PublishManyFailure[] = ordered.map(([at, { messageId, error }]) => ({
    index: at,
    messageId,
    code: error instanceof OnexError ? error.code : ErrorCode.PublishFailed,
    message: (error as Error)?.message ?? String(error),
  }));
  const stored = receipts.filter((receipt) => receipt !== undefined).length;
  const all = Array.from({ length: sent }, (_, at) => receipts[at] ?? null);
  return new OnexError(
    first.error.code,
    `${first.error.message} (publishMany: message ${index}; of the ${sent} sent, ${stored} stored and ${listed.length} failed, details.receipts and details.failures say which)`,
    { ...first.error.details, messageId: first.messageId ?? first.error.details.messageId, index, sent, receipts: all, failures: listed },
    { cause: first.error },
  );
}
