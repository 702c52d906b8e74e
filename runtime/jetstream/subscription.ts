/**
 * Subscriptions on JetStream: a pull consumer feeding the receive pipeline. JetStream
 * supplies bytes and takes acknowledgements; the pipeline decides what is delivered,
 * skipped, refused or dead-lettered. In-flight messages are bounded by `maxInFlight`.
 *
 * Delivery attempts are counted here, not by the server (the consumer's `max_deliver` is
 * unlimited): a message the subscription pulled but never handed to the handler — because
 * it stopped — goes back without using up an attempt, and a message is never left where
 * the server has stopped delivering it while nobody dead-lettered it.
 */
import { AckPolicy, DeliverPolicy, ReplayPolicy, type ConsumerConfig, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { DeliverFrom, Refusal, VersionedDelivery, VersionedSubscribeOptions, VersionedSubscription, VersionedSubscriptionStats } from "../control-plane.js";
import { ErrorCode, OnexError } from "../errors.js";
import type { Inbound, Outcome, Prepared, ReceivePipeline } from "../receive/pipeline.js";
import type { AheadJob, VerifyAhead } from "../receive/verify-ahead.js";
import { storedMessageName as nameStoredMessage, type StoredMessageReplay } from "../receive/stored-message-replay.js";
import { MAX_TIMER_MS } from "../timer.js";
import { signatureOf } from "../trust/envelope.js";
import { bodyOf } from "./history.js";
import { readStored } from "./stored-reader.js";
import { putDurableConsumer } from "./durable-consumer.js";
import { jetStreamFailure, withRetry } from "./with-retry.js";
import { jetStreamAbsentThroughout, noJetStream } from "./jetstream-absent.js";
import { APPLY_STREAMS, APPLY_ZONE_STREAMS } from "./apply-advice.js";
import { assertRoomForLetters, deadLetter } from "./dead-letter.js";
import { letterLimitsReader } from "./letter-limits.js";
import { SILENT_SERVER_MS, settledWithin } from "./silent-server.js";
import { OnexHeader, readableHeaders } from "./headers.js";
import { streamNameOf, zoneStreamNameOf } from "./streams.js";
import { forgetOldest } from "../forget-oldest.js";
import { checkObject, checkTime, checkWhole, describeValue } from "../option-check.js";
import { assertZoneId } from "../zone-id.js";
import { callOnRefusal } from "../refusal-callback.js";

/** What a subscription needs of its client. */
export interface SubscriptionTransport {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  manager(): Promise<JetStreamManager>;
  /** Deliveries handed back unused, per consumer and stored message, shared by the client's subscriptions. */
  readonly handedBack: HandBackLedger;
  readonly logger: { warn(message: string, details?: Record<string, unknown>): void };
  /** Threads verifying signatures ahead of the pipeline, when the client has them. */
  readonly verifyAhead?: VerifyAhead;
  /** The client's replay protection, when it has one: told each subscription's recent history as it opens. */
  readonly replay?: StoredMessageReplay;
}

/** Counts, per consumer and stored message, the deliveries that never reached a handler. */
export class HandBackLedger {
  readonly #counts = new Map<string, number>();
  constructor(readonly remember = 10_000) {}
  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
  add(key: string): void {
    const count = this.count(key) + 1;
    // Re-inserted, so the oldest entry is the one forgotten first.
    this.#counts.delete(key);
    this.#counts.set(key, count);
    if (this.#counts.size > this.remember) forgetOldest(this.#counts);
  }
  forget(key: string): void {
    this.#counts.delete(key);
  }
}

const NANOS_PER_MS = 1_000_000;
/** Acknowledgements sent together (see `ack` in openSubscription): at most this many held, for at most this long. */
const ACK_BURST = 256;
const ACK_DELAY_MS = 2;
/** How long a pull waits on the server for messages before asking again; also the longest `stop()` waits for the pull it cancels. */
const PULL_EXPIRES_MS = 1_000;

/**
 * A subscription's count or duration option. NaN was an unbounded buffer and a consumer with the
 * server's defaults, Infinity a pull that never filled, a fraction invalid JSON at the server.
 */
function wholeOption(name: string, value: number, max?: number): number {
  checkWhole("subscribe", name, value, { max });
  return value;
}

/**
 * The subject filters' types, from plain JavaScript: a `zone` of 5 or an `entityId` of 42 was
 * ONEX_E_SUBJECT_TOKEN, which says the value is no valid token, where it is no string at all; a
 * `filter` of "n-1" was spread into params "0", "1", "2", and a `filter` of null subscribed to
 * every source. ONEX_E_SUBJECT_TOKEN stays for a string that cannot be a token (""), but for the
 * zone, which is held to the zone rule (ONEX_E_USAGE) as the subject is built.
 */
function checkSourceFilters(options: VersionedSubscribeOptions): void {
  for (const field of ["zone", "entityType", "entityId"] as const) {
    const value: unknown = options[field];
    if (value !== undefined && typeof value !== "string") throw new OnexError(ErrorCode.Usage, `subscribe: ${field} must be a string, not ${describeValue(value)}`);
  }
  checkObject("subscribe", "filter", options.filter);
  for (const [param, value] of Object.entries(options.filter ?? {}) as [string, unknown][]) {
    if (typeof value !== "string") throw new OnexError(ErrorCode.Usage, `subscribe: filter.${param} must be a string, not ${describeValue(value)}`);
  }
}

/** Opens the consumer for `pipeline` and returns the subscription. */
export async function openSubscription(transport: SubscriptionTransport, pipeline: ReceivePipeline, options: VersionedSubscribeOptions): Promise<VersionedSubscription<unknown>> {
  checkSourceFilters(options);
  const parts: Record<string, string> = { ...options.filter };
  // The template's generated sourceParams say which of its parts carry the source address.
  const { sourceParams } = pipeline.template;
  for (const field of ["zone", "entityType", "entityId"] as const) {
    const value = options[field];
    if (value === undefined) continue;
    const param = sourceParams[field];
    // A filter the subject cannot express would otherwise be dropped, and the subscription would receive every source's messages.
    if (param === undefined) {
      throw new OnexError(ErrorCode.Usage, `subject template "${pipeline.template.template}" has no part for the source's ${field}: it cannot be filtered by ${field}`, { template: pipeline.template.key, [field]: value });
    }
    parts[param] = value;
  }
  // A zone no message can name (`Zone.A`) filters for messages none is: the subscription opened
  // and received nothing, or in a zoned deployment read the shared stream in place of a zone's.
  const zoneParam = sourceParams.zone;
  if (zoneParam !== undefined && parts[zoneParam] !== undefined) assertZoneId(parts[zoneParam], options.zone !== undefined ? "subscribe: zone" : `subscribe: filter.${zoneParam}`);
  checkDurable(options.durable);
  // Before the consumer is created: a wrong `deliver` was a raw TypeError or a server round trip.
  // Only undefined is the default: null was read as "all" too.
  const deliver = deliverPolicy(options.deliver === undefined ? "all" : options.deliver);
  // NaN was `Math.max(0, NaN)`: a memory `size > NaN` never trims, so it grew with every message; -1 passed as 0.
  checkWhole("subscribe", "rememberAcked", options.rememberAcked, { min: 0 });
  checkWhole("subscribe", "rememberRefusals", options.rememberRefusals, { min: 0 });
  const maxInFlight = wholeOption("maxInFlight", options.maxInFlight ?? 256);
  const maxDeliver = wholeOption("maxDeliver", options.maxDeliver ?? 5);
  // The last delivery's deadline is a timer here: Node fires one past 2^31 - 1 ms at once, which
  // dead-lettered the message before its handler could answer.
  const ackWaitMs = wholeOption("ackWaitMs", options.ackWaitMs ?? 30_000, MAX_TIMER_MS);

  // A server without JetStream answered each request below with "no responders", retried for
  // 30 s or more as a server restarting, then reported as a consumer configuration it refused.
  if (await jetStreamAbsentThroughout(transport.nc)) throw noJetStream(transport.nc, "cannot subscribe", { template: pipeline.template.key });
  const jsm = await transport.manager();
  const { name: stream, replicas } = await streamFor(jsm, pipeline.template.key, options.zone);
  const config: Partial<ConsumerConfig> = {
    ack_policy: AckPolicy.Explicit,
    filter_subject: pipeline.template.filter(parts),
    max_ack_pending: maxInFlight,
    // Unlimited on the server: attempts are counted by the subscription (see above).
    max_deliver: -1,
    ack_wait: ackWaitMs * NANOS_PER_MS,
    ...deliver,
    ...(options.durable !== undefined
      ? { durable_name: options.durable }
      : {
          // A durable the server removes once unused, as it would an ephemeral one: a member may make no other (durable-consumer.ts).
          durable_name: `onex_${globalThis.crypto.randomUUID().replace(/-/g, "")}`,
          inactive_threshold: 60_000 * NANOS_PER_MS,
          // As many copies as the stream has (a durable's default): an ephemeral consumer is
          // otherwise kept on one node, and a subscription whose node dies never hears again.
          ...(replicas === undefined ? {} : { num_replicas: replicas }),
        }),
  };
  const letterLimits = letterLimitsReader(jsm);
  const writer = { zone: options.zone, consumer: config.durable_name!, maxPayload: transport.nc.info?.max_payload ?? 1024 * 1024, limits: letterLimits.read, idPrefix: globalThis.crypto.randomUUID() };
  // Before the consumer exists: a subscription whose rejected messages no letter can hold is refused, not left to stall.
  await assertRoomForLetters(writer, stream);
  const created = await createConsumer(jsm, stream, config as Partial<ConsumerConfig> & { durable_name: string }, options.durable);
  const info = options.durable === undefined ? created : await resumeDurable(jsm, stream, created, config);
  const consumerName = info.name;
  // After the consumer exists, so what is published meanwhile is judged as it arrives.
  if (transport.replay !== undefined) {
    await seedReplay(transport, stream, config.filter_subject!, transport.replay).catch(async (error: unknown) => {
      if (options.durable === undefined) await jsm.consumers.delete(stream, info.name).catch(() => undefined);
      throw error;
    });
  }
  // Asked once the replay window is read, which a node dying may have interrupted: the
  // consumer's lookup is retried through the elections that death starts, as its creation was.
  const consumer = await withRetry(() => transport.js.consumers.get(stream, consumerName)).catch(async (error: unknown) => {
    if (options.durable === undefined) await jsm.consumers.delete(stream, consumerName).catch(() => undefined);
    throw jetStreamFailure(error, `opening consumer ${consumerName} of ${stream}`, { stream, consumer: consumerName });
  });
  const refusals: Refusal[] = [];
  const rememberRefusals = Math.max(0, options.rememberRefusals ?? 1_000);
  const stats: VersionedSubscriptionStats = { delivered: 0, deadLettered: 0, skipped: 0, duplicates: 0, converted: 0, refused: 0 };
  // Stored messages this subscription is done with: acknowledged, terminated or dead-lettered.
  // A copy of one delivered again (an ack lost with a server crash, or a copy the server sent
  // while the handler outran ackWaitMs and the subscription had already pulled ahead) is
  // acknowledged and never handed out. Kept by sequence and the time the stream stored the
  // message (`storedMessageName`): a stream that lost its store (an R1 stream whose node's disk was
  // replaced) numbers new messages from 1 again, and a sequence alone took each new message for
  // a copy of a settled one, acknowledging it unseen. A redelivery carries its stored time.
  const finished = new Map<string, true>();
  const rememberAcked = Math.max(0, options.rememberAcked ?? 10_000);
  const ledger = transport.handedBack;

  const inboundOf = (msg: JsMsg): Inbound => {
    const headers = readableHeaders(() => msg.headers);
    if (headers === null) return { data: msg.data, subject: msg.subject, headersUnreadable: true, storedAs: storedMessageName(stream, msg) };
    return { data: msg.data, subject: msg.subject, typeHeader: headers?.get(OnexHeader.Type) || undefined, versionHeader: headers?.get(OnexHeader.Version) || undefined, storedAs: storedMessageName(stream, msg) };
  };
  // Delivery counts are per consumer, so hand-backs are too; with the stored time, as `finished`.
  const handBackKey = (msg: JsMsg) => `${stream}/${consumerName}#${msg.info.streamSequence}@${msg.info.timestampNanos}`;
  const attemptsOf = (msg: JsMsg) => msg.info.deliveryCount - ledger.count(handBackKey(msg));
  const remember = (msg: JsMsg) => {
    finished.set(storedMessageName(stream, msg), true);
    if (finished.size > rememberAcked) forgetOldest(finished);
  };

  // Letters are written concurrently (a flood of forgeries costs round trips in parallel,
  // not in series) and each rejected message is terminated once its letter is stored; a
  // delivery is handed out only after the letters of the messages before it are stored.
  const letters = new Set<Promise<void>>();
  const toDeadLetter = (msg: JsMsg, reason: OnexError): Promise<void> => {
    const written = deadLetter(transport.js, msg, writer, reason, attemptsOf(msg)).then(
      () => {
        stats.deadLettered++;
        remember(msg);
        // A plain TERM: nats-server 2.9 ignores `+TERM <reason>` and would deliver it again.
        msg.term();
        ledger.forget(handBackKey(msg));
      },
      (error: unknown) => {
        // Not lost: it comes back after the delay and is judged (and dead-lettered) again, to
        // the dead-letter stream's limits as they are then.
        letterLimits.refused();
        transport.logger.warn(`onex: cannot dead-letter ${stream}#${msg.info.streamSequence} (${reason.code}): ${(error as Error).message}`, { stream, sequence: msg.info.streamSequence });
        msg.nak(Math.min(ackWaitMs, 5_000));
      },
    );
    const tracked = written.finally(() => letters.delete(tracked));
    letters.add(tracked);
    return tracked;
  };
  const lettersStored = async () => {
    while (letters.size > 0) await Promise.all([...letters]);
  };
  // Acknowledgements are held briefly and sent together: nats.js writes to the socket once
  // per turn of microtasks, so acks sent one by one as messages are handled cost one write
  // each (and nats-server a read each: the server's CPU per message fell to a quarter). They
  // go out when ACK_BURST are held, ACK_DELAY_MS after the first, before the next pull (so
  // the server counts them before it weighs that pull against max_ack_pending) and on stop.
  let acks: JsMsg[] = [];
  let ackTimer: NodeJS.Timeout | undefined;
  const ackNow = (msg: JsMsg) => {
    try {
      msg.ack();
    } catch {
      // The connection closed meanwhile: an ack is never confirmed, and the message comes back.
    }
  };
  const sendAcks = () => {
    clearTimeout(ackTimer);
    ackTimer = undefined;
    const now = acks;
    acks = [];
    for (const msg of now) ackNow(msg);
  };
  const ack = (msg: JsMsg) => {
    // Once stopped, nothing is left to send them with: a handler's ack after stop() (and
    // before client.close() drains the connection) goes out as it is given.
    if (stopped) return ackNow(msg);
    acks.push(msg);
    if (acks.length >= ACK_BURST) sendAcks();
    else ackTimer ??= setTimeout(sendAcks, ACK_DELAY_MS);
  };
  /** A copy of a stored message this subscription is done with: acknowledged, not handed out. */
  const dropCopy = (msg: JsMsg) => {
    ack(msg);
    stats.duplicates++;
  };
  const handBack = (msg: JsMsg) => {
    ledger.add(handBackKey(msg));
    msg.nak();
  };

  let stopped = false;
  let batch: ConsumerMessages | undefined;
  let failure: OnexError | undefined;

  /** Why pulling failed: a gone consumer, stream or permission ends the subscription; anything else is the server away. */
  const diagnose = async (error: unknown): Promise<OnexError | undefined> => {
    if (stopped || transport.nc.isClosed()) return undefined;
    const text = (error as Error)?.message ?? String(error);
    const checked = await jsm.consumers.info(stream, consumerName).then(
      () => undefined,
      (e: unknown) => (e as Error)?.message ?? String(e),
    );
    const reason = `${text}${checked === undefined ? "" : `; ${checked}`}`;
    if (/permission/i.test(reason)) return new OnexError(ErrorCode.PermissionDenied, `the subscription to ${stream} lost its permission: ${reason}`, { stream, consumer: consumerName });
    if (/stream not found/i.test(reason)) return new OnexError(ErrorCode.NoStream, `stream ${stream} is gone: ${reason}`, { stream, consumer: consumerName });
    if (/consumer (not found|deleted)/i.test(reason)) return new OnexError(ErrorCode.ConsumerGone, `consumer ${consumerName} of ${stream} was deleted: ${reason}`, { stream, consumer: consumerName });
    return undefined;
  };

  // A refused pull or ack is no error of the pull itself: the server reports it on the
  // connection, and the pull just expires empty. Watch for ours, so a withdrawn permission
  // ends the subscription instead of being retried in silence.
  const statuses = transport.nc.status() as AsyncIterable<{ type: string; error?: unknown }> & { stop?(): void };
  // Whether the connection is waiting to reconnect: then a pull in progress never ends (see stop).
  let disconnected = false;
  void (async () => {
    for await (const status of statuses) {
      if (status.type === "disconnect" || status.type === "reconnect") disconnected = status.type === "disconnect";
      const text = status.type === "error" ? String((status.error as Error)?.message ?? status.error) : "";
      const ours = text.includes(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumerName}"`) || text.includes(`$JS.ACK.${stream}.${consumerName}.`);
      if (!ours || !/permissions violation/i.test(text)) continue;
      failure ??= new OnexError(ErrorCode.PermissionDenied, `the subscription to ${stream} lost its permission: ${text}`, { stream, consumer: consumerName });
      void batch?.close();
    }
  })();

  // Messages are pulled one batch at a time: of `maxInFlight` when the pipeline takes them as
  // they come, of half that when verification threads work ahead (below), so that the next
  // batch is asked for while the last is judged and the server, holding no more than
  // `maxInFlight` unacknowledged, can send all of it at once rather than one per ack.
  const verifier = transport.verifyAhead;
  const batchSize = verifier === undefined ? maxInFlight : Math.max(1, Math.floor(maxInFlight / 2));
  async function* pull(): AsyncGenerator<JsMsg> {
    while (!stopped && failure === undefined && !transport.nc.isClosed()) {
      try {
        sendAcks();
        batch = await consumer.fetch({ max_messages: batchSize, expires: PULL_EXPIRES_MS });
        // The server may have refused this very pull while it was being sent.
        if (failure !== undefined) void batch.close();
        for await (const msg of batch) yield msg;
      } catch (error) {
        failure ??= await diagnose(error);
        if (failure !== undefined) return;
        // The server is away (restart, failover): the connection reconnects by itself, and
        // the consumer keeps our place. Try again shortly.
        if (!stopped) await new Promise((resolve) => setTimeout(resolve, 250));
      } finally {
        batch = undefined;
      }
    }
  }

  // With verification threads, messages are asked for ahead of the one being judged (up to a
  // batch), and each is prepared as soon as it arrives (everything but its signature's
  // arithmetic, which goes to a thread); the pipeline still finishes them one by one, in order,
  // and hands back the ones asked for ahead when it stops. A message that arrives while the
  // pipeline waits for it, with none before it, is judged at once on this thread: a hop to a
  // thread and back would only add to its latency.
  type Pulled = IteratorResult<JsMsg> & { prepared?: Prepared; checked?: AheadJob };
  const ahead: Promise<Pulled>[] = [];
  const lookahead = verifier === undefined ? 1 : batchSize;
  let arrived = 0;
  let idle = false;
  const nextOf = (pulled: AsyncGenerator<JsMsg>): Promise<Pulled> => {
    while (ahead.length < lookahead) {
      const next = pulled.next().then((next: Pulled) => {
        if (!next.done && verifier !== undefined && (arrived > 0 || !idle)) {
          next.prepared = pipeline.prepare(inboundOf(next.value));
          if (next.prepared.check !== undefined) next.checked = verifier.submit(next.prepared.check);
        }
        arrived++;
        return next;
      });
      // Taken in turn by the loop or by stop; until then a failure must not count as unhandled.
      next.catch(() => undefined);
      ahead.push(next);
    }
    return ahead.shift()!;
  };

  async function* deliveries(): AsyncGenerator<VersionedDelivery<unknown>> {
    // Iterated by hand: a for-await would close `pulled` on exit, dropping what the batch holds.
    const pulled = pull();
    try {
      const take = async () => {
        idle = true;
        const next = await nextOf(pulled);
        idle = false;
        arrived--;
        return next;
      };
      for (let next = await take(); !next.done; next = await take()) {
        const msg = next.value;
        let valid: boolean | undefined;
        if (!stopped && next.checked !== undefined) {
          const verdict = verifier!.take(next.checked);
          // While a thread works toward this message, this thread verifies the newest ones no
          // thread has started on, letting the event loop run between them for the answer.
          while (!verifier!.settled(next.checked) && verifier!.steal()) await new Promise((resolve) => setImmediate(resolve));
          valid = await verdict;
        }
        if (stopped) {
          handBack(msg);
          continue;
        }
        const settledKey = storedMessageName(stream, msg);
        if (finished.has(settledKey)) {
          dropCopy(msg);
          continue;
        }
        const attempts = attemptsOf(msg);
        const outcome = next.prepared === undefined ? pipeline.receive(inboundOf(msg)) : next.prepared.finish(valid);
        // Judged first: a message no handler may see comes back for as long as its letter cannot
        // be stored (the zone's storage full), and was then dead-lettered as a handler's failure
        // once it had come back maxDeliver times, its own fault (a forgery's) unrecorded.
        if (outcome.kind === "deliver" && attempts > maxDeliver) {
          void toDeadLetter(msg, new OnexError(ErrorCode.HandlerFailed, `delivered ${attempts} times and never acknowledged`, { deliveries: attempts }));
          continue;
        }
        if (outcome.kind === "skip") {
          ack(msg);
          stats.skipped++;
          continue;
        }
        if (outcome.kind === "reject") {
          void toDeadLetter(msg, outcome.error);
          continue;
        }
        if (outcome.kind === "refuse") {
          const refusal: Refusal = { ...outcome.refusal, subject: msg.subject, sequence: msg.info.streamSequence };
          stats.refused++;
          refusals.push(refusal);
          if (refusals.length > rememberRefusals) refusals.shift();
          // Acknowledged for this consumer only: the message stays in the stream for others.
          remember(msg);
          ack(msg);
          callOnRefusal(options.onRefusal, refusal, (error) => {
            failure ??= error;
            void batch?.close();
          });
          if (failure !== undefined) break;
          continue;
        }
        await lettersStored();
        // The letter just waited for may have been this message's own (a copy pulled ahead while
        // its last attempt failed): it is done with, and goes no further.
        if (finished.has(settledKey)) {
          dropCopy(msg);
          continue;
        }
        stats.delivered++;
        if (outcome.path.length > 1) stats.converted++;
        yield delivery(msg, outcome, attempts);
      }
      if (failure !== undefined) throw failure;
    } finally {
      stopped = true;
      statuses.stop?.();
      sendAcks();
      // The current pull is left to end on the server (at once when full, else within
      // PULL_EXPIRES_MS), and everything it brings goes back, attempts unused. Closing it
      // early would drop what the server has already sent: those messages would wait out
      // ack_wait on the server, each costing an attempt.
      const held: JsMsg[] = [];
      // Settled one by one: one that failed (the pull did) must not keep the rest from going back.
      for (const next of await Promise.allSettled(ahead.splice(0))) if (next.status === "fulfilled" && !next.value.done) held.push(next.value.value);
      for (let next = await pulled.next(); !next.done; next = await pulled.next()) held.push(next.value);
      for (const msg of held) handBack(msg);
      await lettersStored();
      // The hand-backs and acks are on the wire, not in a buffer, when stop() returns (acks
      // given while it waited included; from now on each goes out as it is given).
      sendAcks();
      // Bounded: a server that is connected but silent never answers the flush's ping, and
      // stop() (and close() with it) would wait until nats.js gave the connection up, minutes on.
      if (!transport.nc.isClosed()) await settledWithin(transport.nc.flush(), SILENT_SERVER_MS);
    }
  }

  function delivery(msg: JsMsg, outcome: DeliverOutcome, attempts: number): VersionedDelivery<unknown> {
    const settledKey = storedMessageName(stream, msg);
    // On the last attempt nothing will deliver the message again if the handler hangs (and
    // its process may be the only subscriber): dead-letter it after ack_wait, unless the
    // handler settles it or reports progress first.
    let settled = false;
    let lastChance: NodeJS.Timeout | undefined;
    const armLastChance = () => {
      if (attempts < maxDeliver || settled) return;
      clearTimeout(lastChance);
      lastChance = setTimeout(() => {
        // Another delivery of it, handed out while this one ran past ackWaitMs, may have settled it.
        if (settled || finished.has(settledKey)) return;
        settled = true;
        void toDeadLetter(msg, new OnexError(ErrorCode.HandlerFailed, `not acknowledged within ${ackWaitMs} ms on attempt ${attempts} of ${maxDeliver}`, { deliveries: attempts }));
      }, ackWaitMs).unref();
    };
    const settle = () => {
      settled = true;
      clearTimeout(lastChance);
    };
    armLastChance();
    const onAck = async () => {
      if (settled) return;
      settle();
      // Not a confirmed ack (a round trip per message): if this one is lost (the server
      // went away), the message comes back and the remembered sequence acknowledges it then.
      remember(msg);
      ledger.forget(handBackKey(msg));
      ack(msg);
    };
    const onNak = async (delayMs?: number) => {
      // The server takes the delay in whole nanoseconds: Infinity, NaN or a negative delay
      // redelivered at once and used up the message's attempts in a moment.
      if (delayMs !== undefined && !(Number.isSafeInteger(delayMs) && delayMs >= 0)) throw new OnexError(ErrorCode.Usage, `nak: delayMs must be a whole number of milliseconds, 0 or more, not ${delayMs}`);
      if (settled) return;
      settle();
      // Another delivery of the same stored message (the server's redelivery while this run
      // outlasted ackWaitMs) was acknowledged, terminated or dead-lettered meanwhile: this run's
      // failure neither brings it back nor writes a letter for a message that was handled.
      if (finished.has(settledKey)) return;
      if (attempts >= maxDeliver) await toDeadLetter(msg, new OnexError(ErrorCode.HandlerFailed, `the handler failed ${attempts} attempts`, { deliveries: attempts }));
      else msg.nak(delayMs);
    };
    const onTerm = () => {
      if (settled) return;
      settle();
      remember(msg);
      ledger.forget(handBackKey(msg));
      msg.term();
    };
    const onWorking = () => {
      if (settled) return;
      msg.working();
      armLastChance();
    };
    return new JetStreamDelivery(outcome, msg.subject, msg.info.streamSequence, attempts, onAck, onNak, onTerm, onWorking);
  }

  const iterator = deliveries();
  return {
    stream,
    consumer: consumerName,
    stats,
    refusals,
    [Symbol.asyncIterator]: () => iterator,
    async stop() {
      stopped = true;
      // A pull on a connection waiting to reconnect never ends: past its expiry it is closed, and
      // what it held (nothing can go back without a connection) waits out ack_wait. A connected
      // pull is left to end on the server, which it does within its expiry, unless the server is
      // silent (stalled, or cut off without the socket knowing): after SILENT_SERVER_MS it is
      // closed too, where it never ended before nats.js gave the connection up, minutes later.
      const stoppedAt = Date.now();
      const giveUp = setInterval(() => {
        if (disconnected || Date.now() - stoppedAt >= SILENT_SERVER_MS) void batch?.close();
      }, 2 * PULL_EXPIRES_MS);
      try {
        await iterator.return(undefined);
      } finally {
        clearInterval(giveUp);
      }
    },
  };
}

/**
 * The stream a subscription reads: the zone's own stream when it follows one zone of a
 * zoned deployment (`onex streams apply --identities`), the shared one otherwise.
 */
async function streamFor(jsm: JetStreamManager, templateKey: string, zone: string | undefined): Promise<{ name: string; replicas: number | undefined }> {
  const shared = streamNameOf(templateKey);
  if (zone !== undefined) {
    const own = zoneStreamNameOf(templateKey, zone);
    const found = await withRetry(() => jsm.streams.info(own)).then(
      (info) => info,
      (error: unknown) => {
        if (/stream not found/i.test((error as Error).message)) return undefined;
        // No permission on this zone's stream is the answer for a member of another zone.
        throw consumerError(error, own);
      },
    );
    if (found !== undefined) return { name: own, replicas: found.config.num_replicas };
  }
  // Whatever is wrong with the shared stream, creating the consumer reports it. Its replicas are
  // read through an election too: an ephemeral consumer made without them has a single copy.
  const info = await withRetry(() => jsm.streams.info(shared)).catch(() => undefined);
  return { name: shared, replicas: info?.config.num_replicas };
}

/**
 * Tells `replay` which stored message first held each id, and its signature, on `filter` within
 * the replay window: a process that restarts remembers nothing, and a message captured before it
 * would pass as new if published again. Read with a consumer of its own that acknowledges
 * nothing, removed afterwards; it costs one read of the window's messages on the filter as a
 * subscription opens. The replay remembers the newest ids it is told (100,000 by default).
 */
/**
 * How long opening a subscription may spend reading the replay window. A window of a million
 * messages reads in a few seconds; what takes longer is a failover mid-read, which can wait out
 * a JetStream meta-leader election (about 14 s on an idle three-node cluster, more under load).
 * The subscription's own consumer sits idle meanwhile, and the server removes an ephemeral one
 * after 60 s: the budget counts from before the stream's info is read (itself retried through an
 * election), which leaves the consumer's lookup 15 s.
 */
const SEED_MS = 45_000;

/** A delivery's stored message's name (StoredMessageReplay's `storedMessageName`). */
function storedMessageName(stream: string, msg: JsMsg): string {
  return nameStoredMessage(stream, msg.info.streamSequence, msg.info.timestampNanos);
}

async function seedReplay(transport: SubscriptionTransport, stream: string, filter: string, replay: StoredMessageReplay): Promise<void> {
  const signal = AbortSignal.timeout(SEED_MS);
  const jsm = await transport.manager();
  // What was stored when the subscription opened, and no more: a publisher that never stops
  // must not keep it from opening (what comes later is judged as it arrives).
  const { state } = await withRetry(() => jsm.streams.info(stream)).catch((error: unknown) => {
    throw consumerError(error, stream);
  });
  const from = { time: new Date(Date.now() - replay.historyMs) };
  let read = 0;
  const forgotten = replay.forgotten;
  const averageBytes = state.bytes / Math.max(1, state.messages);
  // The budget ends the read, quietly, before the reader's own patience would fail it.
  for await (const msg of readStored(transport.js, jsm, stream, { filter, from, upTo: state.last_seq, averageBytes, signal, patienceMs: SEED_MS })) {
    read++;
    const body = bodyOf(msg.data);
    const signature = signatureOf(body);
    if (typeof signature === "string") replay.seed(storedMessageName(stream, msg), msg.subject, signature);
  }
  // The stream may have removed messages stored inside the window (its message or byte limit, or
  // a purge): a copy of one, published again, is the only one stored, and nothing read here names
  // it a copy. A member could push a captured message out with the stream's size in junk, then
  // publish it again for a restarted receiver to take as new. Judged by the stream as it is once
  // the window is read, so a removal during the read shows too. (onex's streams deny purging a
  // subject or deleting a message, and limit no subject alone: every removal is from the front.)
  const { state: held } = await withRetry(() => jsm.streams.info(stream)).catch(() => ({ state }));
  const heldFrom = held.messages > 0 ? Date.parse(held.first_ts) : Date.parse(held.last_ts);
  if (held.first_seq > 1 && heldFrom > from.time.getTime()) {
    replay.historyLost(stream, heldFrom);
    transport.logger.warn(
      `onex: ${stream} may no longer hold the whole replay window on ${filter} (it removed messages, and holds none stored before ${new Date(heldFrom).toISOString()}); messages created before then that it does not hold, stored more than the replay guard's clock skew after they were created, are refused as replays: keep the stream's limits above the window`,
      { stream, filter },
    );
  }
  if (signal.aborted) {
    transport.logger.warn(`onex: read ${read} messages of the replay window on ${filter} in ${SEED_MS / 1000} s, not all of it; copies of later ones are judged by the replay guard alone`, { stream, filter });
  }
  // A member who floods a window after capturing a message pushes the original out of memory.
  // The memory is the client's, shared by its subscriptions: what was forgotten may be another's.
  if (replay.forgotten > forgotten) {
    transport.logger.warn(`onex: reading the replay window on ${filter}, this client's replay memory (${replay.remember} messages, shared by its subscriptions) forgot the ${replay.forgotten - forgotten} oldest it held; copies of those are judged by the replay guard alone`, { stream, filter });
  }
}

/**
 * A durable consumer that exists keeps its own configuration, set by an earlier deployment or by
 * anyone in the zone; the subscription's is what it must run with. Another filter would deliver
 * other messages, and another acknowledgement policy, or a push consumer, would acknowledge or
 * deliver past the subscription's handlers, and settings onex never makes: those are refused. Acknowledgement wait, messages in
 * flight and the server's delivery limit are updated to the subscription's, or refused when the
 * server will not change them: with the old ones, a slow handler's messages come back while it
 * still works on them, and a limit on the server would drop a message before it is dead-lettered.
 */
async function resumeDurable(jsm: JetStreamManager, stream: string, info: ConsumerInfo, config: Partial<ConsumerConfig>): Promise<ConsumerInfo> {
  const refuse = (what: string) =>
    new OnexError(ErrorCode.StreamConfig, `durable consumer ${info.name} on ${stream} exists with ${what}; use another name or delete it`, { stream, consumer: info.name });
  const found = info.config;
  if (found.filter_subject !== config.filter_subject) throw refuse(`filter ${found.filter_subject ?? "(none)"}, not ${config.filter_subject}`);
  if (found.ack_policy !== AckPolicy.Explicit) throw refuse(`acknowledgement policy ${found.ack_policy}, not explicit: its messages would count as handled before any handler ran`);
  if (found.deliver_subject) throw refuse(`a push delivery subject (${found.deliver_subject}); onex pulls`);
  // Settings onex never makes, each of which would change what a handler gets or when: message
  // bodies left out, delivery at the original pace, smaller pulls, its own redelivery schedule.
  const foreign = [
    found.headers_only ? "headers only (no bodies)" : undefined,
    found.replay_policy !== undefined && found.replay_policy !== ReplayPolicy.Instant ? `replay policy ${found.replay_policy}` : undefined,
    (found.max_batch ?? 0) > 0 ? `a pull batch limit of ${found.max_batch}` : undefined,
    (found.max_expires ?? 0) > 0 ? "a pull expiry limit" : undefined,
    (found.backoff ?? []).length > 0 ? "a redelivery backoff" : undefined,
    (found.rate_limit_bps ?? 0) > 0 ? "a rate limit" : undefined,
  ].filter((what) => what !== undefined);
  if (foreign.length > 0) throw refuse(`${foreign.join(", ")}, which onex subscriptions do not use`);
  const wanted = { ack_wait: config.ack_wait!, max_ack_pending: config.max_ack_pending!, max_deliver: config.max_deliver! };
  if (found.ack_wait === wanted.ack_wait && found.max_ack_pending === wanted.max_ack_pending && found.max_deliver === wanted.max_deliver) return info;
  try {
    return await withRetry(() => putDurableConsumer(jsm, stream, { ...found, ...wanted, durable_name: info.name }, "update"));
  } catch (error) {
    throw consumerError(error, stream);
  }
}

async function createConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }, durable: string | undefined) {
  try {
    return await withRetry(() => (durable !== undefined ? jsm.consumers.info(stream, durable).catch(() => putDurableConsumer(jsm, stream, config)) : putDurableConsumer(jsm, stream, config)));
  } catch (error) {
    throw consumerError(error, stream);
  }
}

