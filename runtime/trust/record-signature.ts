/** Signing trust-chain records: the signature covers the canonical record without its `signature` field. */
import { ErrorCode, OnexError } from "../errors.js";
import { canonicalize } from "./canonical-json.js";
import { assertUsablePublicKey, publicKeyTextOf, type KeyPair, type PublicKey } from "./keys.js";
import { signBytesWith, verifyBytes } from "./signature.js";
import { forgetOldest } from "../forget-oldest.js";

/** The bytes a record's signature covers. */
export function recordSigningBytes(record: object): Buffer {
  return Buffer.from(signingText(record), "utf8");
}

function signingText(record: object): string {
  const { signature: _signature, ...rest } = record as { signature?: unknown };
  return canonicalize(rest);
}

// Records signed by this process, by signature: a record is often verified where it was signed (a
// node registering the entry it just signed, an authority checking the grant it issued), and a
// signature made here is valid for exactly the bytes it signed and the signer's public key. Such
// a record is checked by comparing those (the canonical text, character for character, and the
// key) instead of by the Ed25519 arithmetic, about 130 µs of CPU on a 2-core machine. The signer's
// key is derived from the private KeyObject that signed (read once: a KeyPair is a plain object,
// whose publicKey, or a getter, could name another key); only texts of up to 8,192 characters are
// kept. Any other record verifies as always.
const signedHere = new Map<string, { signer: string; text: string }>();
const SIGNED_HERE_REMEMBERED = 1_024;
const SIGNED_HERE_MAX_TEXT = 8_192;

/** A copy of `record` with `signature` set by `key`. */
export function signRecord<T extends { signature?: string }>(record: T, key: KeyPair): T {
  const text = signingText(record);
  const privateKey = key.privateKey;
  const signature = signBytesWith(privateKey, Buffer.from(text, "utf8"));
  const signer = publicKeyTextOf(privateKey);
  if (signer !== undefined && text.length <= SIGNED_HERE_MAX_TEXT) {
    signedHere.delete(signature);
    signedHere.set(signature, { signer, text });
    if (signedHere.size > SIGNED_HERE_REMEMBERED) forgetOldest(signedHere);
  }
  return { ...record, signature };
}

/** Throws ONEX_E_SIGNATURE_MISSING or ONEX_E_SIGNATURE_INVALID unless `key` signed `record`. */
export function verifyRecordSignature(record: { signature?: unknown }, key: PublicKey, what: string): void {
  const signature = record.signature;
  if (signature === undefined) throw new OnexError(ErrorCode.SignatureMissing, `the ${what} is not signed`, { instancePath: "/signature" });
  try {
    const text = signingText(record);
    const made = typeof signature === "string" ? signedHere.get(signature) : undefined;
    if (made !== undefined && made.text === text) {
      // The key is checked as verifyBytes checks it first (strong, named by its fingerprint, its key object its raw bytes).
      assertUsablePublicKey(key);
      if (key.raw.toString("base64url") === made.signer) return;
    }
    verifyBytes(key, Buffer.from(text, "utf8"), signature);
  } catch (error) {
    if (error instanceof OnexError) throw new OnexError(error.code, `${what}: ${error.message}`, error.details, { cause: error });
    throw error;
  }
}
