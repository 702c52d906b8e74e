/**
 * The version-aware receive path: a subscription that reads messages of every protocol
 * version sharing the stream, and hands each to the caller in the caller's version.
 *
 * Order matters for trust. A delivery is first validated against the version it was
 * written in and judged by the trust policy on that original data — the signature covers
 * the sender's bytes, not our conversion of them — and only then migrated with the
 * generated adapters and parsed with the caller's class. A message the caller's version
 * cannot represent (a type only a newer version has, or a version this node does not know)
 * is refused: the refusal is recorded with its code and the message is acknowledged for
 * this consumer only, so it stays in the stream for receivers that can read it.
 */
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { decodeInput } from "../message.js";
import { migrateAlongGraph, findMigrationPath, type JsonObject, type VersionGraph } from "../transform.js";
import type { OnexClient } from "./client.js";
import type { ProtocolSdk, TransportMessageClass } from "../protocol-sdk.js";
import type { Delivery, Refusal, VersionedDelivery, VersionedReceiver, VersionedSubscribeOptions, VersionedSubscription, VersionedSubscriptionStats } from "../control-plane.js";

/** What a source-version parse produced: the original, validated (or, for an unknown version, as received). */
interface Received {
  version: string;
  known: boolean;
}

/**
 * Subscribes `client` to every message type of `receiver.sdk` on subject template
 * `templateKey` (default: the template of the receiver's first message class), in every
 * version `receiver.sources` knows.
 */
export async function subscribeVersioned(
  client: OnexClient,
  receiver: VersionedReceiver,
  options: VersionedSubscribeOptions = {},
): Promise<VersionedSubscription<unknown>> {
  const target = receiver.sdk;
  const ownClasses = Object.values(target.messageClasses);
  const templateKey = options.templateKey ?? ownClasses[0]?.subjectTemplate.key;
  const template = templateKey === undefined ? undefined : target.subjectTemplates[templateKey];
  if (template === undefined) throw new OnexError(ErrorCode.Usage, `v${target.version} has no subject template ${JSON.stringify(templateKey)}`, { version: target.version });

  const sources = new Map<string, ProtocolSdk>(receiver.sources.map((s) => [s.version, s]));
  sources.set(target.version, target);
  const received = new WeakMap<object, Received>();
  // One stand-in class per message type of any readable version: the existing subscription
  // routes by type, and the stand-in decides the version from the signed body, validates
  // against that version's class, and leaves judging to the subscription as usual.
  const types = new Set<string>();
  for (const sdk of sources.values()) {
    for (const cls of Object.values(sdk.messageClasses)) if (cls.subjectTemplate.key === template.key) types.add(cls.type);
  }
  const standIns = [...types].sort().map((type) => standInClass(type, template, sources, received));

  const inner = await client.subscribe(standIns, options);
  const refusals: Refusal[] = [];
  const rememberRefusals = Math.max(0, options.rememberRefusals ?? 1_000);
  let refused = 0;
  let converted = 0;
  const stats = {
    get delivered() {
      return inner.stats.delivered - refused;
    },
    get deadLettered() {
      return inner.stats.deadLettered;
    },
    get skipped() {
      return inner.stats.skipped;
    },
    get duplicates() {
      return inner.stats.duplicates;
    },
    get converted() {
      return converted;
    },
    get refused() {
      return refused;
    },
  } satisfies VersionedSubscriptionStats;

  const refuse = async (delivery: Delivery<unknown>, original: JsonObject, from: string, error: OnexError) => {
    const refusal: Refusal = {
      code: error.code,
      message: error.message,
      type: String(original.type),
      fromVersion: from,
      toVersion: target.version,
      ...(typeof original.id === "string" ? { messageId: original.id } : {}),
      ...(delivery.signer !== undefined ? { signer: delivery.signer } : {}),
      subject: delivery.subject,
      sequence: delivery.sequence,
    };
    refused++;
    refusals.push(refusal);
    if (refusals.length > rememberRefusals) refusals.shift();
    options.onRefusal?.(refusal);
    // Acknowledged for this consumer only: the message stays in the stream for others.
    await delivery.ack();
  };

  async function* deliveries(): AsyncGenerator<VersionedDelivery<unknown>> {
    for await (const delivery of inner) {
      const message = delivery.message as object;
      const info = received.get(message);
      const original = (typeof (message as { toJSON?: unknown }).toJSON === "function" ? (message as { toJSON(): JsonObject }).toJSON() : message) as JsonObject;
      const from = info?.version ?? "unknown";
      if (!info?.known) {
        await refuse(delivery, original, from, unknownVersion(from, target.version, receiver.graph));
        continue;
      }
      let converted_: unknown;
      let path: string[];
      try {
        path = pathOf(receiver.graph, from, target.version);
        const data = from === target.version ? original : migrateAlongGraph(receiver.graph, original, from, target.version);
        const cls = target.messageClasses[String(original.type)];
        if (cls === undefined) throw new OnexError(ErrorCode.NoCounterpart, `message type "${String(original.type)}" of v${from} has no counterpart in v${target.version}`, { type: String(original.type), from, to: target.version });
        converted_ = cls.parse(data);
      } catch (error) {
        await refuse(delivery, original, from, isOnexError(error) ? error : new OnexError(ErrorCode.Internal, String(error)));
        continue;
      }
      if (from !== target.version) converted++;
      yield { ...delivery, message: converted_, receivedVersion: from, original, path };
    }
  }

  const iterator = deliveries();
  return {
    stream: inner.stream,
    consumer: inner.consumer,
    stats,
    refusals,
    [Symbol.asyncIterator]: () => iterator,
    async stop() {
      await inner.stop();
      await iterator.return(undefined);
    },
  };
}

