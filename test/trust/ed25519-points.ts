/**
 * Ed25519 point arithmetic in BigInt (RFC 8032, extended coordinates), slow and plain: for
 * tests to build signatures no library makes and to check equations the libraries keep to
 * themselves. Never used to verify anything onex trusts.
 */
import { createHash } from "node:crypto";

export type Point = readonly [x: bigint, y: bigint, z: bigint, t: bigint];

export const P = 2n ** 255n - 19n;
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const mod = (a: bigint, m = P) => ((a % m) + m) % m;
function pow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  for (let b = mod(base), e = exponent; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) result = (result * b) % P;
  return result;
}
const inverse = (a: bigint) => pow(a, P - 2n);
const D = mod(-121665n * inverse(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

export const IDENTITY: Point = [0n, 1n, 1n, 0n];

export function add([x1, y1, z1, t1]: Point, [x2, y2, z2, t2]: Point): Point {
  const a = mod((y1 - x1) * (y2 - x2));
  const b = mod((y1 + x1) * (y2 + x2));
  const c = mod(2n * D * t1 * t2);
  const d = mod(2n * z1 * z2);
  const [e, f, g, h] = [b - a, d - c, d + c, b + a];
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

export const negate = ([x, y, z, t]: Point): Point => [mod(-x), y, z, mod(-t)];

export function multiply(scalar: bigint, point: Point): Point {
  let result = IDENTITY;
  for (let k = scalar, q = point; k > 0n; k >>= 1n, q = add(q, q)) if (k & 1n) result = add(result, q);
  return result;
}

export const littleEndian = (bytes: Uint8Array) => bytes.reduceRight((value, byte) => (value << 8n) | BigInt(byte), 0n);

export function toLittleEndian(value: bigint): Buffer {
  const bytes = Buffer.alloc(32);
  for (let i = 0, v = value; i < 32; i++, v >>= 8n) bytes[i] = Number(v & 255n);
  return bytes;
}

export function encode([x, y, z]: Point): Buffer {
  const zi = inverse(z);
  return toLittleEndian(mod(y * zi) | ((mod(x * zi) & 1n) << 255n));
}

/** The point 32 bytes encode, or undefined when they encode none (non-canonical y, no square root, -0). */
export function decode(bytes: Uint8Array): Point | undefined {
  const value = littleEndian(bytes);
  const sign = value >> 255n;
  const y = value & ((1n << 255n) - 1n);
  if (y >= P) return undefined;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  if (mod(v * x * x) !== u) {
    if (mod(v * x * x) !== mod(-u)) return undefined;
    x = mod(x * SQRT_M1);
  }
  if (x === 0n && sign === 1n) return undefined;
  if ((x & 1n) !== sign) x = mod(-x);
  return [x, y, 1n, mod(x * y)];
}

export const equal = (a: Point, b: Point) => encode(a).equals(encode(b));

export const BASE = decode(toLittleEndian(mod(4n * inverse(5n))))!;
/** A point of order 8. */
export const TORSION_8 = decode(Buffer.from("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "hex"))!;

const sha512 = (...parts: Uint8Array[]) => createHash("sha512").update(Buffer.concat(parts)).digest();

/** The secret scalar of a seed: its hash's first half, clamped (RFC 8032, 5.1.5). */
export function secretScalar(seed: Uint8Array): bigint {
  const hash = sha512(seed);
  hash[0]! &= 248;
  hash[31]! &= 127;
  hash[31]! |= 64;
  return littleEndian(hash.subarray(0, 32));
}

/** k = SHA-512(R ‖ A ‖ M) mod L. */
export const challenge = (r: Uint8Array, publicKey: Uint8Array, message: Uint8Array) => littleEndian(sha512(r, publicKey, message)) % L;

/** A signature by scalar `a` with nonce point `nonce` (any point: a genuine one is rB) and the nonce scalar `r` S uses. */
export function signWithNonce(a: bigint, message: Uint8Array, r: bigint, nonce: Point): Buffer {
  const publicKey = encode(multiply(a, BASE));
  const rBytes = encode(nonce);
  return Buffer.concat([rBytes, toLittleEndian(mod(r + challenge(rBytes, publicKey, message) * a, L))]);
}

/** Verification with the cofactor, [8][S]B = [8]R + [8][k]A, as libsodium's main line checks it: what onex must not take as a verdict. */
export function verifiesWithCofactor(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const a = decode(publicKey);
  const r = decode(signature.subarray(0, 32));
  const s = littleEndian(signature.subarray(32, 64));
  if (a === undefined || r === undefined || s >= L) return false;
  const k = challenge(signature.subarray(0, 32), publicKey, message);
  const difference = add(multiply(s, BASE), negate(add(r, multiply(k, a))));
  return equal(multiply(8n, difference), IDENTITY);
}

/**
 * A second signature of `message` by the key of `seed`, whose R is the identity: r = 0, so
 * S = k·a. Only a key's owner can make one. OpenSSL's verification accepts it, libsodium's
 * refuses it, and so does onex (trust/ed25519-verify.ts).
 */
export function identityRSignature(seed: Uint8Array, message: Uint8Array): Buffer {
  return signWithNonce(secretScalar(seed), message, 0n, IDENTITY);
}
