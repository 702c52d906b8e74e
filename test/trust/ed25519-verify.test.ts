/**
 * One verdict on every signature whichever library verifies (trust/ed25519-verify.ts):
 * libsodium when sodium-native is installed, OpenSSL otherwise. The two differ on a signature
 * whose R is of small order, which onex refuses before either runs; these tests hold each
 * library to that rule on the Wycheproof vectors, on such signatures and on mutated genuine ones,
 * and hold a libsodium to the known answers that show it checks without the cofactor.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ED25519_KNOWN_ANSWERS, ed25519Library, givesKnownAnswers, libsodiumEd25519, opensslEd25519, smallOrderR, sodiumAddonPath, sodiumNativePath, underOnexRule, verifyEd25519, type Ed25519Verifier } from "../../runtime/trust/ed25519-verify.js";
import { keyPairFromSeed, publicKeyFromRaw } from "../../runtime/trust/keys.js";
import { isValidSignature, signBytes, verifyBytes } from "../../runtime/trust/signature.js";
import { CORPORA } from "./corpus-paths.js";
import { add, BASE, challenge, identityRSignature, L, littleEndian, multiply, secretScalar, signWithNonce, TORSION_8, verifiesWithCofactor } from "./ed25519-points.js";
import { catchOnexError, ErrorCode } from "./fixtures.js";

const sodium = libsodiumEd25519();
const withOpenssl = underOnexRule(opensslEd25519);
const withSodium = sodium && underOnexRule(sodium);

describe("the Ed25519 library", () => {
  it("is libsodium in this project's install (sodium-native is a dependency of the toolchain)", () => {
    expect(ed25519Library()).toBe("libsodium");
    expect(sodium).toBeDefined();
  });

  it("is loaded from sodium-native's prebuilt addon for this platform, the file its own entry point picks", () => {
    const entry = createRequire(import.meta.url).resolve("sodium-native");
    expect(sodiumNativePath()).toBe(join(dirname(entry), "prebuilds", `${process.platform}-${process.arch}`, "sodium-native.node"));
  });

  it("takes the addon named for the package's version first, and the package's entry point when it holds no addon for this platform or is laid out otherwise", () => {
    const roots: string[] = [];
    const host = `${process.platform}-${process.arch}`;
    /** A sodium-native package in a fresh folder: its entry point and the addon files given, under prebuilds/<host>/. */
    const fakePackage = (main: string, addons: string[]) => {
      const root = mkdtempSync(join(tmpdir(), "onex-sodium-layout-"));
      roots.push(root);
      const pkg = join(root, "node_modules", "sodium-native");
      mkdirSync(join(pkg, dirname(main)), { recursive: true });
      writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "sodium-native", version: "9.8.7", main }));
      writeFileSync(join(pkg, main), "module.exports = {};");
      mkdirSync(join(pkg, "prebuilds", host), { recursive: true });
      for (const addon of addons) writeFileSync(join(pkg, "prebuilds", host, addon), "");
      return { pkg, addonPath: () => sodiumAddonPath(createRequire(join(root, "caller.js"))) };
    };
    try {
      const none = fakePackage("index.js", []);
      expect(none.addonPath()).toBe(join(none.pkg, "index.js"));
      const plain = fakePackage("index.js", ["sodium-native.node"]);
      expect(plain.addonPath()).toBe(join(plain.pkg, "prebuilds", host, "sodium-native.node"));
      const versioned = fakePackage("index.js", ["sodium-native.node", "sodium-native@9.8.7.node"]);
      expect(versioned.addonPath()).toBe(join(versioned.pkg, "prebuilds", host, "sodium-native@9.8.7.node"));
      // An entry point below the package's root: no package.json beside it, so through the entry point.
      const nested = fakePackage("lib/index.js", ["sodium-native.node"]);
      expect(nested.addonPath()).toBe(join(nested.pkg, "lib", "index.js"));
    } finally {
      for (const root of roots) rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("OpenSSL and libsodium under onex's rule give one verdict", () => {
  const wycheproof = JSON.parse(readFileSync(join(CORPORA, "wycheproof", "ed25519_test.json"), "utf8")) as {
    testGroups: { publicKey: { pk: string }; tests: { tcId: number; msg: string; sig: string; result: string }[] }[];
  };

  it("on every Wycheproof vector, the expected one", () => {
    let checked = 0;
    for (const group of wycheproof.testGroups) {
      const key = publicKeyFromRaw(Buffer.from(group.publicKey.pk, "hex"));
      for (const vector of group.tests) {
        const message = Buffer.from(vector.msg, "hex");
        const signature = Buffer.from(vector.sig, "hex");
        const expected = vector.result === "valid";
        expect([withOpenssl(key, message, signature), withSodium!(key, message, signature)], `tcId ${vector.tcId}`).toEqual([expected, expected]);
        checked++;
      }
    }
    expect(checked).toBe(151);
  });

  it("on a key owner's second signature with R = the identity: OpenSSL alone accepts it, onex refuses it with either library", () => {
    const seed = randomBytes(32);
    const pair = keyPairFromSeed(seed);
    const message = Buffer.from('{"a":1}');
    const signature = identityRSignature(seed, message);
    // What the rule is for: without it the two libraries disagree.
    expect(opensslEd25519(pair.publicKey, message, signature)).toBe(true);
    expect(sodium!(pair.publicKey, message, signature)).toBe(false);
    expect(withOpenssl(pair.publicKey, message, signature)).toBe(false);
    expect(withSodium!(pair.publicKey, message, signature)).toBe(false);
    const text = "ed25519:" + signature.toString("base64url");
    expect(isValidSignature(pair.publicKey, message, text)).toBe(false);
    expect(catchOnexError(() => verifyBytes(pair.publicKey, message, text)).code).toBe(ErrorCode.SignatureInvalid);
    // The key's ordinary signature of the same message verifies.
    expect(isValidSignature(pair.publicKey, message, signBytes(pair, message))).toBe(true);
  });

  it("on genuine signatures, and on them with a byte of the signature or the message changed (fast-check)", () => {
    const pair = keyPairFromSeed(randomBytes(32));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.option(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }), inMessage: fc.boolean() })), (message, change) => {
        const signature = Buffer.from(signBytes(pair, message).slice(8), "base64url");
        const bytes = Buffer.from(message);
        if (change !== null) {
          const target = change.inMessage && bytes.length > 0 ? bytes : signature;
          target[change.at % target.length]! ^= change.xor;
        }
        const verdict = withOpenssl(pair.publicKey, bytes, signature);
        expect(withSodium!(pair.publicKey, bytes, signature)).toBe(verdict);
        expect(verifyEd25519(pair.publicKey, bytes, signature)).toBe(verdict);
        if (change === null) expect(verdict).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe("the known answers a libsodium must give before onex uses it", () => {
  const known = ED25519_KNOWN_ANSWERS;
  const publicKey = Buffer.from(known.publicKey, "hex");
  const message = Buffer.from(known.message);

  it("are what they claim: the seed 32 × 0x6f's key, its signature, and one with R = rB + T (T of order 8), S = r + k·a", () => {
    const seed = Buffer.alloc(32, 0x6f);
    const pair = keyPairFromSeed(seed);
    expect(pair.publicKey.raw.toString("hex")).toBe(known.publicKey);
    expect(signBytes(pair, message)).toBe("ed25519:" + Buffer.from(known.genuine, "hex").toString("base64url"));
    const torsionR = Buffer.from(known.torsionR, "hex");
    const a = secretScalar(seed);
    const r = littleEndian(torsionR.subarray(32)) - challenge(torsionR.subarray(0, 32), publicKey, message) * a;
    const nonce = ((r % L) + L) % L;
    expect(signWithNonce(a, message, nonce, add(multiply(nonce, BASE), TORSION_8)).toString("hex")).toBe(known.torsionR);
    // Not of small order, so the rule does not refuse it: the library's equation decides.
    expect(smallOrderR(torsionR)).toBe(false);
    // With the cofactor it verifies; without it, it does not.
    expect(verifiesWithCofactor(publicKey, message, torsionR)).toBe(true);
    expect(verifiesWithCofactor(publicKey, message, Buffer.from(known.genuine, "hex"))).toBe(true);
  });

  it("OpenSSL and the installed libsodium give them; a verifier checking with the cofactor, or accepting or refusing everything, does not", () => {
    expect(givesKnownAnswers(opensslEd25519)).toBe(true);
    expect(givesKnownAnswers(sodium!)).toBe(true);
    const withCofactor: Ed25519Verifier = (key, m, signature) => verifiesWithCofactor(key.raw, m, signature);
    expect(givesKnownAnswers(withCofactor)).toBe(false);
    expect(givesKnownAnswers(() => true)).toBe(false);
    expect(givesKnownAnswers(() => false)).toBe(false);
    expect(
      givesKnownAnswers(() => {
        throw new Error("a library that throws");
      }),
    ).toBe(false);
  });
});

describe("messages passed from JavaScript as a string or a DataView", () => {
  it("verify as node:crypto reads them, with either library", () => {
    const pair = keyPairFromSeed(randomBytes(32));
    const text = '{"a":"é"}';
    const bytes = Buffer.from(text);
    const signature = Buffer.from(signBytes(pair, bytes).slice(8), "base64url");
    for (const message of [text, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)] as unknown as Uint8Array[]) {
      expect(withOpenssl(pair.publicKey, message, signature)).toBe(true);
      expect(withSodium!(pair.publicKey, message, signature)).toBe(true);
      expect(isValidSignature(pair.publicKey, message, "ed25519:" + signature.toString("base64url"))).toBe(true);
    }
  });
});

describe("smallOrderR", () => {
  const P = 2n ** 255n - 19n;
  const Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
  // The y coordinates of the points of order dividing 8, and p, p + 1 written for 0 and 1.
  const blocked = new Set([0n, 1n, P - 1n, Y8, P - Y8, P, P + 1n]);
  const encode = (y: bigint, signBit: boolean) => {
    const bytes = Buffer.alloc(32);
    for (let i = 0; i < 32; i++, y >>= 8n) bytes[i] = Number(y & 255n);
    if (signBit) bytes[31]! |= 0x80;
    return bytes;
  };
  const yOf = (bytes: Uint8Array) => bytes.subarray(0, 32).reduceRight((value, byte, i) => (value << 8n) | BigInt(i === 31 ? byte & 0x7f : byte), 0n);

  it("holds every small-order encoding, with either sign bit, and refuses a signature over it whatever S", () => {
    const pair = keyPairFromSeed(randomBytes(32));
    const s = Buffer.from(signBytes(pair, Buffer.from("m")).slice(8), "base64url").subarray(32);
    for (const y of blocked) {
      for (const signBit of [false, true]) {
        const r = encode(y, signBit);
        expect(smallOrderR(r), `y = ${y}, sign ${signBit}`).toBe(true);
        expect(withOpenssl(pair.publicKey, Buffer.from("m"), Buffer.concat([r, s]))).toBe(false);
        expect(withSodium!(pair.publicKey, Buffer.from("m"), Buffer.concat([r, s]))).toBe(false);
      }
    }
  });

  it("is exactly membership of y in that set (fast-check, biased to near misses)", () => {
    const near = fc.tuple(fc.constantFrom(...blocked), fc.integer({ min: -2, max: 2 }), fc.boolean()).map(([y, d, sign]) => encode((y + BigInt(d) + 2n ** 255n) % 2n ** 255n, sign));
    fc.assert(
      fc.property(fc.oneof(near, fc.uint8Array({ minLength: 32, maxLength: 32 })), (r) => {
        expect(smallOrderR(r)).toBe(blocked.has(yOf(r)));
      }),
      { numRuns: 2000 },
    );
  });
});
