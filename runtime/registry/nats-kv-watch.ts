/**
 * A watch of a NATS KV bucket's keys that notices within seconds when it stops hearing from
 * the server.
 *
 * nats.js's KV watch is an ordered push consumer whose idle heartbeat is fixed at 30 s: when
 * the cluster node holding its consumer dies, it notices after two missed heartbeats, a
 * minute later. A registry whose TTL is shorter would miss every registration and lapse of
 * that minute. This watch asks for heartbeats at `heartbeatMs`, and ends with
 * WatchInterrupted as soon as two are missed or a delivery is skipped, so the caller
 * resumes from the last revision it saw on a consumer the cluster can place on a live node.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { createInbox, nanos, nuid, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { readableHeaders } from "../jetstream/headers.js";
import type { KvRecord } from "./nats-kv-bucket.js";

/** A key's write as the watch delivers it. */
export interface WatchedRecord extends KvRecord {
  key: string;
}

/** The watch stopped hearing from the server, or missed a delivery: resume after the last revision seen. */
export class WatchInterrupted extends Error {}

export interface KvWatchOptions {
  /** The bucket's keys to watch: a KV key filter (`zone.node.>`). */
  filter: string;
  /** The first revision to deliver; without it, each key's last value, then every change. */
  fromRevision?: number;
  /** How often the server sends a heartbeat when there is nothing to deliver. */
  heartbeatMs: number;
  signal: AbortSignal;
  /**
   * Called once every message the consumer held when it was made has been delivered and the
   * caller has taken it (its first state, with no `fromRevision`: each key's last value), or at
   * once when there was none. Counted, not read from a delivery's pending count, which writes
   * arriving all the time may never let fall to zero; or else, when an idle heartbeat comes
   * first, once the server says nothing is left to deliver (the count can no longer be reached
   * when max age removed a counted message before its turn).
   *
   * For a first state, the count alone is not enough: nats-server (2.9) delivers each key's last
   * value from a list of sequences taken as the consumer is made, and a key rewritten before its
   * turn has its turn taken by the next message on (another key's, delivered twice). So the
   * count is reached while that key's new value is still to come. The watch also asks which
   * keys the stream holds as the consumer is made, and is caught up only when each has been
   * delivered or, asked with `get` once the count is reached, holds nothing (max age removed it).
   */
  onCaughtUp?: () => void;
  /** The key's last message (a value or a delete marker), or null when it holds none: the store's own read. */
  get: (key: string) => Promise<unknown>;
  /**
   * Called with a time (ms since the epoch, by the server's clock) up to which every write the
   * consumer was to deliver has been delivered: a delivery's own timestamp (the stream is in
   * order), or, for an idle heartbeat naming the last delivery received (the consumer had
   * nothing left), the earliest the server can have sent it. Not on flow-control requests or
   * stalled heartbeats, which come while messages wait.
   */
  onHeard?: (upTo: number) => void;
}

const fromUtf8 = new TextDecoder();

