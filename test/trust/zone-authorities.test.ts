/** Finding 1: an authority's grants count only in the zone it speaks for. */
import { describe, expect, it } from "vitest";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { judge, DEFAULT_TRUST_POLICY } from "../../runtime/trust/policy.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import type { SessionGrantRecord } from "../../runtime/trust/records.js";
import { GrantBook, RevocationList, issueSessionGrant, revokeSessionGrant, verifySessionGrant, type GrantRevocation } from "../../runtime/trust/session-grant.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { ZONE_ID_RULE } from "../../runtime/zone-id.js";
import { catchOnexError, ErrorCode, NOW, taskDispatch } from "./fixtures.js";

const authorityA = generateKeyPair();
const authorityB = generateKeyPair();
const node = generateKeyPair();
const both = new ZoneAuthorities([
  { zone: "zone.a", key: authorityA.publicKey },
  { zone: "zone.b", key: authorityB.publicKey },
]);
const window = { notBefore: NOW - 60_000, expiresAt: NOW + 3_600_000 };

/** A grant as a hostile authority of zone.a would sign it by hand, bypassing issueSessionGrant's own check. */
function forged(fields: Partial<SessionGrantRecord>): SessionGrantRecord {
  return signRecord<SessionGrantRecord>(
    {
      grant_id: "g-forged",
      issuer: authorityA.keyId,
      subject: node.keyId,
      zone: "zone.a",
      scopes: { message_types: ["*"], zones: ["zone.b"] },
      not_before: new Date(window.notBefore).toISOString(),
      expires_at: new Date(window.expiresAt).toISOString(),
      ...fields,
    },
    authorityA,
  );
}

