/**
 * The O.M.N.I. trust policies and the one function that applies them. Transports call
 * `judge` on every received message and hand its verdict to the handler; they never
 * re-implement a check.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { checkObject, describeValue, memberText } from "../option-check.js";
import { envelopeData, sourceEntityOf, sourceEntityPointerOf, sourceZoneOf, sourceZonePointerOf, toMillis, type Envelope, type EnvelopeInput } from "./envelope.js";
import type { KeyResolver, PublicKey } from "./keys.js";
import type { ReplayGuard } from "./replay-guard.js";
import type { GrantBook } from "./session-grant.js";
import { checkTrustExpiry, checkZone, verifyMessageSignature } from "./sign-message.js";

/** How a policy failure is treated. */
export const PolicyMode = {
  /** Reject the message. */
  Strict: "strict",
  /** Accept the message, attach a warning and log it. */
  Advisory: "advisory",
  /** Do not check. */
  Off: "off",
} as const;
export type PolicyMode = (typeof PolicyMode)[keyof typeof PolicyMode];

/** The four policies of the specification, each set per deployment. */
export interface TrustPolicy {
  /** The message is signed by a known key over its canonical form (node and agent signers). */
  signature: PolicyMode;
  /** The message's zone is the receiving session's zone, and its source and trust zones agree. */
  zone_match: PolicyMode;
  /** The message's trust has not expired, its signer holds a valid grant when grants are enforced, and its id is not replayed. */
  token_valid: PolicyMode;
  /** The source entity (the distributed id) is known to hold the signing key. */
  origin_check: PolicyMode;
}

/** The policy names, in the order `judge` applies them. */
export type PolicyName = keyof TrustPolicy;

/** The specification's defaults. */
export const DEFAULT_TRUST_POLICY: Readonly<TrustPolicy> = Object.freeze({
  signature: PolicyMode.Strict,
  zone_match: PolicyMode.Advisory,
  token_valid: PolicyMode.Strict,
  origin_check: PolicyMode.Advisory,
});

const POLICY_NAMES = Object.keys(DEFAULT_TRUST_POLICY) as PolicyName[];
const MODES = new Set<string>(Object.values(PolicyMode));

/** The defaults with `overrides` applied; throws ONEX_E_POLICY_INVALID for an unknown policy or mode. */
export function trustPolicy(overrides: Partial<Record<string, string>> | ReadonlyMap<string, string> = {}): TrustPolicy {
  // null (a config value) was a raw TypeError, and a string's characters were read as policy names.
  checkObject("trustPolicy", "overrides", overrides);
  const policy: TrustPolicy = { ...DEFAULT_TRUST_POLICY };
  for (const [name, mode] of overrides instanceof Map ? overrides : Object.entries(overrides)) {
    if (mode === undefined) continue;
    if (!(POLICY_NAMES as string[]).includes(name)) {
      throw new OnexError(ErrorCode.PolicyInvalid, `unknown trust policy "${name}" (known: ${POLICY_NAMES.join(", ")})`, { policy: name });
    }
    if (!MODES.has(mode)) throw new OnexError(ErrorCode.PolicyInvalid, `trust policy ${name} cannot be "${mode}" (strict, advisory or off)`, { policy: name });
    policy[name as PolicyName] = mode as PolicyMode;
  }
  return policy;
}

/** Parses `signature=strict,zone_match=off` (as a CLI flag or environment variable gives it) into a policy. */
export function parseTrustPolicy(text: string): TrustPolicy {
  // A Map, not an object: a policy named "__proto__" would set the prototype and vanish unchecked.
  const overrides = new Map<string, string>();
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [name, mode, ...rest] = part.split("=");
    if (!name || !mode || rest.length > 0) throw new OnexError(ErrorCode.PolicyInvalid, `"${part}" is not <policy>=<mode>`, { policy: part });
    if (overrides.has(name.trim())) throw new OnexError(ErrorCode.PolicyInvalid, `trust policy ${name.trim()} is set twice`, { policy: name.trim() });
    overrides.set(name.trim(), mode.trim());
  }
  return trustPolicy(overrides);
}

/** What the receiver knows, for the policies to check a message against. */
export interface JudgeContext {
  /** Keys trusted to sign messages (`signature`). */
  keys: KeyResolver;
  /** The time to judge at; now by default. */
  now?: Date | number;
  /** The receiving session's zone (`zone_match`). */
  zone?: string;
  /** When given, `token_valid` requires the signer to hold a valid grant for the message type and zone. */
  grants?: GrantBook;
  /** When given, `token_valid` rejects a message id seen before inside its window. */
  replay?: Pick<ReplayGuard, "accept">;
  /** The key id a node or agent id is registered with (from registry entries or identities): `origin_check`, and grant subjects. */
  keyOfEntity?: (entityId: string) => string | undefined;
  /** Where advisory failures are logged (default: console.warn). */
  logger?: { warn(message: string, details: Record<string, unknown>): void };
}

