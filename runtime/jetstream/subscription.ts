/**
 * Subscriptions: a pull consumer whose deliveries are parsed, verified and judged by the
 * trust policy before the caller sees them. What fails goes to the dead-letter stream, so
 * nothing is dropped silently; in-flight messages are bounded by `maxInFlight`.
 */
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type JsMsg } from "@nats-io/jetstream";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import type { Delivery, DeliverFrom, SubscribeOptions, Subscription, SubscriptionStats } from "../control-plane.js";
import { judge, type JudgeContext, type TrustPolicy } from "../trust/policy.js";
import { deadLetter } from "./dead-letter.js";
import { OnexHeader } from "./headers.js";
import type { TransportMessageClass } from "../protocol-sdk.js";
import { streamNameOf } from "./streams.js";
import type { OnexClient } from "./client.js";

const NANOS_PER_MS = 1_000_000;

/** Opens the consumer and returns the subscription (used by `OnexClient.subscribe`). */
export async function openSubscription(
  client: OnexClient,
  types: readonly TransportMessageClass[],
  options: SubscribeOptions,
  context: JudgeContext,
  policy: TrustPolicy,
): Promise<Subscription<unknown>> {
  if (types.length === 0) throw new OnexError(ErrorCode.Usage, "subscribe() needs at least one message class");
  const template = types[0]!.subjectTemplate;
  if (types.some((t) => t.subjectTemplate.key !== template.key)) {
    throw new OnexError(ErrorCode.Usage, "subscribe() takes message classes of one subject template at a time");
  }
  const byType = new Map(types.map((t) => [t.type, t]));
  const stream = streamNameOf(template.key);
  const parts: Record<string, string> = { ...options.filter };
  if (options.zone !== undefined) parts.zone_id = options.zone;
  if (options.entityType !== undefined) parts.entity_type = options.entityType;
  if (options.entityId !== undefined) parts.entity_id = options.entityId;
  const maxInFlight = Math.max(1, options.maxInFlight ?? 256);
  const maxDeliver = Math.max(1, options.maxDeliver ?? 5);
  const ackWaitMs = Math.max(1, options.ackWaitMs ?? 30_000);

  const jsm = await client.manager();
  const config: Partial<ConsumerConfig> = {
    ack_policy: AckPolicy.Explicit,
    filter_subject: template.filter(parts),
    max_ack_pending: maxInFlight,
    max_deliver: maxDeliver,
    ack_wait: ackWaitMs * NANOS_PER_MS,
    ...deliverPolicy(options.deliver ?? "all"),
    // A named consumer is created on a subject that carries its filter, which is what lets
    // NATS permissions confine an identity to consumers of its own zone (`onex nats-auth`).
    ...(options.durable !== undefined
      ? { durable_name: options.durable }
      : { name: `onex_${globalThis.crypto.randomUUID().replace(/-/g, "")}`, inactive_threshold: 60_000 * NANOS_PER_MS }),
  };
  let info;
  // While a cluster elects a new stream leader (or a server restarts), consumer requests time
  // out for a few seconds; those are retried, anything else is reported at once.
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      info = options.durable !== undefined ? await jsm.consumers.info(stream, options.durable).catch(() => jsm.consumers.add(stream, config)) : await jsm.consumers.add(stream, config);
      break;
    } catch (error) {
      const text = (error as Error).message;
      if (/timeout|no responders|jetstream is not enabled|leader/i.test(text) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      const code = /permissions violation/i.test(text) ? ErrorCode.PermissionDenied : /stream not found/i.test(text) ? ErrorCode.NoStream : ErrorCode.StreamConfig;
      throw new OnexError(code, `cannot create the consumer on ${stream}: ${text}`, { stream }, { cause: error });
    }
  }
  // A durable consumer keeps its first configuration; resuming it with another filter would
  // silently deliver something other than what was asked for.
  if (info.config.filter_subject !== config.filter_subject) {
    throw new OnexError(
      ErrorCode.StreamConfig,
      `durable consumer ${info.name} exists with filter ${info.config.filter_subject ?? "(none)"}, not ${config.filter_subject}; use another name or delete it`,
      { stream, consumer: info.name },
    );
  }
  const consumerName = info.name;
  const consumer = await client.js.consumers.get(stream, consumerName);
  const stats: SubscriptionStats = { delivered: 0, deadLettered: 0, skipped: 0, duplicates: 0 };
  const acked = new Map<number, true>();
  const rememberAcked = Math.max(0, options.rememberAcked ?? 10_000);
  const remember = (sequence: number) => {
    acked.set(sequence, true);
    if (acked.size > rememberAcked) acked.delete(acked.keys().next().value!);
  };

  const toDeadLetter = async (msg: JsMsg, reason: OnexError) => {
    await deadLetter(client.js, msg, consumerName, reason);
    msg.term(reason.code);
    stats.deadLettered++;
  };

  // Messages are pulled in batches of at most `maxInFlight`, one batch at a time, so the
  // client never holds more than that and no pull is left open when the caller stops.
  let stopped = false;
  let batch: { close(): Promise<void | Error> } | undefined;
  async function* pull(): AsyncGenerator<JsMsg> {
    while (!stopped) {
      try {
        const current = await consumer.fetch({ max_messages: maxInFlight, expires: 2_000 });
        batch = current;
        for await (const msg of current) yield msg;
      } catch {
        // The server is away (restart, failover): the connection reconnects by itself, and
        // the durable consumer keeps our place. Try again shortly.
        if (!stopped) await new Promise((resolve) => setTimeout(resolve, 250));
      } finally {
        batch = undefined;
      }
    }
  }

  async function* deliveries(): AsyncGenerator<Delivery<unknown>> {
    // Iterated by hand: a for-await would close `pulled` on exit, dropping what the batch holds.
    const pulled = pull();
    try {
      for (let next = await pulled.next(); !next.done; next = await pulled.next()) {
        const msg = next.value;
        // Handed back at once rather than left to wait for ack_wait.
        if (stopped) {
          msg.nak();
          continue;
        }
        if (acked.has(msg.info.streamSequence)) {
          msg.ack();
          stats.duplicates++;
          continue;
        }
        const typeHeader = msg.headers?.get(OnexHeader.Type);
        // Messages of types this subscription does not handle share the subject; they are not ours to judge.
        if (typeHeader && !byType.has(typeHeader)) {
          msg.ack();
          stats.skipped++;
          continue;
        }
        let message: unknown;
        try {
          const cls = byType.get(typeHeader ?? "") ?? classOfBody(msg, byType);
          message = cls.parse(msg.data);
        } catch (error) {
          await toDeadLetter(msg, isOnexError(error) ? error : new OnexError(ErrorCode.ValidationFailed, String(error)));
          continue;
        }
        // A redelivery is the same message again, not a replay: the replay guard sees first deliveries only.
        const judgeContext = msg.info.deliveryCount > 1 ? { ...context, replay: undefined } : context;
        const verdict = judge(message as object, judgeContext, policy);
        if (!verdict.accepted) {
          await toDeadLetter(msg, verdict.rejection!);
          continue;
        }
        stats.delivered++;
        // On the last allowed delivery the server will not try again, so a handler that hangs
        // (neither acks nor naks within ack_wait) would leave the message stranded: dead-letter it.
        let settled = false;
        const lastChance =
          msg.info.deliveryCount >= maxDeliver
            ? setTimeout(() => {
                if (settled) return;
                settled = true;
                const reason = new OnexError(ErrorCode.HandlerFailed, `not acknowledged within ${ackWaitMs} ms on delivery ${msg.info.deliveryCount} of ${maxDeliver}`, { deliveries: msg.info.deliveryCount });
                toDeadLetter(msg, reason).catch(() => undefined);
              }, ackWaitMs).unref()
            : undefined;
        const settle = () => {
          settled = true;
          clearTimeout(lastChance);
        };
        yield {
          message,
          warnings: verdict.warnings,
          ...(verdict.verifiedSigner !== undefined ? { signer: verdict.verifiedSigner } : {}),
          subject: msg.subject,
          sequence: msg.info.streamSequence,
          deliveries: msg.info.deliveryCount,
          ack: async () => {
            settle();
            // Not a confirmed ack (a round trip per message): if this one is lost (the server
            // went away), the message comes back and the remembered sequence acknowledges it then.
            remember(msg.info.streamSequence);
            msg.ack();
          },
          nak: async (delayMs?: number) => {
            settle();
            if (msg.info.deliveryCount >= maxDeliver) {
              await toDeadLetter(msg, new OnexError(ErrorCode.HandlerFailed, `the handler failed ${msg.info.deliveryCount} deliveries`, { deliveries: msg.info.deliveryCount }));
            } else {
              msg.nak(delayMs);
            }
          },
          term: () => {
            settle();
            msg.term();
          },
          working: () => msg.working(),
        };
      }
    } finally {
      stopped = true;
      void batch?.close();
      // Whatever the current batch still holds goes back to the server.
      for (let next = await pulled.next(); !next.done; next = await pulled.next()) next.value.nak();
    }
  }

  const iterator = deliveries();
  return {
    stream,
    consumer: consumerName,
    stats,
    [Symbol.asyncIterator]: () => iterator,
    async stop() {
      stopped = true;
      void batch?.close();
      await iterator.return(undefined);
    },
  };
}

