/**
 * `connect` refuses an identity whose public key is not its private key's, as it refuses one
 * whose key id is not (api-bad-input.test.ts), against a real nats-server. Such a pair, put
 * together from two keys (`{ ...mine, publicKey: other.publicKey }`), connected: the client tells
 * the messages it signed itself by `identity.publicKey`, and signs with the private key. Something
 * that is no public key there is refused as no key, as in a key ring.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { onexFailure } from "../support/onex-failure.js";
import { connect, type ConnectOptions } from "../../runtime/jetstream/client.js";
import { exportPublicKey, generateKeyPair, keyRing, publicKeyFromRaw, type KeyPair } from "../../runtime/trust/keys.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => server?.stop());

const mine = generateKeyPair();
const other = generateKeyPair();

async function failure(identity: unknown): Promise<OnexError> {
  const options = { servers: server.url, identity: identity as KeyPair, keys: keyRing([mine.publicKey]) } satisfies ConnectOptions;
  return onexFailure(async () => (await connect(options)).close());
}

describe("connect with an identity whose public key is not its private key's", () => {
  it("another key's public key is ONEX_E_USAGE, naming both key ids", async () => {
    const error = await failure({ ...mine, publicKey: other.publicKey });
    expect(error.code).toBe(ErrorCode.Usage);
    expect(error.message).toBe(`connect: identity.publicKey ${other.keyId} is not the public key of its private key, ${mine.keyId}: give the key pair as generateKeyPair or importPrivateKey made it`);
    expect(error.details).toMatchObject({ publicKeyId: other.keyId, privateKeyId: mine.keyId });
  });

  it("something that is no public key is ONEX_E_KEY_INVALID, said as the identity's", async () => {
    const forged = { keyId: mine.keyId, raw: other.publicKey.raw, keyObject: other.publicKey.keyObject };
    for (const publicKey of [undefined, null, exportPublicKey(mine.publicKey), { keyId: mine.keyId }, forged]) {
      const error = await failure({ ...mine, publicKey });
      expect([JSON.stringify(publicKey)?.slice(0, 40), error.code]).toEqual([JSON.stringify(publicKey)?.slice(0, 40), ErrorCode.KeyInvalid]);
      expect(error.message).toMatch(/^connect: identity\.publicKey: /);
    }
  });

  it("connects with the pair as made, or with its public key made again from its bytes", async () => {
    for (const identity of [mine, { ...mine, publicKey: publicKeyFromRaw(Buffer.from(mine.publicKey.raw)) }]) {
      const client = await connect({ servers: server.url, identity, keys: keyRing([mine.publicKey]) });
      await client.close();
    }
  });
});
