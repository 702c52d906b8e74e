/** Ed25519 signatures over bytes, in the `ed25519:<base64url>` text form records and envelopes carry. */
import { sign as cryptoSign } from "node:crypto";
import { ErrorCode, OnexError } from "../errors.js";
import { verifyEd25519 } from "./ed25519-verify.js";
import { assertUsablePublicKey, type KeyPair, type PublicKey } from "./keys.js";

/** The algorithm prefix of every signature text. */
export const SIGNATURE_PREFIX = "ed25519:";

// 64 signature bytes are 86 unpadded base64url characters.
const SIGNATURE_TEXT = /^ed25519:[A-Za-z0-9_-]{86}$/;

/** Signs `bytes`, returning `ed25519:<base64url>`. */
export function signBytes(key: KeyPair, bytes: Uint8Array): string {
  return signBytesWith(key.privateKey, bytes);
}

/** Signs `bytes` with a private key, returning `ed25519:<base64url>`. */
export function signBytesWith(privateKey: KeyPair["privateKey"], bytes: Uint8Array): string {
  return SIGNATURE_PREFIX + cryptoSign(null, bytes, privateKey).toString("base64url");
}

/** The 64 signature bytes of a signature text; throws ONEX_E_SIGNATURE_INVALID when it is malformed or names another algorithm. */
export function decodeSignature(signature: unknown): Buffer {
  if (typeof signature !== "string") throw invalid("the signature is not a string");
  if (!SIGNATURE_TEXT.test(signature)) {
    const colon = signature.indexOf(":");
    const algorithm = colon > 0 ? signature.slice(0, colon) : "";
    if (algorithm !== "ed25519") throw invalid(`unsupported signature algorithm "${algorithm.slice(0, 32)}"; expected "ed25519:<base64url>"`);
    throw invalid("the signature is not 64 bytes of unpadded base64url");
  }
  const text = signature.slice(SIGNATURE_PREFIX.length);
  const bytes = Buffer.from(text, "base64url");
  // Only one text per signature: stray low bits in the last character would make signatures malleable as strings.
  if (bytes.toString("base64url") !== text) throw invalid("the signature is not canonical base64url");
  return bytes;
}


/** True when `signature` (text) is a valid signature of `bytes` by `key`; malformed signatures are false. Throws ONEX_E_KEY_WEAK for a weak key. */
export function isValidSignature(key: PublicKey, bytes: Uint8Array, signature: unknown): boolean {
  assertUsablePublicKey(key);
  try {
    return verifyEd25519(key, bytes, decodeSignature(signature));
  } catch (error) {
    if (error instanceof OnexError) return false;
    throw error;
  }
}

/** Verifies `signature` over `bytes`; throws ONEX_E_SIGNATURE_INVALID when malformed or not made by `key`. */
export function verifyBytes(key: PublicKey, bytes: Uint8Array, signature: unknown): void {
  assertUsablePublicKey(key);
  const decoded = decodeSignature(signature);
  if (!(takeVerifiedAhead(key, bytes, decoded) ?? verifyEd25519(key, bytes, decoded))) {
    throw invalid(`the signature does not verify with key ${key.keyId}`, { keyId: key.keyId });
  }
}

/** A verdict reached elsewhere (a verification thread) on exactly these key, bytes and signature. */
export interface VerifiedAhead {
  keyRaw: Uint8Array;
  bytes: Uint8Array;
  signature: Uint8Array;
  valid: boolean;
  /** Set once `verifyBytes` took the verdict instead of verifying. */
  used?: boolean;
}

let ahead: VerifiedAhead | undefined;

/**
 * Runs `fn` (synchronous) with `checked` at hand: the first `verifyBytes` in it whose key,
 * bytes and signature equal the checked ones byte for byte takes its verdict instead of
 * verifying again (Ed25519 verification is deterministic, so the verdict is the same). Every
 * other check runs as always, in the same order; any other verification verifies.
 */
export function withVerifiedAhead<T>(checked: VerifiedAhead | undefined, fn: () => T): T {
  const outer = ahead;
  ahead = checked;
  try {
    return fn();
  } finally {
    ahead = outer;
  }
}

function takeVerifiedAhead(key: PublicKey, bytes: Uint8Array, signature: Uint8Array): boolean | undefined {
  const checked = ahead;
  if (checked === undefined || checked.used) return undefined;
  if (Buffer.compare(checked.signature, signature) !== 0 || Buffer.compare(checked.keyRaw, key.raw) !== 0 || Buffer.compare(checked.bytes, bytes) !== 0) return undefined;
  checked.used = true;
  return checked.valid;
}

function invalid(message: string, details: Record<string, unknown> = {}): OnexError {
  return new OnexError(ErrorCode.SignatureInvalid, message, details);
}
