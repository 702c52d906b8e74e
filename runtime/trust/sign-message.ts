/**
 * Signing and verifying message envelopes. The signature covers the RFC 8785 form of the
 * whole envelope except `trust.signature` itself, so every field, including the trust
 * block's signer, level, zone and expiry, is bound to the signature, and key order is not.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { checkObject, describeValue, memberText } from "../option-check.js";
import { canonicalBytes } from "./canonical-json.js";
import { createdAtTextOf, envelopeData, envelopeLayouts, sourceZoneOf, toMillis, unsignedEnvelope, type Envelope, type EnvelopeInput, type MessageData } from "./envelope.js";
import { describeKeyInput, type KeyPair, type KeyResolver, type PublicKey } from "./keys.js";
import { parseRfc3339 } from "./rfc3339-time.js";
import { verifyEd25519 } from "./ed25519-verify.js";
import { signBytes, signatureNotVerified, signatureToVerify } from "./signature.js";

/** The bytes a message's signature covers: the canonical envelope without `trust.signature`. */
export function messageSigningBytes(message: EnvelopeInput): Buffer {
  return canonicalBytes(unsignedEnvelope(envelopeData(message)));
}

/**
 * Signs a message (plain data or a generated instance) and returns it as plain data with
 * `trust.signer` set to the key's id and `trust.signature` filled in. The input is not changed.
 */
export function signMessage<T extends object>(message: T, key: KeyPair): MessageData<T> {
  checkSigningKey(key);
  const data = envelopeData(message);
  checkStrictTimes(data);
  const { signature: _previous, ...trust } = data.trust;
  // The signer names the key that signs, so it is set here rather than trusted from the caller.
  const unsigned: Envelope = { ...data, trust: { ...trust, signer: key.keyId } };
  const signature = signBytes(key, canonicalBytes(unsigned));
  return { ...unsigned, trust: { ...unsigned.trust, signature } } as MessageData<T>;
}

/**
 * ONEX_E_USAGE unless `key` is a key pair: without one signMessage read `key.keyId` of undefined
 * (a raw TypeError), and a PEM text or a public key reached node:crypto without a private key
 * (ERR_CRYPTO_SIGN_KEY_REQUIRED). Property reads alone: it runs for every message signed.
 */
function checkSigningKey(key: KeyPair): void {
  if (key !== null && typeof key === "object" && typeof key.keyId === "string" && key.privateKey != null) return;
  // Never the text itself: it may be a private key.
  const given =
    typeof key === "string" ? "a string (read PEM or compact text with importPrivateKey)" : key !== null && typeof key === "object" && "raw" in key ? "a public key, which cannot sign" : describeKeyInput(key);
  throw new OnexError(ErrorCode.Usage, `signMessage: key must be the Ed25519 key pair to sign with (generateKeyPair, importPrivateKey), not ${given}`);
}

const STRICT_TIME = "a strict RFC 3339 time with offset, like 2027-01-01T00:00:00Z (a \"T\" between date and time, seconds 00-59, a fraction of at most 9 digits)";

/**
 * Receivers read a message's expiry and creation time strictly (rfc3339-time.ts), more strictly
 * than the schemas' `date-time` format, which also takes a space for the "T", a leap second and
 * longer fractions. Such a message would validate, sign and publish, and then be dead-lettered
 * by every receiver (`ONEX_E_TRUST_EXPIRED`, or `ONEX_E_REPLAY` where a replay guard reads the
 * time): so it is refused here, where its publisher sees why.
 */
function checkStrictTimes(data: Envelope): void {
  if (Number.isNaN(parseRfc3339(data.trust.expires_at))) {
    throw new OnexError(ErrorCode.TrustExpired, `trust.expires_at ${JSON.stringify(data.trust.expires_at)?.slice(0, 60)} is not ${STRICT_TIME}: every receiver refuses it`, { instancePath: "/trust/expires_at" });
  }
  const time = createdAtTextOf(data);
  if (time !== undefined && Number.isNaN(parseRfc3339(time))) {
    throw new OnexError(ErrorCode.ValidationFailed, `the message time ${JSON.stringify(time)?.slice(0, 60)} is not ${STRICT_TIME}: receivers that guard against replays refuse it`, { time: String(time).slice(0, 60) });
  }
}

/**
 * Checks a message's signature alone and returns the signer's key. Throws
 * ONEX_E_SIGNATURE_MISSING, ONEX_E_SIGNER_UNKNOWN or ONEX_E_SIGNATURE_INVALID.
 */
export function verifyMessageSignature(message: EnvelopeInput, keys: KeyResolver): PublicKey {
  const { key, bytes, signature } = messageSignatureCheck(message, keys);
  if (!verifyEd25519(key, bytes, signature)) throw signatureNotVerified(key);
  return key;
}

