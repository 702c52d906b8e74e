/**
 * Ed25519 keys from node:crypto: generation, the key id every signer is named by, and
 * import/export as PEM (interoperable with OpenSSL) or a compact one-line text form.
 */
import { KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { ErrorCode, OnexError } from "../errors.js";
import { weakPublicKeyReason } from "./weak-public-key.js";
import { forgetOldest } from "../forget-oldest.js";
import { describeValue } from "../option-check.js";

/** A public key with its raw bytes and key id, ready for verification. */
export interface PublicKey {
  /** Fingerprint of the raw public key; what `trust.signer` and `key_id` fields hold. */
  readonly keyId: string;
  /** The 32 raw Ed25519 public key bytes. */
  readonly raw: Buffer;
  readonly keyObject: KeyObject;
}

/** A signing key: the private half and its public key. */
export interface KeyPair {
  readonly keyId: string;
  readonly publicKey: PublicKey;
  readonly privateKey: KeyObject;
}

/** Finds the public key of a key id, or undefined when the id is not trusted. */
export type KeyResolver = (keyId: string) => PublicKey | undefined;

/** Prefixes of the compact text forms; the algorithm travels with the key so a wrong one is caught on import. */
export const COMPACT_PUBLIC_PREFIX = "ed25519-pub:";
export const COMPACT_PRIVATE_PREFIX = "ed25519-priv:";

// DER header of an Ed25519 PKCS#8 key (RFC 8410): prefix + 32 raw bytes.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const RAW_KEY = /^[A-Za-z0-9_-]{43}$/;

/** A fresh Ed25519 keypair. */
export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync("ed25519");
  return keyPairFromPrivateKey(privateKey);
}

/** The key id of a raw public key: `key-` and the first 128 bits of its SHA-256, in hex. */
export function keyIdOf(rawPublicKey: Uint8Array): string {
  return "key-" + createHash("sha256").update(rawPublicKey).digest("hex").slice(0, 32);
}

/** Whether `value` is spelt as keyIdOf spells a key id (lower-case hex): a list of ids to refuse matches by equal text. */
export function isKeyId(value: unknown): value is string {
  return typeof value === "string" && /^key-[0-9a-f]{32}$/.test(value);
}

// A key's id is a SHA-256 and its strength check big-integer arithmetic, and a process meets the
// same keys again and again: a registry verifies every new revision of a node's entry (each NATS
// KV heartbeat is one), a node registers with the key it holds. So imported keys are remembered by
// the text they were imported from (the same text always imports to the same key, or fails). The
// raw bytes can be changed, so each caller gets its own; the key object is shared.
const importedKeys = new Map<string, { keyId: string; raw: Buffer; keyObject: () => KeyObject }>();
const IMPORTED_KEYS_REMEMBERED = 10_000;

/** The public key of 32 raw bytes (or their base64url form, as records carry it). */
export function publicKeyFromRaw(raw: Uint8Array | string): PublicKey {
  if (typeof raw !== "string" && !(raw instanceof Uint8Array)) throw keyError(`a raw public key is 32 bytes or their base64url text, not ${describeKeyInput(raw)}`);
  const text = typeof raw === "string" ? raw : Buffer.from(raw).toString("base64url");
  const known = importedKeys.get(text);
  if (known !== undefined) return rememberChecked(lazyPublicKey(known.keyId, Buffer.from(known.raw), known.keyObject), known.raw);
  const bytes = typeof raw === "string" ? decodeRawKey(raw, "public") : Buffer.from(raw);
  if (bytes.length !== 32) throw keyError(`an Ed25519 public key is 32 bytes, not ${bytes.length}`);
  assertStrongPublicKey(bytes);
  // Copies of their own: every later import of this text is made from them.
  const imported = { keyId: keyIdOf(bytes), raw: ownCopy(bytes), keyObject: importOnFirstUse(ownCopy(bytes)) };
  importedKeys.set(text, imported);
  if (importedKeys.size > IMPORTED_KEYS_REMEMBERED) forgetOldest(importedKeys);
  return rememberChecked(lazyPublicKey(imported.keyId, bytes, imported.keyObject), imported.raw);
}

/**
 * A copy of `bytes` in memory of its own. `Buffer.from` cuts a copy this small from a pool of
 * 8 KiB shared with other buffers, which whoever holds one of them can write through its
 * `.buffer`: writing another key's bytes over a remembered key's made every later import of that
 * key's text hand out the other key's bytes under its id.
 */
function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

