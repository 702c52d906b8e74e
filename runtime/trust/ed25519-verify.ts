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
 * against both (test/trust/ed25519-verify.test.ts). That rests on both checking the equation
 * without the cofactor, so a libsodium is used only once it gives the known answers below.
 */
import { createPublicKey, verify as opensslVerify, type KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

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

/** libsodium's binding; null when `sodium-native` is not installed, does not load or fails the known answers; undefined until first looked for. */
let sodium: Sodium | null | undefined;
let sodiumPath: string | undefined;

/**
 * Loads `sodium-native` on the first verification, not at import, which a program that never
 * verifies (or a CLI command's cold start) should not pay for. A copy that does not load
 * (built for another platform) or does not give the known answers leaves verification to
 * OpenSSL, whose verdicts under the rule are the same.
 */
function loadSodium(): Sodium | undefined {
  if (sodium === undefined) {
    try {
      const require = requireBesideThisCode();
      const path = sodiumAddonPath(require);
      const binding = require(path) as Sodium;
      sodium = givesKnownAnswers(sodiumVerifier(binding)) ? binding : null;
      if (sodium !== null) sodiumPath = path;
    } catch {
      sodium = null;
    }
  }
  return sodium ?? undefined;
}

/**
 * A require() that resolves from where this code was loaded. A service bundled into a CommonJS
 * file (esbuild's default format for Node) has an empty `import.meta`, whose `url` createRequire
 * refuses: that would leave verification to OpenSSL though `sodium-native` is installed beside
 * the bundle, so the bundle's own `__filename` stands in for it.
 */
function requireBesideThisCode(): NodeJS.Require {
  const url = import.meta.url as string | undefined;
  if (url === undefined && typeof __filename === "string") return createRequire(__filename);
  return createRequire(url as string);
}

/**
 * Where to load `sodium-native` from: its prebuilt addon when the package holds one for this
 * platform, else the package itself. The package's entry point finds that same file through
 * require-addon, whose resolver (seven more modules) took about 11 of the 15–19 ms of CPU that loading
 * the package cost; its first two candidates are the ones tried here, in its order. A package
 * laid out otherwise (a build from source, a later layout) loads through its entry point.
 */
export function sodiumAddonPath(require: NodeJS.Require): string {
  const entry = require.resolve("sodium-native");
  const dir = dirname(entry);
  let version: unknown;
  try {
    ({ version } = require(join(dir, "package.json")) as { version?: unknown });
  } catch {
    return entry; // not the layout this knows (an entry point below the package's root)
  }
  // require-addon's host: Alpine's musl libc has prebuilds of its own.
  const host = `${process.platform}-${process.arch}${process.platform === "linux" && existsSync("/etc/alpine-release") ? "-musl" : ""}`;
  const candidates = [...(typeof version === "string" ? [`sodium-native@${version}.node`] : []), "sodium-native.node"].map((file) => join(dir, "prebuilds", host, file));
  return candidates.find((path) => existsSync(path)) ?? entry;
}

function sodiumVerifier(binding: Sodium): Ed25519Verifier {
  const verify = binding.crypto_sign_verify_detached;
  // The binding takes typed arrays only; node:crypto also takes a string (as UTF-8) or a DataView, which callers in JavaScript may pass.
  return (key, message, signature) => verify(signature, message instanceof Uint8Array ? message : asBytes(message), key.raw);
}

function asBytes(message: unknown): Uint8Array {
  if (typeof message === "string") return Buffer.from(message, "utf8");
  if (ArrayBuffer.isView(message)) return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  // Anything else, refused as node:crypto refuses it.
  throw new TypeError(`a message to verify is bytes or a string, not ${typeof message}`);
}

/**
 * What a library must answer before onex verifies with it. Made from the seed 32 × 0x6f: a
 * genuine signature, which verifies, and one whose R is a genuine R plus a point of order 8
 * (R = rB + T, S = r + h·a), which does not. libsodium 1.0.20 (sodium-native 4.3), like
 * OpenSSL, checks [S]B = R + [h]A without the cofactor; a libsodium that checked it with the
 * cofactor would accept the second where OpenSSL refuses it, and the rule does not refuse such
 * signatures (R is not of small order), so such a libsodium is not used.
 */
export const ED25519_KNOWN_ANSWERS = {
  publicKey: "c86d01ad8b2fb694b22ff60e3c9d9e7ed90db5604772b74450d40913b9a9cbaf",
  message: "onex: libsodium must verify without the cofactor",
  genuine: "89a5d073509ca66ef4097a1a046296d1a099f983e4803bb33d4cd8f280106cf7ce6ed679ba3c6d6f8972afeaaeb385d00b6bd56abd0ab162e387aa0c95696e0d",
  torsionR: "8d38499fa13fd4146c3865ab5c7f315e04141ab8c69f309d66b93ee392398da22fad3a276156922af5ca6fddc9ee6a28e8aebb8320c126b94dbae28ebc152c0f",
};

/** Whether `library` verifies the genuine known signature and refuses the one with a torsion component in R. */
export function givesKnownAnswers(library: Ed25519Verifier): boolean {
  const { publicKey, message, genuine, torsionR } = ED25519_KNOWN_ANSWERS;
  const raw = Buffer.from(publicKey, "hex");
  const key = { raw, keyObject: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" }) };
  const bytes = Buffer.from(message);
  try {
    return library(key, bytes, Buffer.from(genuine, "hex")) === true && library(key, bytes, Buffer.from(torsionR, "hex")) === false;
  } catch {
    return false;
  }
}

/** The path `sodium-native` was loaded from (for verification threads to load the same), or undefined when it is not used. */
export function sodiumNativePath(): string | undefined {
  loadSodium();
  return sodiumPath;
}

/** libsodium's verification, or undefined when `sodium-native` is not installed, does not load or fails the known answers. */
export function libsodiumEd25519(): Ed25519Verifier | undefined {
  const binding = loadSodium();
  return binding === undefined ? undefined : sodiumVerifier(binding);
}

/** `library` under onex's rule: 64 bytes whose R is not of small order, then the library's verdict. */
export function underOnexRule(library: Ed25519Verifier): Ed25519Verifier {
  return (key, message, signature) => signature.length === 64 && !smallOrderR(signature) && library(key, message, signature);
}

/** Which library verifies in this process: "libsodium" when `sodium-native` is installed (and loads, and gives the known answers), else "OpenSSL". */
export function ed25519Library(): "libsodium" | "OpenSSL" {
  return loadSodium() === undefined ? "OpenSSL" : "libsodium";
}

let chosen: Ed25519Verifier | undefined;

/** Verifies `signature` (64 bytes) over `message` with `key`: libsodium's verdict, with either library. */
export function verifyEd25519(key: VerifyingKey, message: Uint8Array, signature: Uint8Array): boolean {
  chosen ??= underOnexRule(libsodiumEd25519() ?? opensslEd25519);
  return chosen(key, message, signature);
}
