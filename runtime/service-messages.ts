/**
 * How the runtime's services (the router, the health watcher, the swarm) build messages in
 * whatever version's SDK they are given. A service looks its message classes up by message
 * type in the SDK, places its source address where the version's generated envelope layout
 * says, and offers the payload in every shape it knows how to fill (a failure reason as a
 * string, or as `{message, code}`); the version's own validator picks the shape that version
 * has. Nothing here names a version: a new version that keeps one of the shapes works as is,
 * and an SDK without a needed type, or whose payload fits none of the shapes, is refused with
 * ONEX_E_SDK_MISMATCH.
 */
import { ErrorCode, OnexError, isOnexError } from "./errors.js";
import type { ProtocolSdk, PublishableMessage, TransportMessageClass } from "./protocol-sdk.js";
import { envelopeSourceFields, type EnvelopeSource } from "./trust/envelope.js";

const STRUCTURAL_RULES = new Set(["required", "additionalProperties", "type", "unevaluatedProperties"]);

/** A generated message class that builds messages (`create()` fills the auto fields and validates). */
export interface BuildingMessageClass extends TransportMessageClass {
  create(input: object): PublishableMessage;
}

/** A generated SDK module as a service uses it (`import * as v0_2 from "@onex/sdk/v0.2"`). */
export interface ServiceSdk extends ProtocolSdk {
  readonly messageClasses: Readonly<Record<string, BuildingMessageClass>>;
}

/** The trust block a service fills in before its client signs. */
export interface TrustInit {
  signer: string;
  level: string;
  zone: string;
  expires_at: string;
}

/** Builds one message type of one SDK, in the first payload shape the SDK's version accepts. */
export class MessageBuilder {
  readonly cls: BuildingMessageClass;
  readonly #sdk: ServiceSdk;
  readonly #service: string;
  // The shape the version accepted last time: a version's payload shape does not change between messages.
  #shape = 0;

  /** Throws ONEX_E_SDK_MISMATCH when the SDK has no message type `type`. */
  constructor(sdk: ServiceSdk, type: string, service: string) {
    const cls = Object.hasOwn(sdk.messageClasses, type) ? sdk.messageClasses[type] : undefined;
    if (cls === undefined) {
      throw new OnexError(ErrorCode.SdkMismatch, `${service} needs message type "${type}", which v${sdk.version} does not define (it has ${Object.keys(sdk.messageClasses).join(", ")})`, { type, version: sdk.version, service });
    }
    this.cls = cls;
    this.#sdk = sdk;
    this.#service = service;
  }

  /**
   * A message from `source` with `trust` and the first of `payloads` the version accepts.
   * Throws ONEX_E_SDK_MISMATCH when no shape fits the payload schema, and the validation error
   * itself when the envelope (say, a trust level the version does not have) is at fault.
   */
  build(source: EnvelopeSource, trust: TrustInit, payloads: readonly object[]): PublishableMessage {
    const envelope = { ...envelopeSourceFields(this.#sdk.envelope, source), trust };
    const order = [this.#shape, ...payloads.keys()].filter((i, at, all) => i < payloads.length && all.indexOf(i) === at);
    let first: OnexError | undefined;
    for (const i of order) {
      try {
        const message = this.cls.create({ ...envelope, payload: payloads[i] });
        this.#shape = i;
        return message;
      } catch (error) {
        if (!isOnexError(error) || error.code !== ErrorCode.ValidationFailed) throw error;
        const where = String(error.details.instancePath ?? "");
        if (where !== "/payload" && !where.startsWith("/payload/")) throw error;
        // A missing, extra or differently typed field says the shape is not this version's; any
        // other rule (a pattern, a bound, a format) says the shape fits and the value is wrong.
        if (!STRUCTURAL_RULES.has(String(error.details.keyword ?? ""))) throw error;
        first ??= error;
      }
    }
    throw new OnexError(
      ErrorCode.SdkMismatch,
      `${this.#service} cannot build a v${this.#sdk.version} "${this.cls.type}": none of the ${payloads.length} payload shape(s) it knows fits that version's schema (${first?.message ?? "no shape offered"})`,
      { type: this.cls.type, version: this.#sdk.version, service: this.#service },
      { cause: first },
    );
  }
}