function consumerError(error: unknown, stream: string): OnexError {
  const text = (error as Error).message;
  const code = /permissions violation/i.test(text) ? ErrorCode.PermissionDenied : /stream not found/i.test(text) ? ErrorCode.NoStream : ErrorCode.StreamConfig;
  const hint =
    code === ErrorCode.PermissionDenied
      ? ` (a zone member may only read its own zone's streams: subscribe with its zone, after ${APPLY_ZONE_STREAMS})`
      : code === ErrorCode.NoStream
        ? ` (${APPLY_STREAMS}; in a zoned deployment each zone has its own streams, so subscribe with a zone)`
        : "";
  return new OnexError(code, `cannot create the consumer on ${stream}: ${text}${hint}`, { stream }, { cause: error });
}

/**
 * The consumer's start, checked before anything is sent. From plain JavaScript, "bogus" and
 * `{ fromTime: 12345 }` were raw TypeErrors, `{}` too, and a fromSequence of -1, "10" or 1.5
 * went to the server, refused after a round trip as ONEX_E_STREAM_CONFIG.
 */
function deliverPolicy(from: DeliverFrom): Partial<ConsumerConfig> {
  if (from === "all") return { deliver_policy: DeliverPolicy.All };
  if (from === "new") return { deliver_policy: DeliverPolicy.New };
  if (from !== null && typeof from === "object" && "fromSequence" in from) {
    // Stream sequences start at 1; undefined is no sequence (checkWhole lets it through as "not given").
    if (from.fromSequence === undefined) throw new OnexError(ErrorCode.Usage, "subscribe: deliver.fromSequence must be a whole number from 1, not undefined");
    checkWhole("subscribe", "deliver.fromSequence", from.fromSequence);
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.fromSequence };
  }
  if (from !== null && typeof from === "object" && "fromTime" in from) {
    // Strings strictly (new Date took "1", "2030" and offset-less times), and a time RFC 3339 can
    // write: one past 9999 went to the server as "+010000-…" and came back as invalid JSON.
    const time = checkTime("subscribe", "deliver.fromTime", from.fromTime, { text: true });
    return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(time).toISOString() };
  }
  throw new OnexError(ErrorCode.Usage, `subscribe: deliver must be "all", "new", { fromSequence } or { fromTime }, not ${describeValue(from)}`);
}

