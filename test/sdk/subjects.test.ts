import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { decodeSubjectToken, encodeSubjectToken } from "../../runtime/subject-token.js";

const NATS_TOKEN = /^[^\s.*>]+$/;

// Any well-formed string: ASCII-heavy with the characters NATS forbids, plus any code point.
const value = fc.oneof(
  fc.string({ unit: fc.constantFrom(".", "*", ">", " ", "\t", "~", "%", "a", "Z", "0", "-", "_", "é", "🚀", "\uFEFF"), minLength: 1 }),
  fc.string({ unit: "binary", minLength: 1 }),
);

describe("subject builders and parsers", () => {
  it("parse(build(x)) equals x for every valid input, and every token is a legal NATS token", () => {
    fc.assert(
      fc.property(value, value, value, (zone_id, entity_type, entity_id) => {
        const subject = v0_1.buildEventSubject({ zone_id, entity_type, entity_id });
        const tokens = subject.split(".");
        expect(tokens).toHaveLength(7);
        for (const token of tokens) expect(token).toMatch(NATS_TOKEN);
        expect(v0_1.parseEventSubject(subject)).toEqual({ zone_id, entity_type, entity_id });
      }),
      { numRuns: 2000 },
    );
  });

  it("build(parse(s)) equals s: only the canonical spelling of a token parses", () => {
    const token = fc.string({ unit: fc.constantFrom("a", "B", "7", "-", "_", "~", "2", "E", "e", "F", "4", "1"), minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(token, (t) => {
        let decoded: string | undefined;
        try {
          decoded = decodeSubjectToken(t);
        } catch (error) {
          expect((error as OnexError).code).toBe(ErrorCode.SubjectParse);
          return;
        }
        expect(encodeSubjectToken(decoded)).toBe(t);
      }),
      { numRuns: 3000 },
    );
  });

  it("the encoder agrees with its definition, character by character, on any string", () => {
    // The definition: letters, digits, "_" and "-" stand for themselves, every other
    // character is "~" and the upper-case hex of each of its UTF-8 bytes, a lone surrogate is refused.
    const utf8 = new TextEncoder();
    const byDefinition = (text: string): string => {
      let out = "";
      for (const ch of text) {
        if (/^[A-Za-z0-9_-]$/.test(ch)) out += ch;
        else if (ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff) return "refused";
        else for (const byte of utf8.encode(ch)) out += "~" + byte.toString(16).toUpperCase().padStart(2, "0");
      }
      return out;
    };
    const encoded = (text: string): string => {
      try {
        return encodeSubjectToken(text);
      } catch (error) {
        return error instanceof OnexError && error.code === ErrorCode.SubjectToken ? "refused" : "other error";
      }
    };
    const withSurrogates = fc.string({ unit: fc.constantFrom("a", ".", "~", "\uD800", "\uDC00", "é", "🚀", " "), minLength: 1 });
    fc.assert(
      fc.property(fc.oneof(value, withSurrogates), (text) => {
        expect(encoded(text)).toBe(byDefinition(text));
        if (byDefinition(text) !== "refused") expect(decodeSubjectToken(encodeSubjectToken(text))).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it("zone ids with dots keep their dots", () => {
    const subject = v0_1.buildEventSubject({ zone_id: "zone.trusted.org", entity_type: "agent", entity_id: "a 1" });
    expect(subject).toBe("jetstream.onex.zone.zone~2Etrusted~2Eorg.agent.a~201.events");
  });

  it("rejects what cannot be encoded", () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as OnexError).code;
      }
      return "no error";
    };
    expect(code(() => v0_1.buildEventSubject({ zone_id: "", entity_type: "node", entity_id: "n" }))).toBe(ErrorCode.SubjectToken);
    expect(code(() => encodeSubjectToken("a\uD800b"))).toBe(ErrorCode.SubjectToken);
  });

  it("rejects subjects that do not match the template or hold malformed tokens", () => {
    const bad = [
      "jetstream.onex.zone.z.node.n",
      "jetstream.onex.zone.z.node.n.events.extra",
      "nats.onex.zone.z.node.n.events",
      "jetstream.onex.zone.z~2.node.n.events",
      "jetstream.onex.zone.z~41.node.n.events",
      "jetstream.onex.zone.z~e9.node.n.events",
      "jetstream.onex.zone.~FF.node.n.events",
      "jetstream.onex.zone..node.n.events",
    ];
    for (const subject of bad) {
      expect(() => v0_1.parseEventSubject(subject), subject).toThrowError(expect.objectContaining({ code: ErrorCode.SubjectParse }));
    }
  });

  it("filters use * for parts left open", () => {
    expect(v0_1.filterEventSubject({ zone_id: "zone.a" })).toBe("jetstream.onex.zone.zone~2Ea.*.*.events");
    expect(v0_1.filterEventSubject({ zone_id: "zone.a", entity_type: undefined })).toBe("jetstream.onex.zone.zone~2Ea.*.*.events");
    expect(v0_1.filterEventSubject()).toBe("jetstream.onex.zone.*.*.*.events");
  });

  it("a filter given no parts object, or a part under a name the subject has not, is refused rather than widened to every zone", () => {
    // Each of these read no param and filtered every zone's events (or threw a TypeError).
    for (const parts of ["zone.a", null, 5, ["zone.a"], { zone: "zone.a" }, { zone_id: "zone.a", entityType: "node" }]) {
      expect(() => v0_1.filterEventSubject(parts as never), JSON.stringify(parts)).toThrowError(expect.objectContaining({ code: ErrorCode.SubjectToken }));
    }
    expect(() => v0_1.filterEventSubject({ zone_id: null } as never)).toThrowError(expect.objectContaining({ code: ErrorCode.SubjectToken }));
    for (const parts of ["zone.a", null, undefined]) {
      expect(() => v0_1.buildEventSubject(parts as never), String(parts)).toThrowError(expect.objectContaining({ code: ErrorCode.SubjectToken }));
    }
  });

  it("v0.0.9 builds the same subject from its flat envelope", () => {
    const msg = v0_0_9.StateUpdate.create({
      zone: "zone.trusted.org",
      entity_type: "node",
      entity_id: "n-1",
      trust: { signer: "k", level: "low", zone: "zone.trusted.org", expires_at: "2027-01-01T00:00:00Z" },
      payload: { state: "idle" },
    });
    expect(msg.protocol_version).toBe("0.0.9");
    expect(msg.subject()).toBe("jetstream.onex.zone.zone~2Etrusted~2Eorg.node.n-1.events");
  });
});
