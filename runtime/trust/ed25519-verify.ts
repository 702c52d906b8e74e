/**
 * Ed25519 verification, one rule wherever it runs. Verifying is what a received message, a
 * registry read and a watch event cost most, and OpenSSL's Ed25519 verification (what
 * node:crypto has) takes about twice libsodium's: so when the optional peer `sodium-native`
 * is installed, signatures are verified with libsodium, otherwise with OpenSSL.
 *
 * Both must give the same verdict on every signature, or a message would be accepted by one
 * service and refused by another. They differ in one place: a signature whose R is a point of
 * small order. libsodium refuses it; OpenSSL accepts it when the equation holds, which it does
 * for R = the identity, S = k·a (only the key's owner can make one: a second signature for
 * a message they already signed). Such an R is refused here before either library runs, as
 * libsodium refuses it. On keys the two agree once `assertUsablePublicKey` has refused the
 * weak ones (weak-public-key.ts); the Wycheproof vectors and those signatures are tested
 * against both (test/trust/ed25519-verify.test.ts).
 */
import { verify as opensslVerify, type KeyObject } from "node:crypto";
import { createRequire } from "node:module";

/** A public key as verification needs it: its 32 raw bytes (libsodium) and its KeyObject (OpenSSL). */
export interface VerifyingKey {
  readonly raw: Uint8Array;
  readonly keyObject: KeyObject;
}

/** Verifies a 64-byte signature over `message`; true when it is valid. */
export type Ed25519Verifier = (key: VerifyingKey, message: Uint8Array, signature: Uint8Array) => boolean;

/**
 * Whether the first 32 bytes of `bytes` (a signature's R) encode a point of small order: the
 * encodings libsodium's verification refuses (`ge25519_has_small_order`), the sign bit
 * ignored — y = 0, 1, p - 1 and the two of order 8, and p, p + 1 written for 0 and 1.
 * Self-contained (no names from outside it): the verification threads run its source
 * (receive/verify-ahead.ts), so their verdicts are this module's.
 */
export function smallOrderR(bytes: Uint8Array): boolean {
  // Every blocked encoding starts with one of these bytes: any other R is not blocked.
  if (![0x00, 0x01, 0x26, 0xc7, 0xec, 0xed, 0xee].includes(bytes[0]!)) return false;
  let hex = "";
  for (let i = 0; i < 32; i++) hex += (i === 31 ? bytes[i]! & 0x7f : bytes[i]!).toString(16).padStart(2, "0");
  return [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  ].includes(hex);
}

/** OpenSSL's verification, through node:crypto. */
export const opensslEd25519: Ed25519Verifier = (key, message, signature) => opensslVerify(null, message, key.keyObject, signature);

interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

/** libsodium's binding; null when `sodium-native` is not installed or does not load; undefined until first looked for. */
let sodium: Sodium | null | undefined;
let sodiumPath: string | undefined;

/**
 * Loads `sodium-native` on the first verification, not at import: loading it takes ~20 ms,
 * which a program that never verifies (or a CLI command's cold start) should not pay. A copy
 * that does not load (built for another platform) leaves verification to OpenSSL, whose
 * verdicts under the rule are the same.
 */
function loadSodium(): Sodium | undefined {
  if (sodium === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const path = require.resolve("sodium-native");
      sodium = require(path) as Sodium;
      sodiumPath = path;
    } catch {
      sodium = null;
    }
  }
  return sodium ?? undefined;
}

/** The path `sodium-native` was loaded from (for verification threads to load the same), or undefined when it is not used. */
export function sodiumNativePath(): string | undefined {
  loadSodium();
  return sodiumPath;
}

/** libsodium's verification, or undefined when `sodium-native` is not installed or does not load. */
export function libsodiumEd25519(): Ed25519Verifier | undefined {
  const binding = loadSodium();
  if (binding === undefined) return undefined;
  const verify = binding.crypto_sign_verify_detached;
  return (key, message, signature) => verify(signature, message, key.raw);
}

/** `library` under onex's rule: 64 bytes whose R is not of small order, then the library's verdict. */
export function underOnexRule(library: Ed25519Verifier): Ed25519Verifier {
  return (key, message, signature) => signature.length === 64 && !smallOrderR(signature) && library(key, message, signature);
}

/** Which library verifies in this process: "libsodium" when `sodium-native` is installed (and loads), else "OpenSSL". */
export function ed25519Library(): "libsodium" | "OpenSSL" {
  return loadSodium() === undefined ? "OpenSSL" : "libsodium";
}

let chosen: Ed25519Verifier | undefined;

/** Verifies `signature` (64 bytes) over `message` with `key`: libsodium's verdict, with either library. */
export function verifyEd25519(key: VerifyingKey, message: Uint8Array, signature: Uint8Array): boolean {
  chosen ??= underOnexRule(libsodiumEd25519() ?? opensslEd25519);
  return chosen(key, message, signature);
}