/** Watches `bucket` until `signal` aborts (then it ends) or the watch is interrupted (then it throws WatchInterrupted). */
export async function* watchKv(nc: NatsConnection, jsm: JetStreamManager, bucket: string, options: KvWatchOptions): AsyncGenerator<WatchedRecord> {
  if (options.signal.aborted) return;
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const name = `onex_watch_${nuid.next()}`;
  const inbox = createInbox();
  // Subscribed before the consumer exists, so its first delivery has somewhere to go.
  const sub = nc.subscribe(inbox);
  let interrupted: string | undefined;
  const interrupt = (why: string) => {
    interrupted ??= why;
    sub.unsubscribe();
  };
  const onAbort = () => sub.unsubscribe();
  options.signal.addEventListener("abort", onAbort, { once: true });
  // The server's refusal of an answer to its flow control (a user without publish on
  // `$JS.FC.<stream>.>`): past a few megabytes in flight it delivers nothing more until the answer
  // comes, so the watch (and a list, which reads through one) stalled for good, without a word.
  // The refusal answers no request: it comes only as the connection's asynchronous error, naming
  // the subject. Thrown as it is (a PermissionViolationError), for the store to type as refusals.
  let refused: unknown;
  const flowControl = `$JS.FC.${stream}.`;
  const statuses = nc.status() as AsyncIterable<{ type: string; error?: unknown }> & { stop?(): void };
  void (async () => {
    for await (const status of statuses) {
      const error = status.error as { name?: unknown; operation?: unknown; subject?: unknown } | undefined;
      if (status.type !== "error" || error?.name !== "PermissionViolationError" || error.operation !== "publish") continue;
      if (typeof error.subject !== "string" || !error.subject.startsWith(flowControl)) continue;
      refused ??= status.error;
      interrupt(`the server refused the answer to its flow control on ${error.subject}`);
      break;
    }
  })();
  let heard = performance.now();
  let monitor: NodeJS.Timeout | undefined;
  // Set as the watch ends: an answer about its consumer that comes later says nothing of the next one.
  let over = false;
  try {
    // With no `fromRevision`, the keys the stream holds, asked beside the consumer's creation.
    const holding = options.fromRevision === undefined ? keysHeld(jsm, stream, prefix, options.filter) : Promise.resolve([]);
    const creating = jsm.consumers.add(stream, {
      name,
      deliver_subject: inbox,
      filter_subject: prefix + options.filter,
      ...(options.fromRevision === undefined ? { deliver_policy: DeliverPolicy.LastPerSubject } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.fromRevision }),
      ack_policy: AckPolicy.None,
      max_deliver: 1,
      flow_control: true,
      idle_heartbeat: nanos(options.heartbeatMs),
      // A consumer of this watch alone: in memory, on one node, and removed by the server soon
      // after this process stops listening (the watch gives up on it sooner still).
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(Math.max(5_000, 3 * options.heartbeatMs)),
    });
    // Both settled before either fails the watch, so the consumer is there for `finally` to delete.
    const [creation, holdingKeys] = await Promise.allSettled([creating, holding]);
    if (creation.status === "rejected") throw creation.reason;
    if (holdingKeys.status === "rejected") throw holdingKeys.reason;
    const created = creation.value;
    heard = performance.now();
    const held = created.num_pending;
    // The server sends an idle heartbeat a heartbeat interval after its last delivery or
    // heartbeat, and delivers nothing before the consumer exists: the k-th heartbeat since the
    // last delivery was sent no earlier than `sentAfter` + k intervals. Read from the server's
    // clock, not this host's, which may have been busy while the heartbeat waited on the socket.
    let sentAfter = Date.parse(created.created);
    let beats = 0;
    let caughtUp = false;
    const catchUp = () => {
      if (!caughtUp && !over) options.onCaughtUp?.();
      caughtUp = true;
    };
    // The deliveries the caller has taken (`delivered` counts one handed out but not yet taken).
    let taken = 0;
    // A question to the server about the consumer or the keys is on its way.
    let asking = false;
    // The keys held when the watch began that it has not delivered yet.
    const unseen = new Set(holdingKeys.value);
    // Whether the count was reached, or the server said nothing was left to deliver.
    let settled = false;
    // Once settled with keys still unseen, those that hold nothing (max age removed them) are not
    // waited for. Keys rewritten during the first state come within milliseconds, so the keys
    // are first asked a heartbeat interval after settling, then at most once an interval, one at
    // a time; a server that cannot answer three times running interrupts the watch, not hangs it.
    let nextLook = 0;
    let failedLooks = 0;
    const lookForGone = () => {
      if (caughtUp || asking || performance.now() < nextLook) return;
      asking = true;
      void (async () => {
        for (const key of [...unseen]) {
          if (over || caughtUp) return;
          if (unseen.has(key) && (await options.get(key)) === null) unseen.delete(key);
        }
        if (unseen.size === 0) catchUp();
      })()
        .then(
          () => (failedLooks = 0),
          () => {
            if (++failedLooks === 3) interrupt("the server did not say three times running which keys of the first state are left");
          },
        )
        .finally(() => {
          asking = false;
          nextLook = performance.now() + options.heartbeatMs;
        });
    };
    const settle = () => {
      if (!settled) nextLook = performance.now() + options.heartbeatMs;
      settled = true;
      if (unseen.size === 0) catchUp();
      else lookForGone();
    };
    // Asked when an idle heartbeat comes before the watch is settled. The server's own count of
    // what is left decides, not the heartbeat: one can come while messages wait on a store error,
    // and anyone who can publish on the delivery subject can send one.
    const askIfCaughtUp = () => {
      if (caughtUp || asking) return;
      if (settled) return settle();
      asking = true;
      jsm.consumers
        .info(stream, name)
        .then((info) => {
          if (info.num_pending === 0 && taken >= info.delivered.consumer_seq) settle();
        })
        .catch(() => undefined)
        .finally(() => (asking = false));
    };
    const counted = () => {
      if (taken >= held || settled) settle();
    };
    counted();
    // Checked twice per heartbeat, after the socket has been read (timers run first in Node's
    // loop, and a loop busy elsewhere for a while must not pass for a silent server).
    monitor = setInterval(
      () =>
        setImmediate(() => {
          // Deliveries still waiting to be read are the server talking, not silence.
          const silent = performance.now() - heard;
          if (sub.getPending() === 0 && silent > 2 * options.heartbeatMs) interrupt(`no heartbeat from the server for ${Math.round(silent)} ms`);
        }),
      options.heartbeatMs / 2,
    );
    let delivered = 0;
    for await (const msg of sub) {
      heard = performance.now();
      // Whoever may write to the bucket may write headers nats.js cannot read: such a message has none here.
      const headers = readableHeaders(() => msg.headers) ?? undefined;
      if (msg.reply === undefined || msg.reply === "" || !msg.reply.startsWith("$JS.ACK.")) {
        // A heartbeat names the last delivery sent: one lost at the end of the stream shows here.
        const last = headers?.code === 100 ? headers.get("Nats-Last-Consumer") : "";
        if (last !== "" && Number(last) !== delivered) {
          interrupt(`the server sent delivery ${last}, the last one received is ${delivered}`);
          break;
        }
        if (headers?.code === 100 && headers.description.toLowerCase() === "idle heartbeat" && !headers.get("Nats-Consumer-Stalled")) {
          // Never past this host's clock: heartbeats published on the delivery subject by anyone
          // else must not move it further than the clock alone would.
          if (last !== "") options.onHeard?.(Math.min(sentAfter + ++beats * options.heartbeatMs, Date.now()));
          askIfCaughtUp();
        }
        answerStatus(nc, msg, headers);
        continue;
      }
      const ack = ackInfo(msg.reply);
      if (ack === undefined || ack.deliverySeq !== delivered + 1) {
        interrupt(`delivery ${ack?.deliverySeq ?? "?"} after ${delivered}`);
        break;
      }
      delivered = ack.deliverySeq;
      const storedAt = Math.floor(ack.timestampNanos / 1e6);
      sentAfter = Math.max(sentAfter, storedAt);
      beats = 0;
      options.onHeard?.(storedAt);
      if (!msg.subject.startsWith(prefix)) {
        taken = delivered;
        counted();
        continue;
      }
      const value = msg.data;
      yield {
        key: msg.subject.slice(prefix.length),
        operation: headers?.get("KV-Operation") || "PUT",
        revision: ack.streamSeq,
        created: new Date(storedAt),
        value,
        string: () => fromUtf8.decode(value),
      };
      taken = delivered;
      unseen.delete(msg.subject.slice(prefix.length));
      counted();
    }
  } finally {
    over = true;
    statuses.stop?.();
    clearInterval(monitor);
    options.signal.removeEventListener("abort", onAbort);
    sub.unsubscribe();
    if (!nc.isClosed()) {
      const deleting = jsm.consumers.delete(stream, name).catch(() => undefined);
      // Awaited when the watch ends for good, so a store that closes next leaves no consumer
      // behind; not when it resumes, as the consumer's node may be the one that died.
      if (options.signal.aborted) await deleting;
    }
  }
  if (refused !== undefined && !options.signal.aborted) throw refused;
  if (interrupted !== undefined && !options.signal.aborted) throw new WatchInterrupted(interrupted);
}

