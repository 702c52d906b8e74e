/**
 * How the runtime's services (the router, the health watcher, the swarm) build messages in
 * whatever version's SDK they are given. A service looks its message classes up by message
 * type in the SDK, places its source address where the version's generated envelope layout
 * says, and offers the payload in every shape it knows how to fill (a failure reason as a
 * string, or as `{message, code}`); the version's own validator picks the shape that version
 * has. Nothing here names a version: a new version that keeps one of the shapes works as is,
 * and an SDK without a needed type, or whose payload fits none of the shapes, is refused with
 * ONEX_E_SDK_MISMATCH — unless it comes through `convertingSdk`: then such a message is built
 * in another version the service knows and converted by the generated transforms, the
 * protocol team's own account of how the shapes differ, and what the service reads is
 * converted back to that version.
 */
import { ErrorCode, OnexError, isOnexError } from "./errors.js";
import type { ProtocolSdk, PublishableMessage, TransportMessageClass } from "./protocol-sdk.js";
import { migrateAlongGraph, findMigrationPath, type VersionGraph } from "./transform.js";
import { envelopeSourceFields, type EnvelopeSource } from "./trust/envelope.js";

const STRUCTURAL_RULES = new Set(["required", "additionalProperties", "type", "unevaluatedProperties"]);

/** A generated message class that builds messages (`create()` fills the auto fields and validates). */
export interface BuildingMessageClass extends TransportMessageClass {
  create(input: object): PublishableMessage;
}

/** A generated SDK module as a service uses it (`import * as v0_2 from "@onex/sdk/v0.2"`), or one `convertingSdk` returns. */
export interface ServiceSdk extends ProtocolSdk {
  readonly messageClasses: Readonly<Record<string, BuildingMessageClass>>;
  /** Set by `convertingSdk`. */
  readonly via?: ConvertVia;
}

/** The version a service falls back on for a version whose payloads it cannot build, and the transforms between them. */
export interface ConvertVia {
  /** An SDK of a version whose payloads the service builds (`import * as v0_2 from "@onex/sdk/v0.2"`). */
  readonly sdk: ServiceSdk;
  /** The generated version graph (`versionGraph` from `@onex/sdk/transforms`), joining `sdk`'s version and the target's. */
  readonly graph: VersionGraph;
}

/**
 * `sdk` for the runtime's services (the health watcher, the router, the swarm) in a version
 * that reshaped a payload they build: a message whose payload takes none of the shapes a
 * service knows is built in `via.sdk`'s version and converted to `sdk`'s by the generated
 * transforms, and the messages a service reads are converted to `via.sdk`'s version first.
 * Throws ONEX_E_USAGE when `via` is no `{ sdk, graph }` or `via.sdk` is `sdk`'s own version,
 * and ONEX_E_NO_PATH when no transforms join the two versions.
 */
export function convertingSdk(sdk: ServiceSdk, via: ConvertVia): ServiceSdk {
  if (typeof via !== "object" || via === null || typeof via.sdk?.version !== "string" || typeof via.graph !== "object" || via.graph === null) {
    throw new OnexError(ErrorCode.Usage, "convertingSdk: give { sdk, graph }: a generated SDK module and the generated version graph", {});
  }
  if (via.sdk.version === sdk.version) throw new OnexError(ErrorCode.Usage, `convertingSdk: the SDK to build through is v${sdk.version} itself; give it a version whose payloads the services build`, { version: sdk.version });
  findMigrationPath(via.graph, via.sdk.version, sdk.version);
  return { ...sdk, via };
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
  // With convertingSdk: the same type in the version to build through, and whether this version took none of the shapes.
  readonly #via: MessageBuilder | undefined;
  #converting = false;

  /** Throws ONEX_E_SDK_MISMATCH when the SDK has no message type `type`. */
  constructor(sdk: ServiceSdk, type: string, service: string) {
    const cls = Object.hasOwn(sdk.messageClasses, type) ? sdk.messageClasses[type] : undefined;
    if (cls === undefined) {
      throw new OnexError(ErrorCode.SdkMismatch, `${service} needs message type "${type}", which v${sdk.version} does not define (it has ${Object.keys(sdk.messageClasses).join(", ")})`, { type, version: sdk.version, service });
    }
    this.cls = cls;
    this.#sdk = sdk;
    this.#service = service;
    this.#via = sdk.via === undefined ? undefined : new MessageBuilder(sdk.via.sdk, type, service);
  }

  /**
   * `message`, a received message of this type, in the version the service reads: converted to
   * the version to build through with convertingSdk (throws what the transforms throw, such as
   * ONEX_E_NO_COUNTERPART), else as it is.
   */
  read(message: object): object {
    const via = this.#sdk.via;
    return via === undefined ? message : migrateAlongGraph(via.graph, toData(message), this.#sdk.version, via.sdk.version);
  }

  /**
   * A message from `source` with `trust` and the first of `payloads` the version accepts.
   * Throws ONEX_E_SDK_MISMATCH when no shape fits the payload schema, and the validation error
   * itself when the envelope (say, a trust level the version does not have) is at fault.
   */
  build(source: EnvelopeSource, trust: TrustInit, payloads: readonly object[]): PublishableMessage {
    if (this.#converting) return this.#convert(source, trust, payloads);
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
    if (this.#via !== undefined) {
      const message = this.#convert(source, trust, payloads);
      this.#converting = true;
      return message;
    }
    throw new OnexError(
      ErrorCode.SdkMismatch,
      `${this.#service} cannot build a v${this.#sdk.version} "${this.cls.type}": none of the ${payloads.length} payload shape(s) it knows fits that version's schema (${first?.message ?? "no shape offered"}); give it this version through convertingSdk, with an SDK of a version whose shapes it builds and the generated version graph`,
      { type: this.cls.type, version: this.#sdk.version, service: this.#service },
      { cause: first },
    );
  }

  /** Built in the version to build through, then converted to this one by the generated transforms. */
  #convert(source: EnvelopeSource, trust: TrustInit, payloads: readonly object[]): PublishableMessage {
    const via = this.#sdk.via!;
    const built = this.#via!.build(source, trust, payloads);
    return this.cls.parse(migrateAlongGraph(via.graph, toData(built), via.sdk.version, this.#sdk.version)) as PublishableMessage;
  }
}

/** A message's data: a generated instance's `toJSON()`, or the object itself. */
function toData(message: object): unknown {
  const toJSON = (message as { toJSON?: unknown }).toJSON;
  return typeof toJSON === "function" ? (toJSON as () => unknown).call(message) : message;
}
