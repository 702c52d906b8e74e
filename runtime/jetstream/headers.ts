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
} as const;