/** Answers the server's flow-control requests and stall notices; heartbeats need no answer. */
function answerStatus(nc: NatsConnection, msg: Msg, headers: MsgHdrs | undefined): void {
  if (headers?.code !== 100) return;
  if (headers.description === "FlowControl Request") msg.respond();
  const stalled = headers.get("Nats-Consumer-Stalled");
  if (stalled) nc.publish(stalled);
}

/**
 * The stream sequence, delivery sequence and timestamp in a delivery's reply subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<delivery seq>.<nanos>.<pending>`,
 * or with a domain and account hash after `ACK` (and possibly more tokens at the end).
 */
function ackInfo(reply: string): { streamSeq: number; deliverySeq: number; timestampNanos: number } | undefined {
  const tokens = reply.split(".");
  const at = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1;
  if (at < 0) return undefined;
  const streamSeq = Number(tokens[at + 1]);
  const deliverySeq = Number(tokens[at + 2]);
  const timestampNanos = Number(tokens[at + 3]);
  if (!Number.isSafeInteger(streamSeq) || !Number.isSafeInteger(deliverySeq) || !Number.isFinite(timestampNanos)) return undefined;
  return { streamSeq, deliverySeq, timestampNanos };
}

/**
 * The keys under `prefix` + `filter` that hold a message in `stream` now (nats.js pages through
 * them, 100,000 a page on nats-server 2.9). Not a key with a wildcard token, which a client
 * writing around the KV API can make: asked for by its subject it would name other keys.
 */
async function keysHeld(jsm: JetStreamManager, stream: string, prefix: string, filter: string): Promise<string[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: prefix + filter });
  return Object.keys(info.state.subjects ?? {})
    .map((subject) => subject.slice(prefix.length))
    .filter((key) => !key.split(".").some((token) => token === "*" || token === ">"));
}