/** For messages published without the type header (e.g. by another tool): the class of the body's `type`. */
function classOfBody(msg: JsMsg, byType: Map<string, TransportMessageClass>): TransportMessageClass {
  let type: unknown;
  try {
    type = (JSON.parse(new TextDecoder().decode(msg.data)) as { type?: unknown }).type;
  } catch (cause) {
    throw new OnexError(ErrorCode.JsonSyntax, "the message is not valid JSON", { subject: msg.subject }, { cause });
  }
  const cls = typeof type === "string" ? byType.get(type) : undefined;
  if (!cls) throw new OnexError(ErrorCode.UnknownType, `message type ${JSON.stringify(type)} is not one this subscription handles`, { subject: msg.subject });
  return cls;
}

function deliverPolicy(from: DeliverFrom): Partial<ConsumerConfig> {
  if (from === "all") return { deliver_policy: DeliverPolicy.All };
  if (from === "new") return { deliver_policy: DeliverPolicy.New };
  if ("fromSequence" in from) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.fromSequence };
  const time = typeof from.fromTime === "string" ? new Date(from.fromTime) : from.fromTime;
  if (Number.isNaN(time.getTime())) throw new OnexError(ErrorCode.Usage, `deliver.fromTime is not a valid time: ${String(from.fromTime)}`);
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: time.toISOString() };
}