/** An advisory failure the handler receives with the message. */
export interface TrustWarning {
  policy: PolicyName;
  code: OnexError["code"];
  message: string;
}

/** The outcome of judging a message. */
export interface Verdict {
  accepted: boolean;
  /** The message as plain data. */
  message: Envelope;
  /** Advisory failures; present on accepted messages. */
  warnings: TrustWarning[];
  /** The failure that rejected the message (its code is the failing check's). */
  rejection?: OnexError;
  /** The key id whose signature verified, when `signature` was checked and passed. */
  verifiedSigner?: string;
}

/**
 * Judges a received message against a policy: checks `signature`, `token_valid`,
 * `zone_match` and `origin_check` as configured, and returns the verdict. Never throws for
 * a bad message; throws only for a malformed policy (ONEX_E_POLICY_INVALID) or a context it
 * cannot work with (ONEX_E_USAGE: see checkJudgeArguments).
 */
export function judge(message: EnvelopeInput, context: JudgeContext, policy: TrustPolicy = DEFAULT_TRUST_POLICY): Verdict {
  checkJudgeArguments(context, policy);
  return judgeWith(message, context, policy, verifyMessageSignature);
}

/**
 * ONEX_E_USAGE for a context or policy `judge` cannot work with, from plain JavaScript: a `keys`
 * that is no key resolver (a list of keys, a PEM text), a `keyOfEntity`, `grants`, `replay` or
 * `logger` of the wrong kind. Each was called on the first message and its TypeError made every
 * message's rejection ONEX_E_INTERNAL, a fault of onex; a context or policy of null was a raw
 * TypeError. typeof checks alone: `judge` runs per message.
 */
function checkJudgeArguments(context: JudgeContext, policy: TrustPolicy): void {
  checkObject("judge", "context", context, { required: true });
  checkObject("judge", "policy", policy, { required: true });
  const { keys, keyOfEntity, grants, replay, logger } = context as unknown as Record<string, unknown>;
  // Keys are asked only by the signature check: with it off, none need be given.
  if (typeof keys !== "function" && (keys !== undefined || policy.signature !== PolicyMode.Off)) {
    const given = typeof keys === "string" ? "a string (read PEM or compact text with importPublicKey)" : Array.isArray(keys) ? "an array (give keyRing(keys))" : describeValue(keys);
    throw new OnexError(ErrorCode.Usage, `judge: context.keys must be a key resolver (keyRing([...])), not ${given}`);
  }
  if (keyOfEntity !== undefined && typeof keyOfEntity !== "function") throw wrong("keyOfEntity", "a function from an entity id to its key id", keyOfEntity);
  if (grants !== undefined && !hasMethod(grants, "authorize")) throw wrong("grants", "a GrantBook (new GrantBook(...))", grants);
  if (replay !== undefined && !hasMethod(replay, "accept")) throw wrong("replay", "a replay guard (new ReplayGuard())", replay);
  if (logger !== undefined && !hasMethod(logger, "warn")) throw wrong("logger", "an object with a warn(message, details) method, like console", logger);
}

/**
 * `judge`, with its signature step done by `verifySignature` (which returns the signer's key
 * or throws as `verifyMessageSignature` does): the receive pipeline's step takes a verdict
 * reached on another thread for the exact check it prepared.
 */
