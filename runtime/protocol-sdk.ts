/**
 * What the transport needs from a generated SDK module (`onex/v0.1` and friends): its
 * message classes and subject templates. The runtime takes the module as a value, so it
 * never imports generated code.
 */
import type { MessageClass, OnexMessage } from "./message.js";
import type { EnvelopeLayout } from "./trust/envelope.js";

/** A generated message class as the transport uses it. */
export interface TransportMessageClass<M extends OnexMessage = OnexMessage> extends MessageClass<M> {
  readonly subjectTemplate: SubjectTemplate;
}

/** A subject template of a generated SDK. */
export interface SubjectTemplate {
  /** The manifest key, e.g. `event`. */
  readonly key: string;
  readonly template: string;
  /** The message types of this version that travel on subjects of this template. */
  readonly types: readonly string[];
  /** Which params carry the source address (the zone, entity type and entity id the envelope layout locates), for filtering by them. */
  readonly sourceParams: { readonly zone?: string; readonly entityType?: string; readonly entityId?: string };
  filter(parts?: Record<string, string>): string;
  parse(subject: string): object;
}

/** A generated SDK module, e.g. `import * as v0_1 from "@onex/sdk/v0.1"`. */
export interface ProtocolSdk {
  readonly version: string;
  /** Where this version's envelopes keep the declared version, time, source and signature. */
  readonly envelope: EnvelopeLayout;
  readonly messageClasses: Readonly<Record<string, TransportMessageClass>>;
  readonly subjectTemplates: Readonly<Record<string, SubjectTemplate>>;
}

/** A message instance the client can publish: a generated class instance. */
export interface PublishableMessage extends OnexMessage {
  readonly type: string;
  readonly id: string;
  subject(): string;
}
