/**
 * Passwords and tokens in addresses, fuzzed (control-plane.md, runtime/address-secrets.ts):
 * whatever a password or token holds, and however an error quotes the address that holds it
 * (as written, as JSON, as util.inspect prints it, percent-decoded, in its details or in a
 * cause's own fields), nothing redactedAddress or withoutSecrets hands on says it; and an
 * address that holds no secret is left as it is.
 */
import fc from "fast-check";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { addressSecrets, hideSecrets, percentDecoded, redactedAddress, withoutSecrets } from "../../runtime/address-secrets.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";

const RUNS = { numRuns: 2_000 };

/**
 * Secrets made of the characters that split an address elsewhere (`:`, `@`, `/`, `?`, `#`, `,`,
 * `&`, `=`, a space), escape in JSON or inspect (`"`, `\`, a new line) or percent-encode (`%`),
 * around a core no message, JSON or inspect output says of itself (`Q7X`): the core is what is
 * looked for, since a secret such as `":"` is said by every JSON object. None that is or
 * decodes to a `*` (`%2a`): `***` says asterisks; none holding `://`: after a comma, that starts
 * an address of its own to every reader.
 */
const around = fc.string({ unit: fc.constantFrom("a", "b", "7", "-", ":", "@", "/", "?", "#", ",", "&", "=", " ", "%", "2", "C", "F", '"', "\\", "\n", "é", "+", ";"), maxLength: 6 });
const secret = fc
  .tuple(around, fc.stringMatching(/^[A-Z][0-9][A-Z]$/), around)
  .map(([left, core, right]) => ({ text: left + core + right, core }))
  .filter(({ text }) => text.trim() === text && !percentDecoded(text).includes("*") && !text.includes("://"));
const scheme = fc.constantFrom("nats://", "etcd://", "tls://", "");
const host = fc.constantFrom("h", "127.0.0.1:4222", "host-a:1", "[::1]:4222", "nats.example.org");
/** A second address after the first, with or without credentials of its own. */
const more = fc.constantFrom("", ",nats://h2:4222", ",h2:4222", ",nats://u2:other-pw@h2");

/** An address holding `secret` as a password, as a token, or as a `token=`/`password=`/`pass=` query value. */
const withSecret = fc.oneof(
  // Without a scheme, `a://b@h` is one of scheme a:, not user a's password "//b".
  fc.tuple(scheme, fc.stringMatching(/^[a-z]{1,6}$/), secret, host, more).filter(([s, , pw]) => s !== "" || !pw.text.startsWith("//")).map(([s, user, pw, h, m]) => ({ address: `${s}${user}:${pw.text}@${h}${m}`, ...pw })),
  // A token holds no `:`: the first one of a user info ends its user name.
  fc.tuple(scheme, secret.filter(({ text }) => !text.includes(":")), host, more).map(([s, token, h, m]) => ({ address: `${s}${token.text}@${h}${m}`, ...token })),
  fc
    .tuple(fc.constantFrom("consul://h:8500", "nats://h:4222"), fc.constantFrom("token", "password", "pass", "Token"), secret.filter(({ text }) => !/[&#]/.test(text)), fc.constantFrom("", "&ttl=10s", "#top"))
    .map(([base, name, value, tail]) => ({ address: `${base}?prefix=x&${name}=${value.text}${tail}`, ...value })),
);

/**
 * Everything a logger could print of an error: its message, details as JSON, and `inspect` down
 * its cause chain, less the stack frames, whose `file:27:5` are the code's, not the address's.
 */
function everythingSaid(error: OnexError): string {
  const inspected = inspect(error, { depth: 10 }).split("\n").filter((line) => !/^\s+at /.test(line));
  return [error.message, JSON.stringify(error.details), ...inspected].join("\n");
}

/** An error quoting `address` every way an error of the runtime or of a client library does. */
function quoting(address: string): OnexError {
  const cause = Object.assign(new TypeError(`Invalid URL: ${address}`), { input: address });
  const message = `cannot reach ${address} (${JSON.stringify(address)}, ${inspect(address)}, ${percentDecoded(address)})`;
  return new OnexError(ErrorCode.ConnectionFailed, message, { servers: [address], url: address }, { cause });
}

describe("address secrets fuzz", () => {
  it("no password or token an address holds is in its redacted form or in an error quoting it", () => {
    fc.assert(
      fc.property(withSecret, ({ address, text, core }) => {
        const secrets = addressSecrets(address);
        const shown = redactedAddress(address);
        const said = everythingSaid(withoutSecrets(quoting(address), secrets));
        for (const form of [text, core]) {
          expect(shown).not.toContain(form);
          expect(said).not.toContain(form);
        }
      }),
      RUNS,
    );
  });

  it("an address with no user info and no secret parameter is left as it is, and so is an error quoting it", () => {
    const plain = fc
      .tuple(fc.constantFrom("nats://", "etcd://", "consul://", ""), fc.array(host, { minLength: 1, maxLength: 3 }), fc.constantFrom("", "/path", "?ttl=10s&bucket=b", "?prefix=/onex/&tokens=2", "#x"))
      .map(([s, hosts, tail]) => `${s}${hosts.join(",")}${tail}`);
    fc.assert(
      fc.property(plain, (address) => {
        expect(addressSecrets(address)).toEqual([]);
        expect(redactedAddress(address)).toBe(address);
        const error = quoting(address);
        expect(withoutSecrets(error, addressSecrets(address))).toBe(error);
      }),
      RUNS,
    );
  });

  it("hideSecrets says no character of any occurrence of a secret, overlapping ones too, and every other character", () => {
    const piece = fc.string({ unit: fc.constantFrom("a", "b", "c", "@", ","), minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 4 }), fc.array(fc.oneof(piece, fc.constantFrom(" ", "x")), { maxLength: 12 }), (given, words) => {
        // Longest first, as addressSecrets hands them over.
        const secrets = [...given].sort((a, b) => b.length - a.length);
        const text = words.join("");
        const covered = [...text].map((_, i) => secrets.some((secret) => [...secret].some((_c, k) => i >= k && text.startsWith(secret, i - k))));
        const shown = hideSecrets(text, secrets);
        // What is left between the `***`s is the text less what its secrets cover, in order.
        expect(shown.split("***").join("")).toBe([...text].filter((_, i) => !covered[i]).join(""));
      }),
      RUNS,
    );
  });
});