/** The version a message body declares: `protocol.version` (v0.1 on) or `protocol_version` (v0.0.9). */
export function declaredVersionOf(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const body = value as { protocol?: { version?: unknown }; protocol_version?: unknown };
  if (typeof body.protocol?.version === "string") return body.protocol.version;
  if (typeof body.protocol_version === "string") return body.protocol_version;
  return undefined;
}

function standInClass(type: string, template: TransportMessageClass["subjectTemplate"], sources: Map<string, ProtocolSdk>, received: WeakMap<object, Received>): TransportMessageClass {
  return {
    type,
    version: "*",
    schemaId: `onex:any-version/${type}`,
    validate: Object.assign(() => true, { errors: null }) as unknown as TransportMessageClass["validate"],
    subjectTemplate: template,
    parse(input) {
      const value = decodeInput(input, "*");
      // The body, not the Onex-Version header, decides: the body is what the signature covers.
      const version = declaredVersionOf(value);
      const sdk = version === undefined ? undefined : sources.get(version);
      if (sdk === undefined) {
        if (value === null || typeof value !== "object") throw new OnexError(ErrorCode.ValidationFailed, "the message is not a JSON object", {});
        received.set(value, { version: version ?? "unknown", known: false });
        return value as never;
      }
      const cls = sdk.messageClasses[type];
      if (cls === undefined) throw new OnexError(ErrorCode.UnknownType, `"${type}" is not a message type of v${sdk.version}`, { version: sdk.version, type });
      const message = cls.parse(value as object);
      received.set(message, { version: sdk.version, known: true });
      return message as never;
    },
  };
}

function pathOf(graph: VersionGraph, from: string, to: string): string[] {
  if (from === to) return [from];
  return [from, ...findMigrationPath(graph, from, to).map(({ step, direction }) => (direction === "up" ? step.newer : step.older))];
}

function unknownVersion(from: string, to: string, graph: VersionGraph): OnexError {
  return new OnexError(ErrorCode.UnknownVersion, `the message is written in v${from}, which this v${to} receiver does not know (it reads ${graph.versions.map((v) => `v${v}`).join(", ")})`, { version: from, from, to });
}
