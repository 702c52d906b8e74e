/**
 * Ed25519 public keys that must never be trusted. With a small-order key (the identity,
 * the point of order 2, the points of order 4 and 8) the signature R = identity, S = 0
 * verifies for every message under cofactored verification, so anyone can forge; a
 * non-canonical encoding (y >= p, or x = 0 with the sign bit set) names a key by a second
 * text, so one key could hold two key ids. libsodium refuses the same set.
 */

const P = 2n ** 255n - 19n;
// d = -121665/121666 mod p, the curve constant.
const D = mod(-121665n * modPow(121666n, P - 2n));
// y coordinates of every point whose order divides 8: 0 (order 4), 1 (identity), p-1 (order 2), ±y8 (order 8).
const Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
const SMALL_ORDER_Y = new Set([0n, 1n, P - 1n, Y8, P - Y8]);

/** Why 32 raw bytes are not a safe Ed25519 public key, or undefined when they are. */
export function weakPublicKeyReason(raw: Uint8Array): string | undefined {
  if (raw.length !== 32) return `an Ed25519 public key is 32 bytes, not ${raw.length}`;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(raw[i]!);
  const signBit = y >> 255n;
  y &= (1n << 255n) - 1n;
  if (y >= P) return "the key is not canonically encoded (y >= p)";
  const y2 = mod(y * y);
  const x2 = mod((y2 - 1n) * modPow(mod(D * y2 + 1n), P - 2n));
  if (x2 === 0n) {
    if (signBit === 1n) return "the key is not canonically encoded (x = 0 with the sign bit set)";
  } else if (modPow(x2, (P - 1n) / 2n) !== 1n) {
    return "the bytes are not a point on the Ed25519 curve";
  }
  if (SMALL_ORDER_Y.has(y)) return "the key is a point of small order, for which anyone can forge signatures";
  return undefined;
}

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}
