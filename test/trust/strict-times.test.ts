/** Finding 4: every time field is strict RFC 3339 with an offset, in judge, grants, the replay guard and CLI flags. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseTime } from "../../cli/key-files.js";
import { dateTimeFormat } from "../../runtime/ajv-runtime.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { judge } from "../../runtime/trust/policy.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import type { SessionGrantRecord } from "../../runtime/trust/records.js";
import { ReplayGuard } from "../../runtime/trust/replay-guard.js";
import { isRfc3339, parseRfc3339 } from "../../runtime/trust/rfc3339-time.js";
import { verifySessionGrant } from "../../runtime/trust/session-grant.js";
import { checkTrustExpiry, messageSigningBytes, signMessage } from "../../runtime/trust/sign-message.js";
import { signBytes } from "../../runtime/trust/signature.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { catchOnexError, ErrorCode, NOW, taskDispatch, ZONE } from "./fixtures.js";

// What Date.parse reads but a trust decision must not: no offset means the verifier's local time.
const LENIENT = ["2099", "Dec 31 2099", "2099-12-31", "2099-12-31T00:00:00", "2099-12-31 00:00:00Z", "2099-02-30T00:00:00Z", "2099-12-31T24:00:00Z", "2099-12-31T00:00:00+2400", "Thu, 31 Dec 2099 00:00:00 GMT"];

describe("strict RFC 3339 times", () => {
  it("accepts times with Z or an offset and fractions", () => {
    expect(parseRfc3339("2099-12-31T23:59:59Z")).toBe(Date.UTC(2099, 11, 31, 23, 59, 59));
    expect(parseRfc3339("2099-12-31T23:59:59.123456+02:00")).toBe(Date.UTC(2099, 11, 31, 21, 59, 59, 123));
    expect(isRfc3339("2024-02-29T00:00:00z")).toBe(true);
  });

  it("reads exactly what the grammar with Date.parse read (fast-check, near misses included)", () => {
    // The reader before it went character by character: the RFC 3339 grammar as a pattern, the field ranges, then Date.parse.
    const PATTERN = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;
    const reference = (text: string): number => {
      const m = PATTERN.exec(text);
      if (m === null) return Number.NaN;
      const [year, month, day] = [+m[1]!, +m[2]!, +m[3]!];
      const days = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month]!;
      if (month < 1 || month > 12 || day < 1 || day > days || +m[4]! > 23 || +m[5]! > 59 || +m[6]! > 59) return Number.NaN;
      if (m[9] !== undefined && (+m[9] > 23 || +m[10]! > 59)) return Number.NaN;
      return Date.parse(text);
    };
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, "0"));
    const time = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, "0")),
        two(13),
        two(32),
        fc.constantFrom("T", "t", " ", "x"),
        two(25),
        two(61),
        two(61),
        fc.option(fc.stringMatching(/^\.[0-9]{0,11}$/), { nil: "" }),
        fc.oneof(fc.constantFrom("Z", "z", "", "+", "Zz", "-00:00"), fc.tuple(fc.constantFrom("+", "-"), two(25), fc.constantFrom(":", ""), two(61)).map((p) => p.join(""))),
      )
      .map(([y, mo, d, t, h, mi, se, fraction, offset]) => `${y}-${mo}-${d}${t}${h}:${mi}:${se}${fraction}${offset}`);
    // Single-character changes anywhere, so every separator and digit position is tried wrong.
    const changed = fc.tuple(time, fc.nat(), fc.constantFrom("", "0", "9", ":", "-", "T", "Z", ".", "+", "a", "٣")).map(([text, at, c]) => text.slice(0, at % (text.length + 1)) + c + text.slice((at % (text.length + 1)) + 1));
    fc.assert(
      fc.property(fc.oneof(time, changed, fc.string()), (text) => {
        expect(parseRfc3339(text)).toBe(reference(text));
      }),
      { numRuns: 20_000 },
    );
  });

  it("knows the Gregorian leap years: every fourth, not every hundredth, every four-hundredth", () => {
    const feb29 = (year: number) => isRfc3339(`${String(year).padStart(4, "0")}-02-29T00:00:00Z`);
    // Year 0000 too: RFC 3339 counts years in the proleptic Gregorian calendar, where it is a leap year.
    expect([0, 1900, 2000, 2023, 2024, 2100, 2400].map(feb29)).toEqual([true, false, true, false, true, false, true]);
    expect(isRfc3339("2023-04-31T00:00:00Z")).toBe(false);
    expect(isRfc3339("2023-12-31T00:00:00Z")).toBe(true);
  });

  for (const text of LENIENT) {
    it(`refuses ${JSON.stringify(text)} everywhere`, () => {
      expect(isRfc3339(text)).toBe(false);
      const key = generateKeyPair();
      // Plain data: the generated create() would already refuse the time through its schema.
      const base = taskDispatch(key.keyId).toJSON();
      const unsigned = { ...base, trust: { ...base.trust, signer: key.keyId, expires_at: text } };
      // onex refuses to sign it (every receiver would refuse it); a publisher without onex signs the bytes itself.
      expect(catchOnexError(() => signMessage(unsigned, key)).code).toBe(ErrorCode.TrustExpired);
      const message = { ...unsigned, trust: { ...unsigned.trust, signature: signBytes(key, messageSigningBytes(unsigned)) } };
      expect(catchOnexError(() => checkTrustExpiry(message, NOW)).code).toBe(ErrorCode.TrustExpired);
      const verdict = judge(message, { keys: keyRing([key.publicKey]), now: NOW, logger: { warn: () => {} } });
      expect(verdict.accepted).toBe(false);
      expect(verdict.rejection?.code).toBe(ErrorCode.TrustExpired);
      const grant = signRecord<SessionGrantRecord>(
        { grant_id: "g", issuer: key.keyId, subject: "s", zone: ZONE, scopes: { message_types: ["*"], zones: ["*"] }, not_before: "2020-01-01T00:00:00Z", expires_at: text },
        key,
      );
      const refused = catchOnexError(() => verifySessionGrant(grant, { authorities: new ZoneAuthorities([{ zone: ZONE, key: key.publicKey }]), now: NOW }));
      expect([refused.code, refused.details.reason]).toEqual([ErrorCode.GrantInvalid, "shape"]);
      expect(catchOnexError(() => new ReplayGuard().accept({ ...base, time: text }, NOW)).code).toBe(ErrorCode.Replay);
      expect(catchOnexError(() => parseTime(text, "at")).code).toBe(ErrorCode.Usage);
    });
  }

  it("are refused at signing where the schemas' date-time format takes them and every receiver would not", () => {
    const key = generateKeyPair();
    const base = taskDispatch(key.keyId).toJSON();
    // Each passes the generated validator's date-time check (a space for "T", a leap second, a long fraction).
    for (const text of ["2099-12-31 00:00:00Z", "2098-12-31T23:59:60Z", "2099-12-31T00:00:00.1234567891Z"]) {
      expect(dateTimeFormat(text)).toBe(true);
      expect(catchOnexError(() => signMessage({ ...base, trust: { ...base.trust, expires_at: text } }, key)).code).toBe(ErrorCode.TrustExpired);
      expect(catchOnexError(() => signMessage({ ...base, time: text }, key)).code).toBe(ErrorCode.ValidationFailed);
    }
  });
});
