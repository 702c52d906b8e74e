/**
 * Reads what a stream stored, in order, with a consumer of its own that acknowledges nothing:
 * `onex replay`, and the replay window a subscription reads as it opens.
 *
 * Such a consumer has one copy. When the node holding it dies, nats.js's own readers wait for
 * it for ever (its ordered consumer recreates itself only once the server says the consumer
 * is gone, and a dead node says nothing). This reader gives up on a consumer that has sent
 * nothing, or left a request about it unanswered, for a few seconds, and goes on with a new
 * one from right after the last message it read: nothing is skipped or read twice.
 *
 * nats-server places such a consumer on any replica of a clustered stream, and one made on a
 * replica that lags (restarted, catching up) starts after that replica's last message when the
 * start asked for is past it, and counts as pending only what that replica holds. So what comes
 * before the start is passed over, and when a consumer says nothing is left before `upTo`, the
 * stream's leader is asked for the next message: one it holds at or below `upTo` means the
 * consumer's replica lags, and the read goes on with another consumer.
 */
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type JetStreamClient, type JetStreamManager, type JsMsg, type MsgRequest } from "@nats-io/jetstream";
import { OnexError } from "../errors.js";
import { after, type Timer } from "../timer.js";
import { jetStreamFailure, wentUnanswered } from "./with-retry.js";
import { putDurableConsumer } from "./durable-consumer.js";

export interface StoredReadOptions {
  /** Only messages on this subject filter. */
  filter?: string;
  /** Where to start: a sequence, or the first message stored at or after a time. */
  from: { sequence: number } | { time: Date };
  /** The last sequence to read (what was stored when the read began). */
  upTo: number;
  /** The stream's bytes per message on average (from its info): the first pulls are sized by it. */
  averageBytes?: number;
  /** Ends the read early, quietly (the caller says what it missed). */
  signal?: AbortSignal;
  /** How long to wait without a message before a consumer is given up (default 5 s). */
  stallMs?: number;
  /** How long to go on without reading anything before failing with ONEX_E_CONNECTION (default 30 s). */
  patienceMs?: number;
}

const NANOS_PER_MS = 1_000_000;
const BATCH = 1_000;
/** A pull's bytes, as far as the largest message read so far tells: well under the 64 MiB a server holds for a client before dropping it as slow (and what was in flight with it). */
const BATCH_BYTES = 16 * 1024 * 1024;

/** Yields the stored messages from `from` up to `upTo`, in order, each once. */
export async function* readStored(js: JetStreamClient, jsm: JetStreamManager, stream: string, options: StoredReadOptions): AsyncGenerator<JsMsg> {
  const stallMs = options.stallMs ?? 5_000;
  const patienceMs = options.patienceMs ?? 30_000;
  // The last sequence read (yielded, or passed over as before the start).
  let last = 0;
  // With a start time: whether a message stored at or after it was read (from there on, every one is in).
  let begun = "sequence" in options.from;
  const beforeStart = (msg: JsMsg) => ("sequence" in options.from ? msg.seq < options.from.sequence : !begun && msg.info.timestampNanos < options.from.time.getTime() * NANOS_PER_MS);
  let progress = Date.now();
  let lastError: unknown;
  let largest = Math.max(1, Math.ceil(options.averageBytes ?? 1));
  while (!options.signal?.aborted) {
    if (Date.now() - progress > patienceMs) {
      throw jetStreamFailure(lastError, `reading ${stream} (no progress for ${patienceMs / 1000} s)`, { stream, lastSequence: last });
    }
    const name = `onex_read_${globalThis.crypto.randomUUID().replace(/-/g, "")}`;
    const startSeq = last > 0 ? last + 1 : "sequence" in options.from ? options.from.sequence : undefined;
    const start: Partial<ConsumerConfig> =
      startSeq !== undefined ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq } : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: (options.from as { time: Date }).time.toISOString() };
    const answered = <T>(request: Promise<T>, doing: string) => answeredWithin(request, stallMs, options.signal, doing);
    const making = putDurableConsumer(jsm, stream, {
      durable_name: name,
      ack_policy: AckPolicy.None,
      ...start,
      ...(options.filter === undefined ? {} : { filter_subject: options.filter }),
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: 60_000 * NANOS_PER_MS,
    });
    try {
      const created = await answered(making, "making the consumer");
      // Read up to here: the sequence before the start (for a start time, the one the consumer's replica found), or the last read.
      const readTo = () => Math.max(last, startSeq !== undefined ? startSeq - 1 : created.delivered.stream_seq);
      if (created.num_pending === 0) return await leaderHasNoMore(jsm, stream, options, readTo(), answered);
      const consumer = await answered(js.consumers.get(stream, name), "looking the consumer up");
      // The consumer acknowledges nothing, so what the server sent counts as read even when it
      // never arrived (a connection dropped as slow): a delivery skipped gives the consumer up.
      let delivered = 0;
      for (;;) {
        // A pull ends well before the consumer is taken for stalled.
        const batch = await consumer.fetch({ max_messages: Math.max(1, Math.min(BATCH, Math.floor(BATCH_BYTES / largest))), expires: Math.max(1_000, stallMs / 2) });
        const messages = batch[Symbol.asyncIterator]();
        let read = 0;
        for (;;) {
          const next = await untilStalled(messages.next(), stallMs, options.signal);
          // Not awaited: a pull closes only once what it holds is read.
          if (next === "stalled") {
            void batch.close().catch(() => undefined);
            throw new ConsumerLost(`no message from the consumer for ${stallMs} ms`);
          }
          if (next === "aborted") {
            void batch.close().catch(() => undefined);
            return;
          }
          if (next.done) break;
          const msg = next.value;
          if (msg.info.deliverySequence !== delivered + 1) throw new ConsumerLost(`delivery ${msg.info.deliverySequence} came after ${delivered}`);
          delivered = msg.info.deliverySequence;
          largest = Math.max(largest, msg.data.length);
          read++;
          if (msg.seq <= last) continue;
          const early = beforeStart(msg);
          begun ||= !early;
          last = msg.seq;
          progress = Date.now();
          if (msg.seq > options.upTo) return;
          if (!early) yield msg;
          if (msg.seq === options.upTo) return;
          if (msg.info.pending === 0) return await leaderHasNoMore(jsm, stream, options, last, answered);
        }
        // A pull that expired empty: the end of what matches, when the consumer says nothing is
        // left; a consumer that cannot say, or says otherwise, is given up (its node may be gone).
        if (read === 0) {
          const info = await answered(consumer.info(), "asking the consumer what it sent");
          if (info.delivered.consumer_seq !== delivered) throw new ConsumerLost(`the consumer sent ${info.delivered.consumer_seq} messages, ${delivered} arrived`);
          if (info.num_pending === 0) return await leaderHasNoMore(jsm, stream, options, readTo(), answered);
          throw new ConsumerLost(`the consumer sent nothing with ${info.num_pending} messages pending`);
        }
      }
    } catch (error) {
      if (error instanceof OnexError) throw error;
      // What waiting does not mend is said at once.
      if (!(error instanceof ConsumerLost) && !wentUnanswered(error) && !CONSUMER_GONE.test((error as Error)?.message ?? "")) throw jetStreamFailure(error, `reading ${stream}`, { stream, lastSequence: last });
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    } finally {
      // Deleted once its making is answered, either way: a delete sent while that request went
      // unanswered could reach the server first, find nothing, and leave the consumer made after it.
      const remove = () => jsm.consumers.delete(stream, name).catch(() => undefined);
      void making.then(remove, remove);
    }
  }
}