// The getters of lazyPublicKey's key objects: one of them in a key's place is the key object of
// the raw bytes it was made from, without making it to compare (assertUsablePublicKey).
const keyObjectGetters = new WeakSet<() => KeyObject>();

/**
 * The OpenSSL key object of raw bytes, imported when first asked for. libsodium verifies with the
 * raw bytes, and the import (a JWK parse) was the largest part of meeting a new key on a registry
 * watch: about 15 µs warm, over 100 µs on a thread that had been idle (docs/performance.md).
 */
function importOnFirstUse(raw: Buffer): () => KeyObject {
  let keyObject: KeyObject | undefined;
  const get = () => {
    // As a JWK, not DER: the same raw key, imported in about a tenth of the time (no ASN.1 decoder).
    // Bytes that passed assertStrongPublicKey are a point OpenSSL reads.
    keyObject ??= createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
    return keyObject;
  };
  keyObjectGetters.add(get);
  return get;
}

/** A PublicKey whose `keyObject` is `keyObject()`'s until set to another. */
function lazyPublicKey(keyId: string, raw: Buffer, keyObject: () => KeyObject): PublicKey {
  const key = { keyId, raw };
  Object.defineProperty(key, "keyObject", {
    enumerable: true,
    configurable: true,
    get: keyObject,
    // Assignable, as a plain object's field is: what a key holds is checked, not assumed.
    set(this: object, value: unknown) {
      Object.defineProperty(this, "keyObject", { value, writable: true, enumerable: true, configurable: true });
    },
  });
  return key as PublicKey;
}

/** What stands in a key's `keyObject` place: lazyPublicKey's getter, or the object itself. */
function keyObjectSlot(key: PublicKey): unknown {
  const getter = Object.getOwnPropertyDescriptor(key, "keyObject")?.get;
  return getter !== undefined && keyObjectGetters.has(getter as () => KeyObject) ? getter : key.keyObject;
}

/** The keypair of a 32-byte Ed25519 seed (the raw private key). */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (!(seed instanceof Uint8Array)) throw keyError(`an Ed25519 private key seed is 32 bytes (a Uint8Array), not ${describeKeyInput(seed)}`);
  if (seed.length !== 32) throw keyError(`an Ed25519 private key seed is 32 bytes, not ${seed.length}`);
  try {
    return keyPairFromPrivateKey(createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" }));
  } catch (cause) {
    if (cause instanceof OnexError) throw cause;
    throw keyError("the bytes are not an Ed25519 private key", cause);
  }
}

/** One PEM block and nothing after it: OpenSSL reads the first of several and ignores what follows. */
const ONE_PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]*-----END \1-----$/;

/** Refuses a key file with a second key, or anything else, beside its PEM block: which key it meant is not known. */
function assertOnePemBlock(text: string): void {
  if (!ONE_PEM_BLOCK.test(text)) throw keyError("the PEM text must be one key block and nothing else (it holds more than one, or text around it)");
}

/** Reads a public key from PEM (SPKI), compact text (`ed25519-pub:<base64url>`), or a private key's text (its public half). */
export function importPublicKey(text: string): PublicKey {
  if (typeof text !== "string") throw keyError(`a public key is PEM or compact text, not ${describeKeyInput(text)}`);
  const trimmed = text.trim();
  if (trimmed.startsWith(COMPACT_PUBLIC_PREFIX)) return publicKeyFromRaw(decodeRawKey(trimmed.slice(COMPACT_PUBLIC_PREFIX.length), "public"));
  if (trimmed.startsWith(COMPACT_PRIVATE_PREFIX) || trimmed.includes("PRIVATE KEY-----")) return importPrivateKey(trimmed).publicKey;
  if (!trimmed.startsWith("-----BEGIN")) throw keyError(`expected a PEM public key or "${COMPACT_PUBLIC_PREFIX}<base64url>"`);
  assertOnePemBlock(trimmed);
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: trimmed, format: "pem" });
  } catch (cause) {
    throw keyError("the PEM text is not a readable public key", cause);
  }
  assertEd25519(keyObject);
  return publicKeyFromRaw(rawPublicKey(keyObject));
}