/**
 * A durable consumer's name. "" read as no name (JetStream's), so the caller who meant to resume
 * got a throwaway consumer that started over; the server refuses names with '.', '*', '>' or
 * white space only after a round trip, as ONEX_E_STREAM_CONFIG.
 */
function checkDurable(durable: unknown): void {
  if (durable === undefined) return;
  if (typeof durable !== "string" || durable === "" || /[.*>\s\/\\]/.test(durable)) {
    throw new OnexError(ErrorCode.Usage, `subscribe: durable must be a non-empty consumer name without '.', '*', '>', '/', '\\' or white space, not ${describeValue(durable)}`);
  }
}

type DeliverOutcome = Extract<Outcome, { kind: "deliver" }>;

/** Where a delivery keeps its outcome: a symbol, not a #private field, so `original` still reads through a Proxy of the delivery. */
const OUTCOME = Symbol("outcome");

/**
 * A delivery as its handler gets it. A class, so that its `original` getter (reading the
 * outcome's, which parses the bytes again only when asked for) is on the prototype: an object
 * literal with a getter is a dictionary, and one per message cost subscribing ~12 µs of CPU a
 * message in garbage collection (docs/performance.md). `original` is therefore not an own
 * property: `{...delivery}`, `Object.keys` and `JSON.stringify` leave it out. ack, nak, term
 * and working are functions of the delivery's own, so a handler may pass them on unbound.
 */
class JetStreamDelivery implements VersionedDelivery<unknown> {
  readonly message: unknown;
  readonly warnings: DeliverOutcome["warnings"];
  declare readonly signer?: string;
  readonly receivedVersion: string;
  readonly path: string[];
  declare readonly [OUTCOME]: DeliverOutcome;

  constructor(
    outcome: DeliverOutcome,
    readonly subject: string,
    readonly sequence: number,
    readonly deliveries: number,
    readonly ack: () => Promise<void>,
    readonly nak: (delayMs?: number) => Promise<void>,
    readonly term: () => void,
    readonly working: () => void,
  ) {
    this.message = outcome.message;
    this.warnings = outcome.warnings;
    if (outcome.signer !== undefined) (this as { signer?: string }).signer = outcome.signer;
    this.receivedVersion = outcome.receivedVersion;
    this.path = outcome.path;
    // Not enumerable: a spread, Object.keys or JSON.stringify of a delivery leaves the outcome out.
    Object.defineProperty(this, OUTCOME, { value: outcome });
  }

  get original(): DeliverOutcome["original"] {
    return this[OUTCOME].original;
  }
}
