/** Shared test data for the trust tests: a typical v0.1 message, a fixed clock, a key owner's second signature. */
import { createHash } from "node:crypto";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { keyPairFromSeed } from "../../runtime/trust/keys.js";

/** The fixed "now" the trust tests judge at. */
export const NOW = Date.parse("2026-06-01T12:00:00Z");
export const ZONE = "zone.trusted.org";

/** A typical v0.1 `signal.task.dispatch`, created a second before NOW, trusted until the end of the year. */
export function taskDispatch(signer = "key-unset", overrides: { id?: string; time?: string; expires_at?: string; zone?: string; entity_id?: string } = {}): v0_1.TaskDispatch {
  return v0_1.TaskDispatch.create({
    ...(overrides.id === undefined ? {} : { id: overrides.id }),
    time: overrides.time ?? new Date(NOW - 1000).toISOString(),
    source: { zone: overrides.zone ?? ZONE, entity_type: "node", entity_id: overrides.entity_id ?? "node-dispatcher" },
    trust: { signer, level: "verified", zone: overrides.zone ?? ZONE, expires_at: overrides.expires_at ?? "2026-12-31T00:00:00Z" },
    payload: { task_id: "t-42", target: "node-worker", action: "render", priority: 5, input: { frames: [1, 2, 3], scene: "intro", quality: 0.85 } },
  });
}

/** Runs `fn` and returns the OnexError it throws; fails the test when it throws nothing or something else. */
export function catchOnexError(fn: () => unknown): OnexError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OnexError) return error;
    throw error;
  }
  throw new Error("expected an OnexError, but nothing was thrown");
}

export { ErrorCode };

/**
 * A second Ed25519 signature of `message` by the key of `seed`, whose R is the identity
 * point: S = k·a, k = SHA-512(R ‖ A ‖ M) mod L. Only a key's owner can make one. OpenSSL's
 * verification accepts it, libsodium's refuses it, and so does onex (trust/ed25519-verify.ts).
 */
export function identityRSignature(seed: Uint8Array, message: Uint8Array): Buffer {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const littleEndian = (bytes: Uint8Array) => bytes.reduceRight((value, byte) => (value << 8n) | BigInt(byte), 0n);
  const hash = createHash("sha512").update(seed).digest();
  // The secret scalar a: the hash's first half, clamped (RFC 8032, 5.1.5).
  hash[0]! &= 248;
  hash[31]! &= 127;
  hash[31]! |= 64;
  const a = littleEndian(hash.subarray(0, 32));
  const publicKey = keyPairFromSeed(seed).publicKey.raw;
  const r = Buffer.alloc(32);
  r[0] = 1;
  const k = littleEndian(createHash("sha512").update(Buffer.concat([r, publicKey, message])).digest()) % L;
  let s = (k * a) % L;
  const sBytes = Buffer.alloc(32);
  for (let i = 0; i < 32; i++, s >>= 8n) sBytes[i] = Number(s & 255n);
  return Buffer.concat([r, sBytes]);
}
