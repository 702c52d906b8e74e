/**
 * `connect` refuses what it cannot work with before it connects, as ONEX_E_USAGE: no options, no
 * server (nats.js reads "" or [] as 127.0.0.1:4222), an address that is no URL, no identity to sign
 * with (it failed as a connection) and a key ring that is no resolver (it connected, and the first
 * message failed with a TypeError). Port 1: nothing listens, so options that got as far as
 * connecting would be ONEX_E_CONNECTION.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { connect } from "../../runtime/jetstream/client.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";

const identity = generateKeyPair();
const good = { servers: "nats://127.0.0.1:1", identity, keys: keyRing([identity.publicKey]) };
const outcome = (options: unknown) => connect(options as never).then(
  async (client) => {
    await client.close();
    return "connected";
  },
  (error: { code?: string }) => error.code,
);

describe("connect's options", () => {
  it("a whole trust context gets as far as connecting", async () => {
    expect(await outcome({ ...good, trust: { zone: "zone.a", now: Date.now(), keyOfEntity: () => undefined, logger: console } })).toBe(ErrorCode.ConnectionFailed);
  });

  it("an unreachable server with good options is ONEX_E_CONNECTION", async () => {
    expect(await outcome(good)).toBe(ErrorCode.ConnectionFailed);
  });

  it.each([
    ["no options", null],
    ["a URL for options", "nats://127.0.0.1:1"],
    ["an empty server", { ...good, servers: "" }],
    ["no servers", { ...good, servers: [] }],
    ["a server that is no string", { ...good, servers: 4222 }],
    ["a port past 65535", { ...good, servers: "nats://127.0.0.1:99999" }],
    ["no identity", { ...good, identity: undefined }],
    ["an identity that is a public key", { ...good, identity: identity.publicKey }],
    ["a key ring that is no resolver", { ...good, keys: [identity.publicKey] }],
    // The judge context: each was taken, and failed every message (zone_match, or a TypeError as ONEX_E_INTERNAL).
    ["a trust that is no object", { ...good, trust: "zone.a" }],
    ["a trust zone that is a number", { ...good, trust: { zone: 5 } }],
    ["an empty trust zone", { ...good, trust: { zone: "" } }],
    ["a trust zone no message can name", { ...good, trust: { zone: "Zone.A" } }],
    ["a trust zone of *, which is no pattern", { ...good, trust: { zone: "*" } }],
    ["a trust now that is no time", { ...good, trust: { now: "yesterday" } }],
    ["a keyOfEntity that is no function", { ...good, trust: { keyOfEntity: { "n-1": "k" } } }],
    ["grants that are no GrantBook", { ...good, trust: { grants: [] } }],
    ["a replay guard without accept", { ...good, trust: { replay: {} } }],
    ["a logger without warn", { ...good, trust: { logger: () => undefined } }],
  ])("%s is ONEX_E_USAGE", async (_name, options) => {
    expect(await outcome(options)).toBe(ErrorCode.Usage);
  });
});