/** A message signature found, its key resolved and checked, ready for the arithmetic alone. */
export interface SignatureCheck {
  readonly key: PublicKey;
  /** The bytes the signature covers: the canonical envelope without `trust.signature`. */
  readonly bytes: Uint8Array;
  /** The 64 bytes of the signature. */
  readonly signature: Uint8Array;
}

/**
 * Everything `verifyMessageSignature` does before it verifies, with the same errors in the
 * same order; what is left is `verifyEd25519(key, bytes, signature)`, which the receive
 * pipeline may hand to another thread (receive/verify-ahead.ts).
 */
export function messageSignatureCheck(message: EnvelopeInput, keys: KeyResolver): SignatureCheck {
  const data = envelopeData(message);
  const { signer, signature } = data.trust;
  if (signature === undefined) throw new OnexError(ErrorCode.SignatureMissing, "the message is not signed (no trust.signature)", { instancePath: "/trust/signature" });
  if (typeof signer !== "string") throw new OnexError(ErrorCode.SignatureInvalid, "trust.signer is not a key id", { instancePath: "/trust/signer" });
  const key = keys(signer);
  if (key === undefined) throw new OnexError(ErrorCode.SignerUnknown, `signer ${signer.slice(0, 128)} is not in the key ring`, { signer: signer.slice(0, 128) });
  // A resolver mapping an id to a different key would let one key sign for another's id.
  if (key.keyId !== signer) throw new OnexError(ErrorCode.SignatureInvalid, `the key ring returned key ${key.keyId} for signer ${signer}`, { signer });
  const bytes = canonicalBytes(unsignedEnvelope(data));
  return { key, bytes, signature: signatureToVerify(key, signature) };
}

/** Throws ONEX_E_TRUST_EXPIRED when `trust.expires_at` is not a valid time or not after `now`. */
export function checkTrustExpiry(message: EnvelopeInput, now?: Date | number): void {
  const { expires_at } = envelopeData(message).trust;
  const expires = parseRfc3339(expires_at);
  if (Number.isNaN(expires)) throw new OnexError(ErrorCode.TrustExpired, "trust.expires_at is not an RFC 3339 time with offset (like 2027-01-01T00:00:00Z)", { instancePath: "/trust/expires_at" });
  const at = toMillis(now, "now");
  if (expires <= at) {
    throw new OnexError(ErrorCode.TrustExpired, `the message's trust expired at ${expires_at}`, { instancePath: "/trust/expires_at", expiresAt: expires_at, now: new Date(at).toISOString() });
  }
}

/**
 * Throws ONEX_E_ZONE_MISMATCH when the trust zone differs from the zone the source address
 * claims, or from `expectedZone` (the receiving session's zone) when one is given. Throws
 * ONEX_E_UNKNOWN_VERSION when no generated SDK is loaded: where the source zone is depends on
 * the version, and an unread zone must not pass as an agreeing one.
 */
export function checkZone(message: EnvelopeInput, expectedZone?: string): void {
  const data = envelopeData(message);
  if (envelopeLayouts().length === 0) {
    throw new OnexError(ErrorCode.UnknownVersion, "no protocol SDK is loaded, so the message's source zone cannot be read: import the generated SDK of its version (it registers where its envelope keeps the zone)", {});
  }
  const zone = data.trust.zone;
  const sourceZone = sourceZoneOf(data);
  if (sourceZone !== undefined && sourceZone !== zone) {
    throw new OnexError(ErrorCode.ZoneMismatch, `the signer vouches for zone ${memberText(zone)} but the message comes from zone ${memberText(sourceZone)}`, { zone, sourceZone });
  }
  if (expectedZone !== undefined && zone !== expectedZone) {
    throw new OnexError(ErrorCode.ZoneMismatch, `the message is for zone ${memberText(zone)}, this session is in zone ${expectedZone}`, { zone, expectedZone });
  }
}

/** What a strict verification needs beyond the message. */
export interface VerifyMessageOptions {
  /** The public keys trusted to sign. */
  keys: KeyResolver;
  /** The time to check expiry against; now by default. */
  now?: Date | number;
  /** The receiving session's zone; when given, the message's trust zone must equal it. */
  zone?: string;
}

/** Verifies signature, expiry and zone, all strictly; returns the signer's key or throws the failing check's code. */
export function verifyMessage(message: EnvelopeInput, options: VerifyMessageOptions): PublicKey {
  // Without options (or with a list of keys) the resolver call was a raw TypeError; typeof alone, per message.
  if (typeof options?.keys !== "function") {
    checkObject("verifyMessage", "options", options, { required: true });
    const keys: unknown = options.keys;
    const given = typeof keys === "string" ? "a string (read PEM or compact text with importPublicKey)" : Array.isArray(keys) ? "an array (give keyRing(keys))" : describeValue(keys);
    throw new OnexError(ErrorCode.Usage, `verifyMessage: keys must be a key resolver (keyRing([...])), not ${given}`);
  }
  const key = verifyMessageSignature(message, options.keys);
  checkTrustExpiry(message, options.now);
  checkZone(message, options.zone);
  return key;
}
