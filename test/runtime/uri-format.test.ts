/**
 * The "uri" format the generated validators call answers exactly as ajv-formats' `full` "uri"
 * does: it only accepts plain `scheme://host[:port][/path]` URIs itself, faster, and hands
 * every other string to ajv-formats. Checked on arbitrary strings and on URIs built from parts
 * that stray into every form the full pattern knows (user info, IP literals, percent escapes,
 * queries, fragments, relative forms) and some it refuses.
 */
import { fullFormats } from "ajv-formats/dist/formats.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ajvFormats, uriFormat } from "../../runtime/ajv-runtime.js";

const reference = fullFormats.uri as (value: string) => boolean;
const chars = (alphabet: string, maxLength: number) => fc.string({ unit: fc.constantFrom(...alphabet), maxLength });
const PLAIN = "abcxyzABCXYZ0129.-_~";
const ODD = "%@[]:!$&'()*+,;=?#/ \\\"<>^`{|}é\u017f\u212a";

const uri = fc
  .record({
    scheme: fc.oneof(fc.constantFrom("https", "nats", "onex", "urn", "a+b.c-d", "1http", "", "h_ttp", "HTTPS"), chars(PLAIN + "+", 6)),
    separator: fc.constantFrom("://", ":/", ":", "//", ":///", "://@", ""),
    host: fc.oneof(chars(PLAIN, 20), chars(PLAIN + ODD, 12), fc.constantFrom("[::1]", "[v1.x]", "127.0.0.1", "256.1.1.1", "user:pw@host", "%41b", "%4", "")),
    port: fc.constantFrom("", ":", ":4222", ":65536", ":x", "::"),
    path: fc.array(fc.oneof(chars(PLAIN, 10), chars(PLAIN + ODD, 6)), { maxLength: 4 }).map((segments) => segments.map((s) => `/${s}`).join("")),
    tail: fc.constantFrom("", "?", "?a=b&c=d", "#", "#frag", "?q#f", "#a#b", "?%zz"),
  })
  .map((p) => `${p.scheme}${p.separator}${p.host}${p.port}${p.path}${p.tail}`);

describe("uri format", () => {
  it("answers as ajv-formats on URIs built from straying parts", () => {
    let valid = 0;
    let invalid = 0;
    fc.assert(
      fc.property(uri, (value) => {
        const expected = reference(value);
        if (expected) valid++;
        else invalid++;
        expect(uriFormat(value)).toBe(expected);
      }),
      { numRuns: 30_000 },
    );
    // Both answers are exercised, not only one.
    expect(valid).toBeGreaterThan(3_000);
    expect(invalid).toBeGreaterThan(3_000);
  });

  it("answers as ajv-formats on arbitrary strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (value) => {
        expect(uriFormat(value)).toBe(reference(value));
      }),
      { numRuns: 20_000 },
    );
  });

  it("is what the generated validators get", () => {
    expect(ajvFormats.uri).toBe(uriFormat);
  });
});
