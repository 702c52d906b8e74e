/** Signing trust-chain records: the signature covers the canonical record without its `signature` field. */
import { ErrorCode, OnexError } from "../errors.js";
import { canonicalBytes } from "./canonical-json.js";
import type { KeyPair, PublicKey } from "./keys.js";
import { signBytes, verifyBytes } from "./signature.js";

/** The bytes a record's signature covers. */
export function recordSigningBytes(record: object): Buffer {
  const { signature: _signature, ...rest } = record as { signature?: unknown };
  return canonicalBytes(rest);
}

/** A copy of `record` with `signature` set by `key`. */
export function signRecord<T extends { signature?: string }>(record: T, key: KeyPair): T {
  return { ...record, signature: signBytes(key, recordSigningBytes(record)) };
}

/** Throws ONEX_E_SIGNATURE_MISSING or ONEX_E_SIGNATURE_INVALID unless `key` signed `record`. */
export function verifyRecordSignature(record: { signature?: unknown }, key: PublicKey, what: string): void {
  if (record.signature === undefined) throw new OnexError(ErrorCode.SignatureMissing, `the ${what} is not signed`, { instancePath: "/signature" });
  try {
    verifyBytes(key, recordSigningBytes(record), record.signature);
  } catch (error) {
    if (error instanceof OnexError) throw new OnexError(error.code, `${what}: ${error.message}`, error.details, { cause: error });
    throw error;
  }
}