/** Reads a private key from PEM (PKCS#8) or compact text (`ed25519-priv:<base64url seed>`). */
export function importPrivateKey(text: string): KeyPair {
  if (typeof text !== "string") throw keyError(`a private key is PEM or compact text, not ${describeKeyInput(text)}`);
  const trimmed = text.trim();
  if (trimmed.startsWith(COMPACT_PRIVATE_PREFIX)) return keyPairFromSeed(decodeRawKey(trimmed.slice(COMPACT_PRIVATE_PREFIX.length), "private"));
  if (!trimmed.startsWith("-----BEGIN")) throw keyError(`expected a PEM private key or "${COMPACT_PRIVATE_PREFIX}<base64url>"`);
  assertOnePemBlock(trimmed);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: trimmed, format: "pem" });
  } catch (cause) {
    throw keyError("the PEM text is not a readable, unencrypted private key", cause);
  }
  return keyPairFromPrivateKey(keyObject);
}

/** The public key as PEM (SPKI, what `openssl pkeyutl -pubin` reads) or compact text. */
export function exportPublicKey(key: PublicKey, format: KeyFormat = "pem"): string {
  if (!isPublicKeyShaped(key)) throw keyError(`exportPublicKey: the key must be a public key (importPublicKey, publicKeyFromRaw), not ${describeKeyInput(key)}`);
  if (format === "compact") return COMPACT_PUBLIC_PREFIX + key.raw.toString("base64url");
  return key.keyObject.export({ format: "pem", type: "spki" }).toString();
}

/** The private key as PEM (unencrypted PKCS#8, what `openssl pkeyutl -inkey` reads) or compact text; handle with care. */
export function exportPrivateKey(pair: KeyPair, format: KeyFormat = "pem"): string {
  if (!isKeyPairShaped(pair)) throw keyError(`exportPrivateKey: the key must be a key pair (generateKeyPair, importPrivateKey), not ${isPublicKeyShaped(pair) ? "a public key" : describeKeyInput(pair)}`);
  if (format === "compact") {
    const der = pair.privateKey.export({ format: "der", type: "pkcs8" });
    return COMPACT_PRIVATE_PREFIX + der.subarray(der.length - 32).toString("base64url");
  }
  return pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

/** Text forms of a key. */
export type KeyFormat = "pem" | "compact";

/** A key resolver over a fixed set of public keys (a key ring); throws ONEX_E_KEY_WEAK or ONEX_E_KEY_INVALID for a key no one should trust. */
export function keyRing(keys: Iterable<PublicKey>): KeyResolver {
  // A single key (or a PEM text, whose characters are iterable) is no list of keys.
  if (keys === null || typeof keys !== "object" || typeof (keys as Partial<Iterable<PublicKey>>)[Symbol.iterator] !== "function") {
    const given = isPublicKeyShaped(keys) ? `a single public key (${keys.keyId}; give [key])` : typeof keys === "string" ? "a string (read PEM or compact text with importPublicKey)" : describeValue(keys);
    throw new OnexError(ErrorCode.Usage, `keyRing: keys must be an iterable (such as an array) of public keys, not ${given}`);
  }
  const byId = new Map<string, PublicKey>();
  for (const key of keys) {
    assertUsablePublicKey(key);
    byId.set(key.keyId, key);
  }
  return (keyId) => byId.get(keyId);
}

// Key objects already found usable (every one publicKeyFromRaw makes is), with what they held
// then: verification asks per message, and a key object's fields can still be changed after.
const checkedKeys = new WeakMap<PublicKey, { keyId: string; raw: Buffer; keyObject: unknown }>();

/**
 * Throws unless `key` is strong, its key id is its fingerprint and its key object is the key of
 * its raw bytes: keys built by hand enter key rings too, and verification checks every key it is
 * given here, as a last line of defence.
 */
export function assertUsablePublicKey(key: PublicKey): void {
  const checked = checkedKeys.get(key);
  if (checked !== undefined && checked.keyId === key.keyId && checked.keyObject === keyObjectSlot(key) && checked.raw.equals(key.raw)) return;
  // A PEM text or a bare { keyId } reached Buffer.from(undefined), Node's own ERR_INVALID_ARG_TYPE.
  if (!isPublicKeyShaped(key)) throw keyError(`a public key is an object of its keyId and raw bytes (importPublicKey, publicKeyFromRaw), not ${typeof key === "string" ? "a string (read PEM or compact text with importPublicKey)" : describeKeyInput(key)}`);
  assertStrongPublicKey(key.raw);
  if (key.keyId !== keyIdOf(key.raw)) throw keyError(`key id ${key.keyId} is not the fingerprint of its public key (${keyIdOf(key.raw)})`);
  // Signatures are checked with the key object, trust is decided on the raw bytes and the id: one key.
  if (!isPublicKeyOf(key.keyObject, key.raw)) throw keyError(`the key object of ${key.keyId} is not the public key of its raw bytes`);
  rememberChecked(key);
}

function isPublicKeyOf(keyObject: KeyObject, raw: Buffer): boolean {
  try {
    return keyObject.type === "public" && keyObject.asymmetricKeyType === "ed25519" && rawPublicKey(keyObject).equals(raw);
  } catch {
    return false;
  }
}

/**
 * Remembers `key` as usable (publicKeyFromRaw's keys are by construction: strong, named by their
 * fingerprint), with the bytes it was found usable with: `raw`, bytes no caller holds (an
 * import's own), or a copy in memory of its own (ownCopy), never one cut from the pool the key's
 * own bytes may share, through which both could be rewritten to another key's alike.
 */
function rememberChecked(key: PublicKey, raw: Buffer = ownCopy(key.raw)): PublicKey {
  checkedKeys.set(key, { keyId: key.keyId, raw, keyObject: keyObjectSlot(key) });
  return key;
}

// Strength is a property of the 32 bytes alone, and checking it is big-integer arithmetic
// that every import and every verification would otherwise repeat: remember the strong ones.
const strongKeys = new Map<string, true>();
const STRONG_KEYS_REMEMBERED = 10_000;

/** Throws ONEX_E_KEY_WEAK for a small-order or non-canonical Ed25519 public key. */
export function assertStrongPublicKey(raw: Uint8Array): void {
  const text = Buffer.from(raw).toString("base64url");
  if (strongKeys.has(text)) return;
  const reason = weakPublicKeyReason(raw);
  if (reason !== undefined) throw new OnexError(ErrorCode.KeyWeak, `refusing Ed25519 public key ${text}: ${reason}`, { publicKey: text });
  strongKeys.set(text, true);
  if (strongKeys.size > STRONG_KEYS_REMEMBERED) forgetOldest(strongKeys);
}

function keyPairFromPrivateKey(privateKey: KeyObject): KeyPair {
  assertEd25519(privateKey);
  const publicKey = publicKeyFromRaw(rawPublicKey(createPublicKey(privateKey)));
  return { keyId: publicKey.keyId, publicKey, privateKey };
}

// The public half of each private key that signed here, derived from the private key itself: a
// KeyPair is a plain object, and its publicKey could name another key than the one that signs.
const signerKeys = new WeakMap<KeyObject, string>();

/** The raw public key (base64url) of an Ed25519 private KeyObject, worked out once per key object; undefined for anything else. */
export function publicKeyTextOf(privateKey: unknown): string | undefined {
  if (!(privateKey instanceof KeyObject) || privateKey.type !== "private" || privateKey.asymmetricKeyType !== "ed25519") return undefined;
  let text = signerKeys.get(privateKey);
  if (text === undefined) {
    text = rawPublicKey(createPublicKey(privateKey)).toString("base64url");
    signerKeys.set(privateKey, text);
  }
  return text;
}

function rawPublicKey(keyObject: KeyObject): Buffer {
  const der = keyObject.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32);
}

