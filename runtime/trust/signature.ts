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
  const decoded = signatureToVerify(key, signature);
  if (!verifyEd25519(key, bytes, decoded)) throw signatureNotVerified(key);
}

/**
 * Everything `verifyBytes` checks before the arithmetic, in its order: the key is usable
 * (ONEX_E_KEY_WEAK, ONEX_E_KEY_INVALID), the signature well formed (ONEX_E_SIGNATURE_INVALID).
 * Returns the 64 signature bytes to verify.
 */
export function signatureToVerify(key: PublicKey, signature: unknown): Buffer {
  assertUsablePublicKey(key);
  return decodeSignature(signature);
}

/** The error of a well-formed signature that `key` did not make. */
export function signatureNotVerified(key: PublicKey): OnexError {
  return invalid(`the signature does not verify with key ${key.keyId}`, { keyId: key.keyId });
}

function invalid(message: string, details: Record<string, unknown> = {}): OnexError {
  return new OnexError(ErrorCode.SignatureInvalid, message, details);
}