export function judgeWith(message: EnvelopeInput, context: JudgeContext, policy: TrustPolicy, verifySignature: (data: Envelope, keys: KeyResolver) => PublicKey): Verdict {
  for (const name of POLICY_NAMES) {
    if (!MODES.has(policy[name])) throw new OnexError(ErrorCode.PolicyInvalid, `trust policy ${name} cannot be "${String(policy[name])}"`, { policy: name });
  }
  let data: Envelope;
  try {
    data = envelopeData(message);
  } catch (error) {
    // Not even an envelope: no policy can pass it, whatever the modes.
    return { accepted: false, message: message as Envelope, warnings: [], rejection: asOnexError(error) };
  }
  const now = toMillis(context.now, "now");
  const verdict: Verdict = { accepted: true, message: data, warnings: [] };
  const entity = sourceEntityOf(data);

  const fail = (name: PolicyName, error: unknown): boolean => {
    const failure = asOnexError(error);
    if (policy[name] === PolicyMode.Strict) {
      verdict.accepted = false;
      verdict.rejection = new OnexError(failure.code, failure.message, { ...failure.details, policy: name }, { cause: failure });
      return true;
    }
    const warning: TrustWarning = { policy: name, code: failure.code, message: failure.message };
    verdict.warnings.push(warning);
    (context.logger ?? console).warn(`onex trust: ${name} (advisory) ${failure.code}: ${failure.message}`, { ...warning, messageId: data.id });
    return false;
  };

  if (policy.signature !== PolicyMode.Off) {
    try {
      verdict.verifiedSigner = verifySignature(data, context.keys).keyId;
    } catch (error) {
      if (fail("signature", error)) return verdict;
    }
  }

  if (policy.token_valid !== PolicyMode.Off) {
    try {
      checkTrustExpiry(data, now);
      if (context.grants !== undefined) {
        const signer = grantKeyOf(data.trust.signer, "/trust/signer");
        // A grant names a node or agent; it counts only if that entity is registered with the signing key.
        const subjects = [signer];
        if (entity !== undefined && entity !== signer && context.keyOfEntity?.(entity) === signer) subjects.push(entity);
        // The grant must hold in every zone the message claims: the zone its signer vouches for
        // and the zone it comes from (whose subjects and stream carry it). A grant of one zone
        // must not carry a message into another, whatever `zone_match` says of the difference.
        const zone = grantKeyOf(data.trust.zone, "/trust/zone");
        const type = grantKeyOf(data.type, "/type");
        context.grants.authorize(subjects, type, zone, now);
        const sourceZone = sourceZoneOf(data);
        if (sourceZone !== undefined && sourceZone !== zone) context.grants.authorize(subjects, type, grantKeyOf(sourceZone, sourceZonePointerOf(data) ?? "/source/zone"), now);
      }
    } catch (error) {
      if (fail("token_valid", error)) return verdict;
    }
  }

  if (policy.zone_match !== PolicyMode.Off) {
    try {
      checkZone(data, context.zone);
    } catch (error) {
      if (fail("zone_match", error)) return verdict;
    }
  }

  if (policy.origin_check !== PolicyMode.Off) {
    try {
      checkOrigin(data, entity, context);
    } catch (error) {
      if (fail("origin_check", error)) return verdict;
    }
  }

  // Last, so a message rejected for another reason does not use up its id.
  if (policy.token_valid !== PolicyMode.Off && context.replay !== undefined) {
    try {
      context.replay.accept(data, now);
    } catch (error) {
      if (fail("token_valid", error)) return verdict;
    }
  }
  return verdict;
}

function wrong(name: string, what: string, value: unknown): OnexError {
  return new OnexError(ErrorCode.Usage, `judge: context.${name} must be ${what}, not ${describeValue(value)}`);
}

function hasMethod(value: unknown, method: string): boolean {
  return value !== null && typeof value === "object" && typeof (value as Record<string, unknown>)[method] === "function";
}

function checkOrigin(data: Envelope, entity: string | undefined, context: JudgeContext): void {
  const signer = data.trust.signer;
  if (entity === undefined) {
    const where = sourceEntityPointerOf(data);
    throw new OnexError(ErrorCode.OriginMismatch, "the message names no source entity", where === undefined ? {} : { instancePath: where });
  }
  const registered = context.keyOfEntity?.(entity);
  // The signer may be the entity itself (an agent signing with its own key id as entity id).
  if (registered === undefined && entity !== signer) {
    throw new OnexError(ErrorCode.OriginMismatch, `source ${entity} is not registered, so signer ${memberText(signer)} cannot be tied to it`, { entity, signer });
  }
  if (registered !== undefined && registered !== signer) {
    throw new OnexError(ErrorCode.OriginMismatch, `source ${entity} is registered with key ${registered}, but the message is signed by ${memberText(signer)}`, { entity, signer, registered });
  }
}

/**
 * A member of the message a grant is looked up by, which only a string can be. A message judged
 * before (or without) its schema may carry anything there: String() of an object whose own
 * `toString` and `valueOf` are no functions threw a TypeError, reported as ONEX_E_INTERNAL.
 */
function grantKeyOf(value: unknown, pointer: string): string {
  if (typeof value === "string") return value;
  throw new OnexError(ErrorCode.GrantInvalid, `the message's ${pointer.slice(1).replace("/", ".")} is not a string, so no grant can cover it`, { reason: "scope", instancePath: pointer });
}

function asOnexError(error: unknown): OnexError {
  if (error instanceof OnexError) return error;
  return new OnexError(ErrorCode.Internal, `trust check failed unexpectedly: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
}
