/** Registry URLs as users write them (registry.md): what parses, and what is ONEX_E_REGISTRY_URL with the reason. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { parseRegistryUrl } from "../../runtime/registry/open-registry.js";

const refusal = (url: string) => {
  try {
    parseRegistryUrl(url);
  } catch (error) {
    return error instanceof OnexError ? `${error.code}: ${error.message}` : `not an OnexError: ${String(error)}`;
  }
  return "accepted";
};

describe("parseRegistryUrl", () => {
  it("reads servers, TTL and parameters, 10 s by default", () => {
    const url = parseRegistryUrl("nats://a:4222,b.example:4223?bucket=reg&ttl=2m");
    expect({ scheme: url.scheme, hosts: url.hosts, ttlMs: url.ttlMs, bucket: url.params.get("bucket") }).toEqual({ scheme: "nats", hosts: ["a:4222", "b.example:4223"], ttlMs: 120_000, bucket: "reg" });
    expect(parseRegistryUrl("etcd://[::1]:2379").ttlMs).toBe(10_000);
    expect(parseRegistryUrl("consul://localhost:8500?ttl=1s").ttlMs).toBe(1_000);
    expect(parseRegistryUrl("ETCD://h:2379/?ttl=1500").ttlMs).toBe(1_500);
  });

  it("refuses, with the reason, a TTL below 1 s, a malformed duration, no server, a malformed host, an unknown scheme and what is no URL", () => {
    const cases: Record<string, RegExp> = {
      "nats://h:4222?ttl=500ms": /TTL below 1s \(500 ms\)/,
      "nats://h:4222?ttl=0.5s": /TTL below 1s \(500 ms\)/,
      "nats://h:4222?ttl=abc": /"abc" is not a duration/,
      "nats://h:4222?ttl=10h": /"10h" is not a duration/,
      "nats://": /names no server/,
      "etcd://,": /names no server/,
      "nats://a b:4222": /"a b:4222" is not host:port/,
      "nats://h:port": /"h:port" is not host:port/,
      "redis://h:6379": /unknown registry scheme "redis:"/,
      "h:4222": /is not a registry URL/,
      "": /is not a registry URL/,
    };
    const outcomes = Object.fromEntries(Object.keys(cases).map((url) => [url, refusal(url)]));
    for (const [url, reason] of Object.entries(cases)) expect(outcomes[url]).toMatch(new RegExp(`^${ErrorCode.RegistryUrl}: .*${reason.source}`));
  });

  it("answers any text with a parse or ONEX_E_REGISTRY_URL, never another error (fast-check)", () => {
    const pieces = fc.constantFrom("nats", "etcd", "consul", "://", ":", "/", "?", "&", "=", ",", "ttl", "bucket", "h", "[::1]", "4222", "500ms", "2m", "x", " ", "#", "%", "\u0000", "é");
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(pieces, { maxLength: 12 }).map((p) => p.join(""))), (text) => {
        const outcome = refusal(text);
        return outcome === "accepted" || outcome.startsWith(`${ErrorCode.RegistryUrl}: `);
      }),
      { numRuns: 2_000 },
    );
  });
});