/** The consumer went silent, lost deliveries or lags the stream: read on with a new one. */
class ConsumerLost extends Error {}

/**
 * `request`'s answer, or ConsumerLost once it has gone unanswered for `stallMs` (or the read is
 * aborted), whatever the manager's own timeout: a consumer placed on a server still recovering
 * from a restart can go unanswered for good, and a manager's 30 s timeout spent the read's whole
 * patience on one request.
 */
async function answeredWithin<T>(request: Promise<T>, stallMs: number, signal: AbortSignal | undefined, doing: string): Promise<T> {
  const answer = await untilStalled(request, stallMs, signal);
  if (answer === "stalled" || answer === "aborted") throw new ConsumerLost(`${doing}: ${answer === "stalled" ? `no answer in ${stallMs} ms` : "the read was aborted"}`);
  return answer;
}

/**
 * Returns when the stream's leader holds no message for the read after `readTo` up to `upTo`
 * (a consumer said nothing is left); throws ConsumerLost when it holds one (the consumer's
 * replica lags) or does not answer.
 */
async function leaderHasNoMore(jsm: JetStreamManager, stream: string, options: StoredReadOptions, readTo: number, answered: <T>(request: Promise<T>, doing: string) => Promise<T>): Promise<void> {
  if (readTo >= options.upTo) return;
  let next: { seq: number } | null;
  try {
    // nats-server (2.9 on) answers `next_by_subj` from its own store, the leader's; nats.js types it for direct gets alone.
    const query = { seq: readTo + 1, next_by_subj: options.filter ?? ">" } as unknown as MsgRequest;
    next = await answered(jsm.streams.getMessage(stream, query), "asking the stream's leader");
  } catch (error) {
    if (error instanceof ConsumerLost) throw error;
    // A user without the grant (outside onex's own authorization, which gives it): the consumer's count stands.
    if (/permission/i.test((error as Error)?.message ?? "")) return;
    throw new ConsumerLost(`the stream's leader did not say what follows sequence ${readTo}: ${(error as Error)?.message ?? error}`);
  }
  if (next !== null && next.seq <= options.upTo) throw new ConsumerLost(`the consumer's replica lags: it has nothing after sequence ${readTo}, the stream's leader holds ${next.seq}`);
}

/** What a consumer lost with its node, or a connection moving to another server, says besides an unanswered request. */
const CONSUMER_GONE = /heartbeat|consumer not found|connection|disconnect/i;

/** `next`, or "stalled" after `ms`, or "aborted" when `signal` aborts first. */
async function untilStalled<T>(next: Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T | "stalled" | "aborted"> {
  let timer: Timer | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      next,
      new Promise<"stalled">((resolve) => (timer = after(ms, () => resolve("stalled")))),
      new Promise<"aborted">((resolve) => {
        if (signal === undefined) return;
        if (signal.aborted) resolve("aborted");
        onAbort = () => resolve("aborted");
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    timer?.cancel();
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}
