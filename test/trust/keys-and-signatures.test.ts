import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  exportPrivateKey,
  exportPublicKey,
  generateKeyPair,
  importPrivateKey,
  importPublicKey,
  keyIdOf,
  keyPairFromSeed,
  publicKeyFromRaw,
} from "../../runtime/trust/keys.js";
import { messageSigningBytes, signMessage, verifyMessageSignature } from "../../runtime/trust/sign-message.js";
import { decodeSignature, isValidSignature, signBytes, verifyBytes } from "../../runtime/trust/signature.js";
import { keyRing } from "../../runtime/trust/keys.js";
import { CORPORA } from "./corpus-paths.js";
import { catchOnexError, ErrorCode, taskDispatch } from "./fixtures.js";

interface WycheproofFile {
  numberOfTests: number;
  testGroups: { publicKey: { pk: string }; tests: { tcId: number; comment: string; msg: string; sig: string; result: "valid" | "invalid" | "acceptable" }[] }[];
}

const wycheproof = JSON.parse(readFileSync(join(CORPORA, "wycheproof", "ed25519_test.json"), "utf8")) as WycheproofFile;
const vectors = wycheproof.testGroups.flatMap((group) => group.tests.map((test) => ({ pk: group.publicKey.pk, ...test })));

describe("Ed25519 verification: Wycheproof ed25519_test.json", () => {
  it("reads every vector of the file", () => {
    expect(vectors.length).toBe(wycheproof.numberOfTests);
  });

  it.each(vectors.map((v) => [v.tcId, v.comment || "-", v] as const))("tcId %i (%s) gives the expected verdict", (_id, _comment, vector) => {
    const key = publicKeyFromRaw(Buffer.from(vector.pk, "hex"));
    const bytes = Buffer.from(vector.msg, "hex");
    const sig = Buffer.from(vector.sig, "hex");
    // The runtime only ever sees signatures as text; wrong-length ones are malformed text, not a crypto failure.
    const text = "ed25519:" + sig.toString("base64url");
    expect(isValidSignature(key, bytes, text)).toBe(vector.result === "valid");
    if (vector.result !== "valid") expect(catchOnexError(() => verifyBytes(key, bytes, text)).code).toBe(ErrorCode.SignatureInvalid);
  });
});

