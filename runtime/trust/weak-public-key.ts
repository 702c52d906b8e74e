/**
 * Ed25519 public keys that must never be trusted. With a small-order key (the identity,
 * the point of order 2, the points of order 4 and 8) the signature R = identity, S = 0
 * verifies for every message under cofactored verification, so anyone can forge; a
 * non-canonical encoding (y >= p, or x = 0 with the sign bit set) names a key by a second
 * text, so one key could hold two key ids. libsodium refuses the same set.
 */

const P = 2n ** 255n - 19n;
// d = -121665/121666 mod p, the curve constant (121666^(p-2) is its inverse, Fermat).
const D = (((-121665n * modPow(121666n, P - 2n, P)) % P) + P) % P;
// y coordinates of every point whose order divides 8: 0 (order 4), 1 (identity), p-1 (order 2), ±y8 (order 8).
const Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
const SMALL_ORDER_Y = new Set([0n, 1n, P - 1n, Y8, P - Y8]);

/**
 * Why 32 raw bytes are not a safe Ed25519 public key, or undefined when they are. Run once
 * for every key a process meets (a watcher meets one per node), so it avoids the two
 * 255-bit exponentiations of the textbook check (~0.5 ms): the bytes name a point when
 * x² = u/v has a root, u = y² - 1 and v = d·y² + 1, that is when u·v is a square mod p,
 * which the Jacobi symbol tells in a Euclid-like loop (tested against the textbook check).
 */
export function weakPublicKeyReason(raw: Uint8Array): string | undefined {
  if (raw.length !== 32) return `an Ed25519 public key is 32 bytes, not ${raw.length}`;
  // Four 64-bit reads rather than 32 byte shifts: every BigInt step allocates.
  const words = new DataView(raw.buffer, raw.byteOffset, 32);
  const top = words.getBigUint64(24, true);
  const signBit = top >> 63n;
  const y = words.getBigUint64(0, true) | (words.getBigUint64(8, true) << 64n) | (words.getBigUint64(16, true) << 128n) | (BigInt.asUintN(63, top) << 192n);
  if (y >= P) return "the key is not canonically encoded (y >= p)";
  const y2 = (y * y) % P;
  const u = (y2 + P - 1n) % P;
  // v = d·y² + 1 is never 0 (d is not a square), so x = 0 exactly when u = 0.
  if (u === 0n) {
    if (signBit === 1n) return "the key is not canonically encoded (x = 0 with the sign bit set)";
  } else if (jacobi((u * ((D * y2 + 1n) % P)) % P, P) !== 1) {
    return "the bytes are not a point on the Ed25519 curve";
  }
  if (SMALL_ORDER_Y.has(y)) return "the key is a point of small order, for which anyone can forge signatures";
  return undefined;
}

// Below 2^53 the loop goes on in doubles, whose %, / 2 and comparisons are exact there.
const EXACT_IN_A_DOUBLE = 2n ** 53n;
const SHIFTS = Array.from({ length: 32 }, (_, i) => BigInt(i));

/**
 * The Jacobi symbol (a/n) for odd n > 0: the Legendre symbol when n is prime (1: a square, -1: not, 0: a ≡ 0).
 * The textbook loop, (2/m) for each factor 2 and reciprocity at each swap, with as few BigInt
 * steps as it can take (each allocates; they were most of a key's first check): the factors 2
 * come off in one shift, the low bits the signs depend on are read once a turn as a double, and
 * the last ~53 bits run in doubles.
 */
export function jacobi(a: bigint, n: bigint): number {
  let x = ((a % n) + n) % n;
  let m = n;
  let mLow = Number(BigInt.asUintN(32, m));
  let result = 1;
  while (m >= EXACT_IN_A_DOUBLE) {
    if (x === 0n) return 0; // gcd(0, m) = m > 1
    let low = Number(BigInt.asUintN(32, x));
    // 2^32 is a square: dropping it changes no sign.
    while (low === 0) {
      x >>= 32n;
      low = Number(BigInt.asUintN(32, x));
    }
    const twos = 31 - Math.clz32(low & -low);
    if (twos > 0) {
      x >>= SHIFTS[twos]!;
      if ((twos & 1) === 1 && ((mLow & 7) === 3 || (mLow & 7) === 5)) result = -result;
      // x's low 3 bits, which the next turn's (2/m) needs once x is m: still in `low` unless shifted out.
      low = twos >= 30 ? Number(BigInt.asUintN(32, x)) : low >>> twos;
    }
    if ((low & 3) === 3 && (mLow & 3) === 3) result = -result;
    [x, m] = [m % x, x];
    mLow = low;
  }
  let xs = Number(x);
  let ms = Number(m);
  while (xs !== 0) {
    while (xs % 2 === 0) {
      xs /= 2;
      if (ms % 8 === 3 || ms % 8 === 5) result = -result;
    }
    if (xs % 4 === 3 && ms % 4 === 3) result = -result;
    [xs, ms] = [ms % xs, xs];
  }
  return ms === 1 ? result : 0;
}

/** base^exponent mod m (square and multiply); used once, for the curve constant. */
export function modPow(base: bigint, exponent: bigint, m: bigint): bigint {
  let result = 1n;
  let b = ((base % m) + m) % m;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}
