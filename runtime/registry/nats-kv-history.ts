/**
 * Whether a NATS KV bucket's stream is still the history a watch was reading, asked before the
 * watch resumes after the last revision it saw.
 *
 * A watch resumes on a new consumer that starts at the revision after the last one it saw. When
 * the stream lost its history under it (an R1 bucket whose node lost its store: the cluster makes
 * the stream again, empty; or a bucket deleted and made again), new writes are numbered from 1
 * again, and such a consumer waits for a sequence the new stream has not reached: every
 * registration and deregistration below it would be missed without a word. JetStream never
 * numbers a stream back (a purge keeps its last sequence), so a stream is taken as reset when:
 *   - its last sequence is below a revision the watch saw;
 *   - its first message has a sequence the watch saw, yet was stored after the last write the
 *     watch saw (a message below that one was written before it, on the stream's own clock);
 *   - it was created at another time (a bucket deleted and made again; a stream made again on a
 *     wiped node keeps the cluster's creation time, which is why the rules above are needed).
 * Not seen: a reset whose new writes went past the revision seen and whose messages at or below it
 * were all replaced before the watch asked. The resumed watch then reads every key the new stream
 * holds, and an entry the store lost is reported expired once its TTL passes without a write.
 */

/** What the watch saw of the stream. */
export interface SeenHistory {
  /** The stream's creation time as it was when the watch began. */
  created: string;
  /** The highest sequence the watch has read up to. */
  upTo: number;
  /** The sequence and server timestamp (ms) of the last write the watch was delivered, if any. */
  last?: { revision: number; at: number };
}

/** The stream as it is now (JetStream's stream info). */
export interface StreamNow {
  created: string;
  state: { first_seq: number; last_seq: number; first_ts: string };
}

/** Why the stream is not the history the watch was reading, or undefined when it still is. */
export function historyReset(seen: SeenHistory, now: StreamNow): string | undefined {
  if (now.created !== seen.created) return `the bucket's stream was created again (at ${now.created}, it was created at ${seen.created})`;
  if (now.state.last_seq < seen.upTo) return `the bucket's last revision is ${now.state.last_seq}, below revision ${seen.upTo} the watch had read`;
  const { last } = seen;
  if (last !== undefined && now.state.first_seq <= last.revision && Date.parse(now.state.first_ts) > last.at) {
    return `the bucket's first revision ${now.state.first_seq} was written at ${now.state.first_ts}, after revision ${last.revision} the watch had read (written at ${new Date(last.at).toISOString()})`;
  }
  return undefined;
}
