/**
 * Credentials written in server addresses, fuzzed (control-plane.md,
 * runtime/jetstream/server-credentials.ts): whatever text `--server` or NATS_URL holds,
 * serverCredentials answers with servers and credentials or ONEX_E_USAGE, never another error;
 * a percent-encoded user and password (or token) come back as they were, the addresses without
 * them; and a refusal says no password it was given.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { serverCredentials } from "../../runtime/jetstream/server-credentials.js";

const RUNS = { numRuns: 2_000 };

/** Text made of what addresses are made of, and any text at all. */
const addressText = fc.oneof(
  fc.string({ unit: fc.constantFrom("nats://", "tls://", "a", "h", ":", "@", "/", "%", "%2", "%40", ",", " ", "?", "#", "4222", "é", "\uD800"), maxLength: 16 }),
  fc.string({ unit: "binary", maxLength: 30 }),
);
/** Any text encodeURIComponent can write (a lone surrogate it cannot). */
const anyText = fc.string({ unit: "binary", minLength: 1, maxLength: 20 }).filter((text) => {
  try {
    return encodeURIComponent(text) !== undefined;
  } catch {
    return false;
  }
});
const host = fc.constantFrom("h", "127.0.0.1:4222", "[::1]:4222", "nats.example.org:4222");

describe("server credentials fuzz", () => {
  it("answers any address, or list of them, with servers or ONEX_E_USAGE", () => {
    fc.assert(
      fc.property(fc.oneof(addressText, fc.array(addressText, { maxLength: 3 })), (servers) => {
        try {
          const got = serverCredentials(servers);
          expect(got.servers.every((server) => typeof server === "string")).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(OnexError);
          expect((error as OnexError).code).toBe(ErrorCode.Usage);
        }
      }),
      RUNS,
    );
  });

  it("gives back a percent-encoded user and password, or token, as they were, and the addresses without them", () => {
    fc.assert(
      fc.property(anyText, anyText, fc.array(host, { minLength: 1, maxLength: 3 }), fc.boolean(), (user, pass, hosts, token) => {
        const userinfo = token ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(pass)}`;
        const got = serverCredentials(hosts.map((h) => `nats://${userinfo}@${h}`).join(","));
        expect(got).toEqual({ servers: hosts.map((h) => `nats://${h}`), ...(token ? { token: user } : { user, pass }) });
      }),
      RUNS,
    );
  });

  it("refuses addresses naming different passwords without saying either", () => {
    const password = fc.stringMatching(/^[A-Za-z0-9]{1,4}$/).map((core) => `pw-${core}-x`);
    fc.assert(
      fc.property(password, password, host, (first, second, h) => {
        fc.pre(first !== second);
        const error = (() => {
          try {
            serverCredentials([`nats://admin:${encodeURIComponent(first)}@${h}`, `nats://admin:${second}@${h}`]);
          } catch (caught) {
            return caught as OnexError;
          }
          throw new Error("different credentials were taken");
        })();
        expect(error.code).toBe(ErrorCode.Usage);
        for (const secret of [first, second]) expect(error.message + JSON.stringify(error.details)).not.toContain(secret);
      }),
      RUNS,
    );
  });
});
