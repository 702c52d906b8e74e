/** Header names onex sets on JetStream messages. */
export const OnexHeader = {
  /** The message type, so consumers can skip types they do not handle without parsing. */
  Type: "Onex-Type",
  /** The protocol version the payload is written in. */
  Version: "Onex-Version",
  /** Dead-letter metadata: why the message was dead-lettered (an ONEX_E_... code). */
  DlqReason: "Onex-Dlq-Reason",
  DlqMessage: "Onex-Dlq-Message",
  DlqStream: "Onex-Dlq-Stream",
  DlqConsumer: "Onex-Dlq-Consumer",
  DlqSubject: "Onex-Dlq-Subject",
  DlqSequence: "Onex-Dlq-Sequence",
  DlqDeliveries: "Onex-Dlq-Deliveries",
  /** The original's `Nats-Msg-Id` (a letter has its own, so the two are never de-duplicated against each other). */
  DlqMsgId: "Onex-Dlq-Msg-Id",
  /** For a body cut to fit under max_payload or into the dead-letter stream: the original size, and `sha256:<hex>` of the whole body. */
  DlqTruncated: "Onex-Dlq-Truncated",
  DlqDigest: "Onex-Dlq-Digest",
} as const;

/**
 * A received message's headers as `read` reads them (`() => msg.headers`), or null when they
 * cannot be read. nats-server stores and
 * delivers a header name holding a space, a colon or a byte outside ASCII as it was published,
 * and nats.js throws on such a name when the headers are first read: read unguarded, one
 * message published by anyone allowed to publish would end every subscription, watch or
 * history read that reaches it, again after every restart.
 */
export function readableHeaders<H>(read: () => H): H | null {
  try {
    return read();
  } catch {
    return null;
  }
}