function assertEd25519(keyObject: KeyObject): void {
  if (keyObject.asymmetricKeyType !== "ed25519") {
    throw keyError(`expected an Ed25519 key, got ${keyObject.asymmetricKeyType ?? keyObject.type}`);
  }
}

function decodeRawKey(text: string, half: "public" | "private"): Buffer {
  if (!RAW_KEY.test(text)) throw keyError(`a raw ${half} key is 43 base64url characters (32 bytes)`);
  const bytes = Buffer.from(text, "base64url");
  // Reject non-canonical encodings (stray low bits in the last character): one key, one text.
  if (bytes.toString("base64url") !== text) throw keyError(`the ${half} key is not canonical base64url`);
  return bytes;
}

/** What a key input that is neither text nor bytes was, for the message (config values arrive as anything). */
export function describeKeyInput(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

/** Whether `value` has a public key's fields of their kinds (what it holds is checked by assertUsablePublicKey). */
function isPublicKeyShaped(value: unknown): value is PublicKey {
  return value !== null && typeof value === "object" && typeof (value as PublicKey).keyId === "string" && (value as PublicKey).raw instanceof Uint8Array;
}

/** Whether `value` has a key pair's fields of their kinds: a key id and a private key. */
function isKeyPairShaped(value: unknown): value is KeyPair {
  return value !== null && typeof value === "object" && typeof (value as KeyPair).keyId === "string" && (value as KeyPair).privateKey instanceof KeyObject;
}

function keyError(message: string, cause?: unknown): OnexError {
  return new OnexError(ErrorCode.KeyInvalid, message, {}, cause === undefined ? undefined : { cause });
}
