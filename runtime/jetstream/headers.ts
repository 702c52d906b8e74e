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
  /** For a body cut to fit under max_payload: the original size, and `sha256:<hex>` of the whole body. */
  DlqTruncated: "Onex-Dlq-Truncated",
  DlqDigest: "Onex-Dlq-Digest",
} as const;