describe("keys", () => {
  it("key id is a fingerprint of the raw public key, stable across export formats", () => {
    const pair = generateKeyPair();
    expect(pair.keyId).toMatch(/^key-[0-9a-f]{32}$/);
    expect(pair.keyId).toBe(keyIdOf(pair.publicKey.raw));
    for (const format of ["pem", "compact"] as const) {
      expect(importPublicKey(exportPublicKey(pair.publicKey, format)).keyId).toBe(pair.keyId);
      const back = importPrivateKey(exportPrivateKey(pair, format));
      expect(back.keyId).toBe(pair.keyId);
      // The re-imported private key signs what the original key verifies.
      const sig = signBytes(back, Buffer.from("x"));
      expect(isValidSignature(pair.publicKey, Buffer.from("x"), sig)).toBe(true);
    }
    expect(exportPublicKey(pair.publicKey, "compact")).toMatch(/^ed25519-pub:[A-Za-z0-9_-]{43}$/);
    expect(exportPublicKey(pair.publicKey)).toContain("-----BEGIN PUBLIC KEY-----");
  });

  it("derives the RFC 8032 test 1 public key from its seed", () => {
    const pair = keyPairFromSeed(Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"));
    expect(pair.publicKey.raw.toString("hex")).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    // RFC 8032 §7.1 test 1: the signature of the empty message.
    expect(decodeSignature(signBytes(pair, Buffer.alloc(0))).toString("hex")).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
  });

  it.each([
    ["garbage", "not a key"],
    ["a short compact key", "ed25519-pub:abc"],
    ["non-canonical base64url", "ed25519-pub:" + "A".repeat(42) + "B"],
    ["an RSA key", "rsa"],
    ["a broken PEM", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"],
  ])("rejects %s with ONEX_E_KEY_INVALID", (_name, text) => {
    const input = text === "rsa" ? rsaPublicPem() : text;
    expect(catchOnexError(() => importPublicKey(input)).code).toBe(ErrorCode.KeyInvalid);
  });

  it("rejects a key file holding two PEM keys, or text after its key: which key it meant is not known", () => {
    const [a, b] = [generateKeyPair(), generateKeyPair()];
    for (const text of [exportPublicKey(a.publicKey) + exportPublicKey(b.publicKey), exportPublicKey(a.publicKey) + "garbage\n"]) {
      expect(catchOnexError(() => importPublicKey(text)).code).toBe(ErrorCode.KeyInvalid);
    }
    for (const text of [exportPrivateKey(a) + exportPrivateKey(b), exportPrivateKey(a) + "garbage\n"]) {
      expect(catchOnexError(() => importPrivateKey(text)).code).toBe(ErrorCode.KeyInvalid);
      expect(catchOnexError(() => importPublicKey(text)).code).toBe(ErrorCode.KeyInvalid);
    }
    // Line ends of either kind, and blank lines around the block, are fine.
    expect(importPublicKey(`\n${exportPublicKey(a.publicKey).replaceAll("\n", "\r\n")}\n\n`).keyId).toBe(a.keyId);
  });

  it("rejects a key that is neither text nor bytes (a config value of null, a number, an object) as ONEX_E_KEY_INVALID, not a TypeError", () => {
    for (const value of [null, undefined, 42, {}, [1, 2], true]) {
      for (const importKey of [publicKeyFromRaw, importPublicKey, importPrivateKey]) expect(catchOnexError(() => importKey(value as never)).code, `${importKey.name}(${String(value)})`).toBe(ErrorCode.KeyInvalid);
    }
  });

  it("rejects raw keys of the wrong length", () => {
    expect(catchOnexError(() => publicKeyFromRaw(Buffer.alloc(31))).code).toBe(ErrorCode.KeyInvalid);
    expect(catchOnexError(() => keyPairFromSeed(Buffer.alloc(33))).code).toBe(ErrorCode.KeyInvalid);
  });

  it("imports a key it has imported before as the same key, with raw bytes of the caller's own", () => {
    const pair = generateKeyPair();
    const text = pair.publicKey.raw.toString("base64url");
    const first = publicKeyFromRaw(text);
    first.raw.fill(0);
    pair.publicKey.raw.fill(1);
    for (const again of [publicKeyFromRaw(text), publicKeyFromRaw(Buffer.from(text, "base64url"))]) {
      expect(again.raw.toString("base64url")).toBe(text);
      expect(again.keyId).toBe(keyIdOf(Buffer.from(text, "base64url")));
      expect(again.keyObject.export({ format: "jwk" }).x).toBe(text);
      const message = Buffer.from("signed");
      expect(isValidSignature(again, message, signBytes(pair, message))).toBe(true);
    }
    // A key object changed after its import is checked again when it verifies.
    const renamed = publicKeyFromRaw(text);
    (renamed as { keyId: string }).keyId = "key-" + "0".repeat(32);
    expect(catchOnexError(() => verifyBytes(renamed, Buffer.from("x"), signBytes(pair, Buffer.from("x")))).code).toBe(ErrorCode.KeyInvalid);
    const emptied = publicKeyFromRaw(text);
    emptied.raw.fill(0);
    expect(catchOnexError(() => verifyBytes(emptied, Buffer.from("x"), signBytes(pair, Buffer.from("x")))).code).toBe(ErrorCode.KeyWeak);
    // Remembering a key changes nothing for text that is not one: the same key with a stray low bit set in its last character.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    expect(catchOnexError(() => publicKeyFromRaw(text.slice(0, 42) + alphabet[alphabet.indexOf(text[42]!) | 1])).code).toBe(ErrorCode.KeyInvalid);
  });

  it("a key's bytes written over through the memory its buffer shares with others change no key imported from the same text later", () => {
    const pair = generateKeyPair();
    const other = generateKeyPair();
    const text = pair.publicKey.raw.toString("base64url");
    const first = publicKeyFromRaw(text);
    // Every copy of the key's bytes in the memory under its buffer (small buffers share a pool), overwritten with the other key's.
    // The bytes looked for are kept apart (Buffer.alloc takes no pool memory), or they could be among those written over.
    const sought = Buffer.alloc(32);
    sought.set(pair.publicKey.raw);
    const memory = Buffer.from(first.raw.buffer);
    for (let at = memory.indexOf(sought); at !== -1; at = memory.indexOf(sought, at + 1)) memory.set(other.publicKey.raw, at);
    const again = publicKeyFromRaw(text);
    expect(again.raw.toString("base64url")).toBe(text);
    const message = Buffer.from("signed");
    expect(isValidSignature(again, message, signBytes(other, message))).toBe(false);
    expect(isValidSignature(again, message, signBytes(pair, message))).toBe(true);
    // The key whose memory was written holds the other key's bytes under its id now: refused, not taken for the key it was checked as.
    expect(catchOnexError(() => verifyBytes(first, message, signBytes(other, message))).code).toBe(ErrorCode.KeyInvalid);
  });

  it("a key's OpenSSL key object, made when first asked for, is the key of its raw bytes; one put in its place is checked like any other", () => {
    const pair = generateKeyPair();
    const other = generateKeyPair();
    const text = pair.publicKey.raw.toString("base64url");
    const message = Buffer.from("signed");
    const signature = signBytes(pair, message);
    const [first, second] = [publicKeyFromRaw(text), publicKeyFromRaw(text)];
    expect(first.keyObject).toBe(second.keyObject);
    expect(first.keyObject.export({ format: "jwk" }).x).toBe(text);
    // Copied field by field, as a caller building a key ring might: still the same key.
    expect(isValidSignature({ ...first }, message, signature)).toBe(true);
    // Another key's object assigned in its place: refused, whichever library verifies.
    Object.assign(first, { keyObject: other.publicKey.keyObject });
    expect(first.keyObject).toBe(other.publicKey.keyObject);
    expect(catchOnexError(() => verifyBytes(first, message, signature)).message).toMatch(/is not the public key of its raw bytes/);
    expect(isValidSignature(second, message, signature)).toBe(true);
  });
});

describe("signature text", () => {
  const pair = generateKeyPair();
  const bytes = Buffer.from("payload");
  const good = signBytes(pair, bytes);

  it("reads ed25519:<base64url> of 64 bytes", () => {
    expect(good).toMatch(/^ed25519:[A-Za-z0-9_-]{86}$/);
    verifyBytes(pair.publicKey, bytes, good);
    expect(isValidSignature(pair.publicKey, bytes, good)).toBe(true);
  });

  it.each([
    ["another algorithm", good.replace("ed25519:", "rsa:")],
    ["no algorithm", good.slice("ed25519:".length)],
    ["a truncated signature", good.slice(0, -2)],
    ["non-base64url characters", good.slice(0, -2) + "+/"],
    ["padding", good + "=="],
    ["a non-canonical last character", good.slice(0, -1) + (good.endsWith("A") ? "B" : "A")],
    ["a number", 42],
  ])("rejects %s with ONEX_E_SIGNATURE_INVALID", (_name, signature) => {
    expect(catchOnexError(() => verifyBytes(pair.publicKey, bytes, signature)).code).toBe(ErrorCode.SignatureInvalid);
    expect(isValidSignature(pair.publicKey, bytes, signature)).toBe(false);
  });
});

describe("OpenSSL interop (openssl pkeyutl -rawin)", () => {
  const dir = mkdtempSync(join(tmpdir(), "onex-openssl-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] }).toString();

  it("OpenSSL verifies a signature the runtime made over a message's canonical bytes", () => {
    const pair = generateKeyPair();
    const signed = signMessage(taskDispatch(), pair);
    writeFileSync(join(dir, "runtime.pub.pem"), exportPublicKey(pair.publicKey));
    writeFileSync(join(dir, "msg.bin"), messageSigningBytes(signed));
    writeFileSync(join(dir, "msg.sig"), decodeSignature(signed.trust.signature));
    const out = openssl("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "runtime.pub.pem", "-in", "msg.bin", "-sigfile", "msg.sig");
    expect(out).toMatch(/Signature Verified Successfully/);
    // And a tampered byte makes OpenSSL refuse it.
    const tampered = messageSigningBytes({ ...signed, payload: { ...signed.payload, priority: 9 } });
    writeFileSync(join(dir, "tampered.bin"), tampered);
    expect(() => openssl("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "runtime.pub.pem", "-in", "tampered.bin", "-sigfile", "msg.sig")).toThrow();
  });

  it("the runtime verifies a message signature OpenSSL made with an OpenSSL-generated key", () => {
    openssl("genpkey", "-algorithm", "ed25519", "-out", "openssl.key.pem");
    const pair = importPrivateKey(readFileSync(join(dir, "openssl.key.pem"), "utf8"));
    const unsigned = { ...taskDispatch(pair.keyId).toJSON() };
    writeFileSync(join(dir, "unsigned.bin"), messageSigningBytes(unsigned));
    openssl("pkeyutl", "-sign", "-rawin", "-inkey", "openssl.key.pem", "-in", "unsigned.bin", "-out", "openssl.sig");
    const signature = "ed25519:" + readFileSync(join(dir, "openssl.sig")).toString("base64url");
    const message = { ...unsigned, trust: { ...unsigned.trust, signature } };
    const opensslPublic = importPublicKey(openssl("pkey", "-in", "openssl.key.pem", "-pubout"));
    expect(verifyMessageSignature(message, keyRing([opensslPublic])).keyId).toBe(pair.keyId);
    // OpenSSL's signature is the one the runtime makes (Ed25519 is deterministic).
    expect(signMessage(unsigned, pair).trust.signature).toBe(signature);
  });
});

function rsaPublicPem(): string {
  return generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "pem", type: "spki" }).toString();
}
