/** Registry URLs as users write them (registry.md): what parses, and what is ONEX_E_REGISTRY_URL with the reason. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { parseRegistryUrl } from "../../runtime/registry/open-registry.js";
import { onex, scratch } from "../cli/cli-harness.js";
import { makeNode } from "./fixtures.js";

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
    // 24 h, the longest TTL, in each unit (the limit's message says "24h": that is a TTL too).
    expect(["24h", "1440m", "86400s", "86400000ms", "86400000", "1d"].map((ttl) => parseRegistryUrl(`consul://h:8500?ttl=${ttl}`).ttlMs)).toEqual(Array(6).fill(86_400_000));
    expect(parseRegistryUrl("nats://h:4222?ttl=1.5h").ttlMs).toBe(5_400_000);
  });

  it("refuses, with the reason, a TTL below 1 s, a TTL above 24 h, a malformed duration, no server, a malformed host, a port out of range, an unknown scheme and what is no URL", () => {
    const cases: Record<string, RegExp> = {
      "nats://h:4222?ttl=500ms": /TTL below 1s \(500 ms\)/,
      "nats://h:4222?ttl=0.5s": /TTL below 1s \(500 ms\)/,
      // Beyond what a server keeps (Consul 24h, etcd 9e9 s, NATS ~292 years): the server's own refusal was ONEX_E_REGISTRY_UNAVAILABLE.
      "consul://h:8500?ttl=1441m": /TTL above 24h \(1440m, 86400s; 1441m given\)/,
      "nats://h:4222?ttl=86400001": /TTL above 24h \(1440m, 86400s; 86400001 given\)/,
      "etcd://127.0.0.1:12379?ttl=99999999999999999s": /TTL above 24h .*99999999999999999s given/,
      "nats://127.0.0.1:4222?bucket=hb2&ttl=9999999999s": /TTL above 24h .*9999999999s given/,
      [`etcd://h:2379?ttl=${"9".repeat(400)}`]: /TTL above 24h/,
      "nats://h:4222?ttl=abc": /"abc" is not a duration/,
      "nats://h:4222?ttl=10w": /"10w" is not a duration/,
      // A fraction of a millisecond was rounded (1000.4 kept as 1000, 1.5 as 2).
      "nats://h:4222?ttl=1000.4": /"1000\.4" is not a whole number of milliseconds/,
      "nats://h:4222?ttl=1.0005s": /"1\.0005s" is not a whole number of milliseconds/,
      "nats://": /names no server/,
      "etcd://,": /names no server/,
      "nats://a b:4222": /"a b:4222" is not host:port/,
      "nats://h:port": /"h:port" is not host:port/,
      "etcd://h:99999": /"h:99999" names port 99999; a port is 1 to 65535/,
      "nats://[::1]:0": /"\[::1\]:0" names port 0; a port is 1 to 65535/,
      "redis://h:6379": /unknown registry scheme "redis:"/,
      "h:4222": /is not a registry URL/,
      "": /is not a registry URL/,
    };
    const outcomes = Object.fromEntries(Object.keys(cases).map((url) => [url, refusal(url)]));
    for (const [url, reason] of Object.entries(cases)) expect(outcomes[url]).toMatch(new RegExp(`^${ErrorCode.RegistryUrl}: .*${reason.source}`));
  });

  it("onex registry register refuses a TTL above 24 h as ONEX_E_REGISTRY_URL (exit 2) before it connects, not as a retryable ONEX_E_REGISTRY_UNAVAILABLE", () => {
    const { dir, remove } = scratch("registry-ttl");
    try {
      const node = makeNode();
      writeFileSync(join(dir, "node.json"), JSON.stringify({ entry: node.entry, identity: node.identity }));
      // Port 1: nothing listens, so an URL that got as far as connecting would be exit 69, not 2.
      for (const url of ["etcd://127.0.0.1:1?ttl=99999999999999999s", "nats://127.0.0.1:1?bucket=hb2&ttl=9999999999s", "consul://127.0.0.1:1?ttl=1441m"]) {
        const run = onex(dir, ["registry", "register", "node.json", "--registry", url]);
        expect([run.code, run.stdout], url).toEqual([ExitCode.Usage, ""]);
        expect(run.stderr, url).toMatch(new RegExp(`^error ${ErrorCode.RegistryUrl}: a registry TTL above 24h`));
      }
    } finally {
      remove();
    }
  });

  it("a bucket NATS KV cannot name and an empty key prefix are ONEX_E_REGISTRY_URL (exit 2) before anything connects", () => {
    const { dir, remove } = scratch("registry-bucket");
    try {
      // Port 1: nothing listens, so an URL that got as far as connecting would be exit 69, not 2.
      const urls = ["nats://127.0.0.1:1?bucket=a.b", "nats://127.0.0.1:1?bucket=", "nats://127.0.0.1:1?bucket=*", `nats://127.0.0.1:1?bucket=${"b".repeat(247)}`, "etcd://127.0.0.1:1?prefix=", "consul://127.0.0.1:1?prefix="];
      const outcomes = urls.map((url) => {
        const run = onex(dir, ["registry", "list", "--registry", url]);
        return [run.code, run.stderr.split(":")[0]];
      });
      expect(outcomes).toEqual(urls.map(() => [ExitCode.Usage, `error ${ErrorCode.RegistryUrl}`]));
      // The longest name NATS KV takes is still a bucket: this one gets as far as connecting.
      expect(onex(dir, ["registry", "list", "--registry", `nats://127.0.0.1:1?bucket=${"b".repeat(246)}`]).stderr).toMatch(new RegExp(`^error ${ErrorCode.RegistryUnavailable}`));
    } finally {
      remove();
    }
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
