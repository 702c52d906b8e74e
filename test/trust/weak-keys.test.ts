/** Finding 2: small-order and non-canonical Ed25519 public keys are refused wherever a key enters. */
import { createPublicKey, verify } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { agentKeyRecord, createNodeIdentity, verifyAgentKey, verifyNodeIdentity, buildFingerprint } from "../../runtime/trust/identity.js";
import { COMPACT_PUBLIC_PREFIX, generateKeyPair, importPublicKey, keyIdOf, keyRing, publicKeyFromRaw, type PublicKey } from "../../runtime/trust/keys.js";
import { signRegistryEntry, verifyRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { isValidSignature, verifyBytes } from "../../runtime/trust/signature.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { jacobi, weakPublicKeyReason } from "../../runtime/trust/weak-public-key.js";
import * as points from "./ed25519-points.js";
import { catchOnexError, ErrorCode } from "./fixtures.js";

const P = 2n ** 255n - 19n;
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function encode(y: bigint, signBit = 0): Buffer {
  const bytes = Buffer.alloc(32);
  let v = y;
  for (let i = 0; i < 32; i++) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (signBit) bytes[31]! |= 0x80;
  return bytes;
}

// The libsodium blocklist and its relatives: every point of order 1, 2, 4 or 8, and non-canonical encodings.
const WEAK: Record<string, Buffer> = {
  "identity (order 1)": encode(1n),
  "all zero (order 4)": encode(0n),
  "order 2 (y = p - 1)": encode(P - 1n),
  "order 8": Buffer.from("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "hex"),
  "order 8 (the other y)": Buffer.from("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "hex"),
  "y = p (non-canonical 0)": encode(P),
  "y = p + 1 (non-canonical identity)": encode(P + 1n),
  "all ones (y >= p)": Buffer.alloc(32, 0xff),
  "identity with the sign bit set": encode(1n, 1),
};

/** A PublicKey built by hand, as a caller could pass one straight into a key ring. */
function handMade(raw: Buffer): PublicKey {
  return { keyId: keyIdOf(raw), raw, keyObject: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" }) };
}

describe("weak Ed25519 public keys", () => {
  it("the danger is real: node:crypto verifies R = identity, S = 0 for any message under the identity key", () => {
    const identity = WEAK["identity (order 1)"]!;
    const forged = Buffer.concat([identity, Buffer.alloc(32)]);
    expect(verify(null, Buffer.from("delete everything"), handMade(identity).keyObject, forged)).toBe(true);
  });

  for (const [name, raw] of Object.entries(WEAK)) {
    it(`refuses ${name} as raw bytes, compact text, PEM, in a key ring and as a zone authority`, () => {
      expect(catchOnexError(() => publicKeyFromRaw(raw)).code).toBe(ErrorCode.KeyWeak);
      expect(catchOnexError(() => importPublicKey(COMPACT_PUBLIC_PREFIX + raw.toString("base64url"))).code).toMatch(/ONEX_E_KEY_(WEAK|INVALID)/);
      const pem = `-----BEGIN PUBLIC KEY-----\n${Buffer.concat([SPKI_PREFIX, raw]).toString("base64")}\n-----END PUBLIC KEY-----\n`;
      expect(catchOnexError(() => importPublicKey(pem)).code).toMatch(/ONEX_E_KEY_(WEAK|INVALID)/);
      expect(catchOnexError(() => keyRing([handMade(raw)])).code).toBe(ErrorCode.KeyWeak);
      expect(catchOnexError(() => new ZoneAuthorities([{ zone: "zone.a", key: handMade(raw) }])).code).toBe(ErrorCode.KeyWeak);
    });
  }

  it("verification itself refuses a weak key that reached it without a key ring", () => {
    const identity = handMade(WEAK["identity (order 1)"]!);
    const forged = "ed25519:" + Buffer.concat([WEAK["identity (order 1)"]!, Buffer.alloc(32)]).toString("base64url");
    expect(catchOnexError(() => verifyBytes(identity, Buffer.from("delete everything"), forged)).code).toBe(ErrorCode.KeyWeak);
    expect(catchOnexError(() => isValidSignature(identity, Buffer.from("delete everything"), forged)).code).toBe(ErrorCode.KeyWeak);
  });

  it("refuses weak keys in agent key records, node identities and registry entries", () => {
    const weak = WEAK["identity (order 1)"]!.toString("base64url");
    const agent = agentKeyRecord(generateKeyPair());
    expect(catchOnexError(() => verifyAgentKey({ ...agent, public_key: weak, key_id: keyIdOf(WEAK["identity (order 1)"]!) })).code).toBe(ErrorCode.KeyWeak);
    const nodeKey = generateKeyPair();
    const identity = createNodeIdentity(nodeKey, buildFingerprint("build"), "zone.a");
    expect(catchOnexError(() => verifyNodeIdentity({ ...identity, public_key: weak })).code).toBe(ErrorCode.KeyWeak);
    const entry = signRegistryEntry({ node_id: identity.node_id, address: "onex://zone.a/node/x", zone: "zone.a", health: { status: "passing" } }, nodeKey);
    expect(catchOnexError(() => verifyRegistryEntry(entry, undefined, { identity: { ...identity, public_key: weak } })).code).toBe(ErrorCode.KeyWeak);
  });

  it("a key ring refuses a hand-made key whose key id is not its fingerprint", () => {
    const real = generateKeyPair().publicKey;
    expect(catchOnexError(() => keyRing([{ ...real, keyId: "key-00000000000000000000000000000000" }])).code).toBe(ErrorCode.KeyInvalid);
  });

  it("accepts every generated key", () => {
    fc.assert(
      fc.property(fc.integer(), () => {
        const key = generateKeyPair().publicKey;
        expect(publicKeyFromRaw(key.raw).keyId).toBe(key.keyId);
      }),
      { numRuns: 50 },
    );
  });
});

describe("the on-curve check by Jacobi symbol", () => {
  it("agrees with Euler's criterion, a^((p-1)/2) mod p, on random values and on the edges", async () => {
    const { jacobi, modPow } = await import("../../runtime/trust/weak-public-key.js");
    const euler = (a: bigint) => {
      const r = modPow(a, (P - 1n) / 2n, P);
      return r === 0n ? 0 : r === 1n ? 1 : -1;
    };
    const big = fc.bigInt({ min: 0n, max: P - 1n });
    fc.assert(fc.property(big, (a) => jacobi(a, P) === euler(a)), { numRuns: 300 });
    for (const a of [0n, 1n, 2n, P - 1n, P - 2n, (P - 1n) / 2n]) expect(jacobi(a, P)).toBe(euler(a));
  });

  it("gives the textbook check's verdict on random bytes and on real keys", async () => {
    const { weakPublicKeyReason } = await import("../../runtime/trust/weak-public-key.js");
    const { modPow } = await import("../../runtime/trust/weak-public-key.js");
    const D = (((-121665n * modPow(121666n, P - 2n, P)) % P) + P) % P;
    // The check as first written: x² = u · v^(p-2), on the curve when x² is 0 or a square.
    const textbook = (raw: Uint8Array): boolean => {
      let y = 0n;
      for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(raw[i]!);
      y &= (1n << 255n) - 1n;
      if (y >= P) return false;
      const y2 = (y * y) % P;
      const x2 = (((y2 - 1n + P) % P) * modPow((D * y2 + 1n) % P, P - 2n, P)) % P;
      return x2 === 0n || modPow(x2, (P - 1n) / 2n, P) === 1n;
    };
    const offCurve = (raw: Uint8Array) => weakPublicKeyReason(raw) === "the bytes are not a point on the Ed25519 curve";
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (raw) => {
        const reason = weakPublicKeyReason(raw);
        if (reason?.includes("canonically")) return true;
        return offCurve(raw) === !textbook(raw);
      }),
      { numRuns: 300 },
    );
    for (let i = 0; i < 20; i++) {
      const raw = generateKeyPair().publicKey.raw;
      expect(textbook(raw)).toBe(true);
      expect(weakPublicKeyReason(raw)).toBeUndefined();
    }
  });
});

describe("the weak-key check against the textbook, encoding by encoding", () => {
  const mod = (a: bigint) => ((a % P) + P) % P;
  const pow = (b: bigint, e: bigint) => {
    let result = 1n;
    for (let base = mod(b), k = e; k > 0n; k >>= 1n, base = (base * base) % P) if (k & 1n) result = (result * base) % P;
    return result;
  };
  const D = mod(-121665n * pow(121666n, P - 2n));

  /** The reason, worked out the long way: x² by Fermat's inverse, squareness by Euler's criterion, small order as [8]A = identity. */
  function textbookReason(raw: Uint8Array): string | undefined {
    const value = points.littleEndian(raw);
    const y = value & ((1n << 255n) - 1n);
    if (y >= P) return "the key is not canonically encoded (y >= p)";
    const x2 = mod((y * y - 1n) * pow(D * y * y + 1n, P - 2n));
    if (x2 === 0n && value >> 255n === 1n) return "the key is not canonically encoded (x = 0 with the sign bit set)";
    if (x2 !== 0n && pow(x2, (P - 1n) / 2n) !== 1n) return "the bytes are not a point on the Ed25519 curve";
    if (points.equal(points.multiply(8n, points.decode(raw)!), points.IDENTITY)) return "the key is a point of small order, for which anyone can forge signatures";
    return undefined;
  }

  /** The Jacobi symbol as first written: one BigInt step a bit and a turn. */
  function textbookJacobi(a: bigint, n: bigint): number {
    let x = ((a % n) + n) % n;
    let m = n;
    let result = 1;
    while (x !== 0n) {
      while ((x & 1n) === 0n) {
        x >>= 1n;
        if ((m & 7n) === 3n || (m & 7n) === 5n) result = -result;
      }
      [x, m] = [m, x];
      if ((x & 3n) === 3n && (m & 3n) === 3n) result = -result;
      x %= m;
    }
    return m === 1n ? result : 0;
  }

  // Every y whose point has order dividing 8, and every y >= p (p .. 2^255 - 1), with either sign bit.
  const smallOrderY = [0n, 1n, P - 1n, points.littleEndian(points.encode(points.TORSION_8)), P - points.littleEndian(points.encode(points.TORSION_8))];
  const nonCanonicalY = Array.from({ length: 19 }, (_, i) => P + BigInt(i));
  const withBothSigns = (ys: bigint[]) => ys.flatMap((y) => [points.toLittleEndian(y), points.toLittleEndian(y | (1n << 255n))]);

  it("the small-order y are the orders 1, 2, 4 and 8", () => {
    for (const y of smallOrderY) {
      const point = points.decode(points.toLittleEndian(y))!;
      expect(points.equal(points.multiply(8n, point), points.IDENTITY)).toBe(true);
    }
    expect(new Set(smallOrderY).size).toBe(5);
  });

  it("gives the textbook's reason for every small-order and non-canonical encoding", () => {
    const encodings = withBothSigns([...smallOrderY, ...nonCanonicalY]);
    expect(encodings).toHaveLength(48);
    for (const raw of encodings) {
      expect(textbookReason(raw)).toBeDefined();
      expect(weakPublicKeyReason(raw)).toBe(textbookReason(raw));
    }
  });

  it("gives the textbook's reason on random bytes, and on bytes near the edges of the field", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (raw) => weakPublicKeyReason(raw) === textbookReason(raw)), { numRuns: 400 });
    const near = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 20n }), fc.bigInt({ min: P - 2n ** 20n, max: 2n ** 255n - 1n }));
    fc.assert(fc.property(near, fc.boolean(), (y, sign) => {
      const raw = points.toLittleEndian(sign ? y | (1n << 255n) : y);
      return weakPublicKeyReason(raw) === textbookReason(raw);
    }), { numRuns: 300 });
  });

  it("accepts random valid keys and keys with a small-order part added (mixed order), as the textbook does", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: points.L - 1n }), fc.integer({ min: 0, max: 7 }), (a, torsion) => {
        const raw = points.encode(points.add(points.multiply(a, points.BASE), points.multiply(BigInt(torsion), points.TORSION_8)));
        return textbookReason(raw) === undefined && weakPublicKeyReason(raw) === undefined;
      }),
      { numRuns: 40 },
    );
  });

  it("reads a key from a view into a larger buffer at its own offset", () => {
    const key = generateKeyPair().publicKey.raw;
    const around = Buffer.concat([Buffer.alloc(3, 0xff), key, Buffer.alloc(5, 0xff)]);
    expect(weakPublicKeyReason(around.subarray(3, 35))).toBeUndefined();
    expect(weakPublicKeyReason(new Uint8Array(around.buffer, around.byteOffset + 3, 32))).toBeUndefined();
    expect(weakPublicKeyReason(Buffer.concat([Buffer.alloc(1), points.toLittleEndian(1n)]).subarray(1))).toBe(textbookReason(points.toLittleEndian(1n)));
  });

  it("the Jacobi symbol agrees with the textbook loop for any odd modulus, from 1 to 300 bits, and on values with long runs of factors 2", () => {
    const odd = fc.bigInt({ min: 0n, max: 2n ** 300n }).map((n) => n | 1n);
    const value = fc.tuple(fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }), fc.integer({ min: 0, max: 100 })).map(([a, twos]) => a << BigInt(twos));
    fc.assert(fc.property(value, odd, (a, n) => jacobi(a, n) === textbookJacobi(a, n)), { numRuns: 2000 });
    const nearDoubles = fc.bigInt({ min: 2n ** 52n, max: 2n ** 54n }).map((n) => n | 1n);
    fc.assert(fc.property(value, nearDoubles, (a, n) => jacobi(a, n) === textbookJacobi(a, n)), { numRuns: 500 });
    for (const n of [1n, 3n, 2n ** 53n - 1n, 2n ** 53n + 1n, P])
      for (const a of [0n, 1n, -1n, 2n, n - 1n, n, 2n ** 32n, 2n ** 64n, 3n * 2n ** 96n]) expect(jacobi(a, n)).toBe(textbookJacobi(a, n));
  });
});
