/**
 * A zone authority's private key is stolen. The thief issues itself grants with it; the
 * operator pulls the emergency brake security.md names: the authority key is removed from the
 * verifiers' authorities (`ZoneAuthorities.distrust`). Written as the thief, against a receiver
 * that was already running (its GrantBook holds the thief's grant, added while the key was
 * trusted) and against one started afterwards.
 */
import { describe, expect, it } from "vitest";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY, judge } from "../../runtime/trust/policy.js";
import { GrantBook, issueSessionGrant, revokeSessionGrant } from "../../runtime/trust/session-grant.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { ZoneAuthorities } from "../../runtime/trust/zone-authorities.js";
import { catchOnexError, ErrorCode, NOW, taskDispatch, ZONE } from "./fixtures.js";

const stolenAuthority = generateKeyPair();
const newAuthority = generateKeyPair();
const thiefNode = generateKeyPair();
const honestNode = generateKeyPair();
const window = { notBefore: NOW - 60_000, expiresAt: NOW + 3_600_000 };
const quiet = { warn: () => {} };

function receiver() {
  const authorities = new ZoneAuthorities([{ zone: ZONE, key: stolenAuthority.publicKey }]);
  const book = new GrantBook(authorities);
  const context = { keys: keyRing([thiefNode.publicKey, honestNode.publicKey]), now: NOW, zone: ZONE, grants: book, logger: quiet };
  const verdictOf = (node: typeof thiefNode) => judge(signMessage(taskDispatch(node.keyId), node), context, DEFAULT_TRUST_POLICY);
  return { authorities, book, verdictOf };
}

describe("a stolen zone authority key, once distrusted", () => {
  it("voids in a running receiver the grants it issued, those the thief gave itself included", () => {
    const { authorities, book, verdictOf } = receiver();
    // Before the theft is noticed, the thief's grant reached the receiver as any grant would.
    book.add(issueSessionGrant(stolenAuthority, { subject: thiefNode.keyId, zone: ZONE, messageTypes: ["*"], ...window }));
    expect(verdictOf(thiefNode).accepted).toBe(true);

    expect(authorities.distrust(stolenAuthority.keyId)).toBe(true);

    const verdict = verdictOf(thiefNode);
    expect(verdict.accepted).toBe(false);
    expect(verdict.rejection?.code).toBe(ErrorCode.GrantInvalid);
    expect(verdict.rejection?.details.reason).toBe("issuer");
  });

  it("takes no new grant and no revocation from the thief, and the new authority's grants work in the same book", () => {
    const { authorities, book, verdictOf } = receiver();
    const honestGrant = issueSessionGrant(stolenAuthority, { subject: honestNode.keyId, zone: ZONE, messageTypes: ["*"], ...window });
    book.add(honestGrant);
    authorities.distrust(stolenAuthority.keyId);
    authorities.trust(ZONE, newAuthority.publicKey);

    const grant = catchOnexError(() => book.add(issueSessionGrant(stolenAuthority, { subject: thiefNode.keyId, zone: ZONE, messageTypes: ["*"], ...window })));
    expect(grant.code).toBe(ErrorCode.GrantInvalid);
    const revocation = catchOnexError(() => book.revoke(revokeSessionGrant(honestGrant, stolenAuthority, { at: new Date(NOW) })));
    expect(revocation.code).toBe(ErrorCode.GrantInvalid);
    expect(verdictOf(thiefNode).accepted).toBe(false);

    // The honest node's old grant went with the key; the re-issued one counts.
    expect(verdictOf(honestNode).rejection?.code).toBe(ErrorCode.GrantInvalid);
    book.add(issueSessionGrant(newAuthority, { subject: honestNode.keyId, zone: ZONE, messageTypes: ["*"], ...window }));
    expect(verdictOf(honestNode).accepted).toBe(true);
  });

  it("distrusting a key that speaks for no zone changes nothing", () => {
    const { authorities, book, verdictOf } = receiver();
    book.add(issueSessionGrant(stolenAuthority, { subject: honestNode.keyId, zone: ZONE, messageTypes: ["*"], ...window }));
    expect(authorities.distrust(thiefNode.keyId)).toBe(false);
    expect(verdictOf(honestNode).accepted).toBe(true);
  });
});