describe("zone authorities", () => {
  it("issueSessionGrant refuses to grant in a zone other than the authority's", () => {
    const error = catchOnexError(() => issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", zones: ["zone.b"], messageTypes: ["*"], ...window }));
    expect(error.code).toBe(ErrorCode.Usage);
    expect(error.message).toContain("zone.b");
  });

  it("a grant of zone.a's authority naming zone.b in its scope is refused, even with zone.b's authority trusted too", () => {
    const error = catchOnexError(() => verifySessionGrant(forged({}), { authorities: both, now: NOW, zone: "zone.b" }));
    expect(error.code).toBe(ErrorCode.GrantInvalid);
    expect(error.details.reason).toBe("scope");
  });

  it("a grant claiming zone.b but signed by zone.a's authority is refused: the issuer does not speak for zone.b", () => {
    const error = catchOnexError(() => verifySessionGrant(forged({ zone: "zone.b" }), { authorities: both, now: NOW, zone: "zone.b" }));
    expect(error.code).toBe(ErrorCode.GrantInvalid);
    expect(error.details.reason).toBe("issuer");
    expect(error.message).toContain("zone.a only");
  });

  it("a grant counts in its authority's zone and nowhere else, also with a * zone scope", () => {
    const grant = issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", zones: ["*"], messageTypes: ["*"], ...window });
    expect(verifySessionGrant(grant, { authorities: both, now: NOW, zone: "zone.a" }).grant_id).toBe(grant.grant_id);
    expect(catchOnexError(() => verifySessionGrant(grant, { authorities: both, now: NOW, zone: "zone.b" })).code).toBe(ErrorCode.GrantInvalid);
  });

  it("judge refuses a message in zone.b that holds only zone.a's grant", () => {
    const book = new GrantBook(both);
    book.add(issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", zones: ["*"], messageTypes: ["*"], ...window }));
    const inB = signMessage(taskDispatch(node.keyId, { zone: "zone.b" }), node);
    const verdict = judge(inB, { keys: keyRing([node.publicKey]), now: NOW, zone: "zone.b", grants: book, logger: { warn: () => {} } }, DEFAULT_TRUST_POLICY);
    expect(verdict.accepted).toBe(false);
    expect(verdict.rejection?.code).toBe(ErrorCode.GrantInvalid);
    const inA = signMessage(taskDispatch(node.keyId, { zone: "zone.a" }), node);
    expect(judge(inA, { keys: keyRing([node.publicKey]), now: NOW, zone: "zone.a", grants: book, logger: { warn: () => {} } }).accepted).toBe(true);
  });

  it("judge refuses a message from zone.a that claims zone.b in its trust block, signed by a key granted only in zone.b", () => {
    const book = new GrantBook(both);
    book.add(issueSessionGrant(authorityB, { subject: node.keyId, zone: "zone.b", messageTypes: ["*"], ...window }));
    const crossing = taskDispatch(node.keyId, { zone: "zone.a" });
    const claimsB = signMessage({ ...crossing.toJSON(), trust: { ...crossing.trust, zone: "zone.b" } }, node);
    // zone_match is advisory by default: the grant alone must keep the message out of zone.a.
    const verdict = judge(claimsB, { keys: keyRing([node.publicKey]), now: NOW, zone: "zone.a", grants: book, logger: { warn: () => {} } }, DEFAULT_TRUST_POLICY);
    expect(verdict.accepted).toBe(false);
    expect(verdict.rejection?.code).toBe(ErrorCode.GrantInvalid);
    // The same grant carries a message that is in zone.b through and through.
    expect(judge(signMessage(taskDispatch(node.keyId, { zone: "zone.b" }), node), { keys: keyRing([node.publicKey]), now: NOW, zone: "zone.b", grants: book, logger: { warn: () => {} } }).accepted).toBe(true);
  });

  it("revocations are accepted from a trusted authority of any zone, and from nobody else", () => {
    const grant = issueSessionGrant(authorityB, { subject: node.keyId, zone: "zone.b", messageTypes: ["*"], ...window });
    const list = new RevocationList(both);
    list.add(revokeSessionGrant(grant, authorityB, { at: new Date(NOW) }));
    expect(list.size).toBe(1);
    const stranger = generateKeyPair();
    const foreign = issueSessionGrant(stranger, { subject: node.keyId, zone: "zone.b", messageTypes: ["*"], ...window });
    expect(catchOnexError(() => list.add(revokeSessionGrant(foreign, stranger))).code).toBe(ErrorCode.GrantInvalid);
  });

  it("a trusted authority of another zone cannot revoke a grant it did not issue, even by naming its grant id", () => {
    const grant = issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", messageTypes: ["*"], ...window });
    // Zone B's authority signs, by hand, a revocation carrying zone A's grant id: its own key as issuer, valid signature.
    const hostile = signRecord<GrantRevocation>({ grant_id: grant.grant_id, issuer: authorityB.keyId, revoked_at: new Date(NOW).toISOString(), expires_at: grant.expires_at }, authorityB);
    const list = new RevocationList(both);
    list.add(hostile);
    expect(list.revocationOf(grant)).toBeUndefined();
    expect(verifySessionGrant(grant, { authorities: both, revocations: list, now: NOW }).grant_id).toBe(grant.grant_id);
    const book = new GrantBook(both);
    book.add(grant);
    book.revoke(hostile);
    const message = signMessage(taskDispatch(node.keyId, { zone: "zone.a" }), node);
    expect(judge(message, { keys: keyRing([node.publicKey]), now: NOW, zone: "zone.a", grants: book, logger: { warn: () => {} } }, DEFAULT_TRUST_POLICY).accepted).toBe(true);
    // The grant's own issuer still can.
    book.revoke(revokeSessionGrant(grant, authorityA, { at: new Date(NOW) }));
    expect(judge(message, { keys: keyRing([node.publicKey]), now: NOW, zone: "zone.a", grants: book, logger: { warn: () => {} } }, DEFAULT_TRUST_POLICY).rejection?.code).toBe(ErrorCode.GrantRevoked);
  });

  it("a trusted authority of another zone cannot replace a grant it did not issue by issuing one under its grant id", () => {
    const grant = issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", messageTypes: ["*"], ...window });
    const book = new GrantBook(both);
    book.add(grant);
    // Zone B's authority reads zone A's grant (grants are not secret) and issues one of its own zone, to the same node, under the same id.
    book.add(issueSessionGrant(authorityB, { subject: node.keyId, zone: "zone.b", messageTypes: ["*"], grantId: grant.grant_id, ...window }));
    const context = { keys: keyRing([node.publicKey]), now: NOW, grants: book, logger: { warn: () => {} } };
    expect(judge(signMessage(taskDispatch(node.keyId, { zone: "zone.a" }), node), { ...context, zone: "zone.a" }, DEFAULT_TRUST_POLICY).rejection).toBeUndefined();
    // Zone B's own grant counts in zone B, as any grant of its own would.
    expect(judge(signMessage(taskDispatch(node.keyId, { zone: "zone.b" }), node), { ...context, zone: "zone.b" }, DEFAULT_TRUST_POLICY).rejection).toBeUndefined();
    // Zone A's own revocation of that id takes its grant away, and only in zone A.
    book.revoke(revokeSessionGrant(grant, authorityA));
    expect(judge(signMessage(taskDispatch(node.keyId, { zone: "zone.a" }), node), { ...context, zone: "zone.a" }, DEFAULT_TRUST_POLICY).rejection?.code).toBe(ErrorCode.GrantRevoked);
    expect(judge(signMessage(taskDispatch(node.keyId, { zone: "zone.b" }), node), { ...context, zone: "zone.b" }, DEFAULT_TRUST_POLICY).rejection).toBeUndefined();
  });

  it("another zone's authority revoking ids of its own by the thousand does not push a zone's pruned revocation out", () => {
    const DAY = 86_400_000;
    const first = issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", messageTypes: ["*"], grantId: "g-x", notBefore: new Date(NOW), expiresAt: new Date(NOW + DAY) });
    const renewal = issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", messageTypes: ["*"], grantId: "g-x", notBefore: new Date(NOW + DAY), expiresAt: new Date(NOW + 2 * DAY) });
    const book = new GrantBook(both);
    book.revoke(revokeSessionGrant(first, authorityA, { at: new Date(NOW) }));
    book.prune(NOW + DAY);
    // Zone B's authority: 65,537 revocations of made-up ids of its own, already expired, then a prune.
    const own = issueSessionGrant(authorityB, { subject: node.keyId, zone: "zone.b", messageTypes: ["*"], notBefore: new Date(NOW - DAY), expiresAt: new Date(NOW) });
    for (let i = 0; i <= 65_536; i++) book.revoke(revokeSessionGrant({ ...own, grant_id: `flood-${i}` }, authorityB, { at: new Date(NOW - DAY) }));
    book.prune(NOW + DAY + 1);
    book.add(renewal);
    expect(catchOnexError(() => book.authorize([node.keyId], "signal.task.dispatch", "zone.a", NOW + DAY + 60_000)).code).toBe(ErrorCode.GrantRevoked);
  }, 60_000);

  it("an authority cannot be trusted for * or an empty zone", () => {
    expect(catchOnexError(() => new ZoneAuthorities([{ zone: "*", key: authorityA.publicKey }])).code).toBe(ErrorCode.Usage);
    expect(catchOnexError(() => new ZoneAuthorities([{ zone: "", key: authorityA.publicKey }])).code).toBe(ErrorCode.Usage);
  });

  it("nor for a zone no message can name, and no grant is issued for one: it would count for no message", () => {
    // Each was taken: an authority of Zone.A, and a grant of Zone.A that no message's zone could ever match.
    for (const zone of ["Zone.A", "zone_a", "zone..a", "-zone"]) {
      const trusted = catchOnexError(() => new ZoneAuthorities().trust(zone, authorityA.publicKey));
      expect([trusted.code, trusted.message]).toEqual([ErrorCode.Usage, `ZoneAuthorities: an authority: zone ${JSON.stringify(zone)} is no zone a message can name: a zone id is ${ZONE_ID_RULE}`]);
      const issued = catchOnexError(() => issueSessionGrant(authorityA, { subject: node.keyId, zone, messageTypes: ["*"], ...window }));
      expect([issued.code, issued.message]).toEqual([ErrorCode.Usage, `issueSessionGrant: zone: zone ${JSON.stringify(zone)} is no zone a message can name: a zone id is ${ZONE_ID_RULE}`]);
    }
    expect(new ZoneAuthorities().trust("zone.a", authorityA.publicKey).keyFor(authorityA.keyId, "zone.a")).toBe(authorityA.publicKey);
  });

  it("so no grant is issued for the zone *: no verifier could trust its issuer", () => {
    // It was signed and handed out, and every verifier then refused it (reason issuer).
    const error = catchOnexError(() => issueSessionGrant(authorityA, { subject: node.keyId, zone: "*", messageTypes: ["*"], ...window }));
    expect(error.code).toBe(ErrorCode.Usage);
    expect(error.message).toContain("*");
  });

  it("a revocation time no verifier reads is refused as ONEX_E_USAGE, not a RangeError or a revocation every list refuses", () => {
    const grant = issueSessionGrant(authorityA, { subject: node.keyId, zone: "zone.a", messageTypes: ["*"], ...window });
    for (const at of [new Date(Number.NaN), new Date(8.64e15), new Date(-8.64e15)]) {
      expect(catchOnexError(() => revokeSessionGrant(grant, authorityA, { at })).code).toBe(ErrorCode.Usage);
    }
    new RevocationList(both).add(revokeSessionGrant(grant, authorityA, { at: new Date(NOW) }));
  });
});
