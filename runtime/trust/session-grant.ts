/**
 * Session grants: a zone authority signs that a node or agent may send certain message
 * types in certain zones between `not_before` and `expires_at`. Grants are revocable by
 * the authority that issued them, through signed revocations.
 */
import { randomUUID } from "node:crypto";
import { ErrorCode, isOnexError, OnexError } from "../errors.js";
import { assertZoneId } from "../zone-id.js";
import { toMillis } from "./envelope.js";
import type { KeyPair } from "./keys.js";
import { GRANT_REVOCATION_SCHEMA, SESSION_GRANT_SCHEMA } from "./record-schemas.js";
import { assertRecord } from "./record-shape.js";
import { isRfc3339, LAST_RFC3339_TIME, parseRfc3339 } from "./rfc3339-time.js";
import type { ZoneAuthorities } from "./zone-authorities.js";
import { signRecord, verifyRecordSignature } from "./record-signature.js";
import type { SessionGrantRecord } from "./records.js";
import { SubjectGrants } from "./subject-grants.js";
import { forgetOldest } from "../forget-oldest.js";

/** Scope entries matching every message type or zone. */
export const ANY_SCOPE = "*";

/** What an authority grants. */
export interface IssueGrantOptions {
  /** Node or agent id (or key id) the grant is for. */
  subject: string;
  /** The zone the authority speaks for. */
  zone: string;
  /** Message types the subject may send (`*` for all). */
  messageTypes: string[];
  /** Zones the subject may send in: the authority's zone (the default) or `*`, which means that zone too; an authority speaks for no other zone. */
  zones?: string[];
  notBefore?: Date | number | string;
  expiresAt: Date | number | string;
  grantId?: string;
}

/** A session grant signed by `authority`; `issuer` is the authority's key id. */
export function issueSessionGrant(authority: KeyPair, options: IssueGrantOptions): SessionGrantRecord {
  // No verifier trusts an authority for "*" (ZoneAuthorities refuses it): such a grant was signed and handed out, and refused everywhere.
  if (options.zone === ANY_SCOPE) throw new OnexError(ErrorCode.Usage, `a grant is issued for the one zone its authority speaks for, not "${ANY_SCOPE}" (scope zones may say "${ANY_SCOPE}", meaning that zone)`, { zone: options.zone });
  // Nor one for a zone no message can name (`Zone.A`): no message's zone would match it.
  assertZoneId(options.zone, "issueSessionGrant: zone");
  const notBefore = toMillis(options.notBefore, "notBefore");
  const expiresAt = toMillis(options.expiresAt, "expiresAt");
  if (expiresAt <= notBefore) {
    throw new OnexError(ErrorCode.Usage, "a grant needs valid times with expires_at after not_before");
  }
  // RFC 3339 has four-digit years: a later time has no form every verifier reads.
  if (notBefore < 0 || expiresAt > LAST_RFC3339_TIME) throw new OnexError(ErrorCode.Usage, "a grant's times must lie between 1970 and the end of 9999");
  // A string would be spread into one-letter types ("signal.task.dispatch" as "s", "i", ...).
  for (const name of ["messageTypes", "zones"] as const) {
    const list: unknown = options[name];
    if (!(list === undefined && name === "zones") && !(Array.isArray(list) && list.every((item) => typeof item === "string"))) {
      throw new OnexError(ErrorCode.Usage, `issueSessionGrant: ${name} must be an array of strings, not ${JSON.stringify(list)}`);
    }
  }
  const foreign = (options.zones ?? []).filter((zone) => zone !== options.zone && zone !== ANY_SCOPE);
  if (foreign.length > 0) {
    throw new OnexError(ErrorCode.Usage, `the authority of ${options.zone} cannot grant rights in ${foreign.join(", ")}: a grant counts only in the zone its authority speaks for`, { zone: options.zone, zones: foreign });
  }
  const grant = signRecord<SessionGrantRecord>(
    {
      grant_id: options.grantId ?? randomUUID(),
      issuer: authority.keyId,
      subject: options.subject,
      zone: options.zone,
      scopes: { message_types: [...options.messageTypes], zones: [...(options.zones ?? [options.zone])] },
      not_before: new Date(notBefore).toISOString(),
      expires_at: new Date(expiresAt).toISOString(),
    },
    authority,
  );
  // Never hand out a grant its verifiers would refuse (an empty id or subject, say).
  try {
    assertRecord(grant, SESSION_GRANT_SCHEMA, "session grant");
  } catch (error) {
    if (!isOnexError(error)) throw error;
    throw new OnexError(ErrorCode.Usage, `cannot issue this grant: ${error.message}`, error.details, { cause: error });
  }
  return grant;
}

/** A signed statement by a grant's issuer that the grant is void; kept until the grant would have expired. */
export interface GrantRevocation {
  grant_id: string;
  issuer: string;
  revoked_at: string;
  /** The revoked grant's own expiry: after it, the revocation need not be remembered. */
  expires_at: string;
  reason?: string;
  signature?: string;
}

/** Revokes `grant`; only its issuer's key can make a revocation others accept. */
export function revokeSessionGrant(grant: SessionGrantRecord, authority: KeyPair, options: { reason?: string; at?: Date } = {}): GrantRevocation {
  if (grant.issuer !== authority.keyId) {
    throw new OnexError(ErrorCode.GrantInvalid, `grant ${grant.grant_id} was issued by ${grant.issuer}; key ${authority.keyId} cannot revoke it`, { reason: "issuer" });
  }
  // An invalid Date threw a RangeError, and one past year 9999 made a revocation every list refuses (not RFC 3339).
  const revokedAt = new Date(toMillis(options.at, "the revocation time")).toISOString();
  if (!isRfc3339(revokedAt)) throw new OnexError(ErrorCode.Usage, `a revocation time must lie between years 0 and 9999, not ${revokedAt}`);
  return signRecord<GrantRevocation>(
    {
      grant_id: grant.grant_id,
      issuer: grant.issuer,
      revoked_at: revokedAt,
      expires_at: grant.expires_at,
      ...(options.reason === undefined ? {} : { reason: options.reason }),
    },
    authority,
  );
}

/**
 * The revoked grants a verifier knows of. A revocation is kept until the grant it was made from
 * would have expired; then prune sets it aside, still refusing its id, for up to FORGOTTEN_KEPT
 * ids of each issuer.
 */
export class RevocationList {
  readonly #revoked = new Map<string, GrantRevocation>();
  /**
   * Issuer → the revocations of its pruned, by grant id. A revocation names a grant by issuer and
   * id, so it revokes every grant of that id, a renewal too; a renewal issued ahead and handed to
   * a book after the prune (by the subject, who chooses when) otherwise worked again. Bounded per
   * issuer: in one list for all, another zone's authority could push a zone's out by revoking
   * ids of its own by the thousand.
   */
  readonly #forgotten = new Map<string, Map<string, GrantRevocation>>();

  constructor(private readonly authorities: ZoneAuthorities) {}

  /** Adds a revocation after checking its schema and its issuer's signature; throws ONEX_E_VALIDATION, ONEX_E_GRANT_INVALID or ONEX_E_SIGNATURE_INVALID. */
  add(revocation: unknown): void {
    assertRecord(revocation, GRANT_REVOCATION_SCHEMA, "grant revocation");
    const record = revocation as unknown as GrantRevocation;
    // Revocations name no zone; revoking only ever takes rights away, so any trusted authority's own grant ids count.
    const key = this.authorities.anyKeyFor(record.issuer);
    if (key === undefined || key.keyId !== record.issuer) {
      throw new OnexError(ErrorCode.GrantInvalid, `revocation of ${record.grant_id} comes from unknown authority ${record.issuer}`, { reason: "issuer" });
    }
    verifyRecordSignature(record, key, "grant revocation");
    this.#revoked.set(revocationKey(record.issuer, record.grant_id), record);
  }

  /** The revocation of a grant, if its issuer revoked it. */
  revocationOf(grant: Pick<SessionGrantRecord, "grant_id" | "issuer">): GrantRevocation | undefined {
    return this.#revoked.get(revocationKey(grant.issuer, grant.grant_id)) ?? this.#forgotten.get(grant.issuer)?.get(grant.grant_id);
  }

  /** Sets aside the revocations of grants that have expired by `now`; their ids stay revoked. */
  prune(now?: Date | number): void {
    const at = toMillis(now, "now");
    for (const [key, revocation] of this.#revoked) {
      if (parseRfc3339(revocation.expires_at) > at) continue;
      this.#revoked.delete(key);
      let issuers = this.#forgotten.get(revocation.issuer);
      if (issuers === undefined) this.#forgotten.set(revocation.issuer, (issuers = new Map()));
      issuers.delete(revocation.grant_id);
      issuers.set(revocation.grant_id, revocation);
      if (issuers.size > FORGOTTEN_KEPT) forgetOldest(issuers);
    }
  }

  /** Every revocation not yet pruned. */
  list(): GrantRevocation[] {
    return [...this.#revoked.values()];
  }

  /** How many revocations are not yet pruned. */
  get size(): number {
    return this.#revoked.size;
  }
}

/** Revocations of one issuer set aside by prune, still refusing their ids: its oldest forgotten past this many. */
const FORGOTTEN_KEPT = 65_536;

function revocationKey(issuer: string, grantId: string): string {
  return `${issuer}\u0000${grantId}`;
}

/** What a grant is checked for. */
export interface VerifyGrantOptions {
  /** Zone authorities: the grant's issuer must be an authority of the grant's zone. */
  authorities: ZoneAuthorities;
  revocations?: RevocationList;
  now?: Date | number;
  /** When given, the grant must allow this message type. */
  messageType?: string;
  /** When given, the grant must allow this zone. */
  zone?: string;
  /** When given, the grant must be for this subject. */
  subject?: string;
}

/**
 * Verifies a session grant: shape, issuer, signature, subject, revocation, time window and
 * scope. Throws ONEX_E_GRANT_INVALID, ONEX_E_GRANT_REVOKED, ONEX_E_GRANT_NOT_YET_VALID or
 * ONEX_E_GRANT_EXPIRED (details.reason says which part of an invalid grant failed).
 */
export function verifySessionGrant(grant: unknown, options: VerifyGrantOptions): SessionGrantRecord {
  return checkGrantValidity(verifyGrantAuthenticity(grant, options.authorities), options);
}

/**
 * Checks a grant's schema, issuer and signature only (not its window, scope or revocation):
 * the issuer must be an authority of the grant's own zone, and the grant may name no other
 * zone. Throws ONEX_E_GRANT_INVALID.
 */
export function verifyGrantAuthenticity(grant: unknown, authorities: ZoneAuthorities): SessionGrantRecord {
  try {
    assertRecord(grant, SESSION_GRANT_SCHEMA, "session grant");
  } catch (error) {
    throw grantInvalid(`malformed session grant: ${(error as Error).message}`, "shape");
  }
  const record = grant as unknown as SessionGrantRecord;
  const authority = authorities.keyFor(record.issuer, record.zone);
  if (authority === undefined || authority.keyId !== record.issuer) {
    const elsewhere = authorities.zonesOf(record.issuer);
    const why = elsewhere.length > 0 ? `an authority of ${elsewhere.join(", ")} only` : "not a known zone authority";
    throw grantInvalid(`grant ${record.grant_id} for zone ${record.zone} is issued by ${record.issuer}, which is ${why}`, "issuer");
  }
  try {
    verifyRecordSignature(record, authority, "session grant");
  } catch (error) {
    throw grantInvalid(`grant ${record.grant_id}: ${(error as Error).message}`, "signature");
  }
  const foreign = record.scopes.zones.filter((zone) => zone !== record.zone && zone !== ANY_SCOPE);
  if (foreign.length > 0) {
    throw grantInvalid(`grant ${record.grant_id} from the authority of ${record.zone} names zone ${foreign.join(", ")}, which that authority does not speak for`, "scope");
  }
  return record;
}

/** The checks of an authentic grant that depend on time, revocations and use. */
function checkGrantValidity(record: SessionGrantRecord, options: Omit<VerifyGrantOptions, "authorities">): SessionGrantRecord {
  if (options.subject !== undefined && record.subject !== options.subject) {
    throw grantInvalid(`grant ${record.grant_id} is for ${record.subject}, not ${options.subject}`, "subject");
  }
  const revocation = options.revocations?.revocationOf(record);
  if (revocation !== undefined) {
    throw new OnexError(ErrorCode.GrantRevoked, `grant ${record.grant_id} was revoked at ${revocation.revoked_at}${revocation.reason ? ` (${revocation.reason})` : ""}`, { grantId: record.grant_id });
  }
  const now = toMillis(options.now, "now");
  if (now < parseRfc3339(record.not_before)) throw new OnexError(ErrorCode.GrantNotYetValid, `grant ${record.grant_id} is valid from ${record.not_before}`, { grantId: record.grant_id, notBefore: record.not_before });
  if (now >= parseRfc3339(record.expires_at)) throw new OnexError(ErrorCode.GrantExpired, `grant ${record.grant_id} expired at ${record.expires_at}`, { grantId: record.grant_id, expiresAt: record.expires_at });
  if (options.messageType !== undefined && !inScope(record.scopes.message_types, options.messageType)) {
    throw grantInvalid(`grant ${record.grant_id} does not cover message type ${options.messageType}`, "scope");
  }
  // The scope can only narrow the authority's zone, never widen it.
  if (options.zone !== undefined && (options.zone !== record.zone || !inScope(record.scopes.zones, options.zone))) {
    throw grantInvalid(`grant ${record.grant_id} does not cover zone ${options.zone}`, "scope");
  }
  return record;
}

function inScope(scope: string[], value: string): boolean {
  return scope.includes(value) || scope.includes(ANY_SCOPE);
}

function grantInvalid(message: string, reason: "shape" | "issuer" | "signature" | "subject" | "scope" | "missing"): OnexError {
  return new OnexError(ErrorCode.GrantInvalid, message, { reason });
}

// Most specific first: when no grant passes, the caller hears about the closest miss.
const FAILURE_RANK: Record<string, number> = {
  [ErrorCode.GrantRevoked]: 5,
  [ErrorCode.GrantExpired]: 4,
  [ErrorCode.GrantNotYetValid]: 3,
  [ErrorCode.GrantInvalid]: 1,
};

/** The grants a receiver holds, checked on every message by the `token_valid` policy. */
export class GrantBook {
  readonly #bySubject = new Map<string, SubjectGrants>();
  readonly revocations: RevocationList;

  constructor(private readonly authorities: ZoneAuthorities, revocations?: RevocationList) {
    this.revocations = revocations ?? new RevocationList(authorities);
  }

  /** Adds a grant after checking its issuer and signature (not its time window: future grants may be stored early). */
  add(grant: unknown): SessionGrantRecord {
    // A copy, so a caller mutating its object afterwards cannot change a grant already checked.
    const record = structuredClone(verifyGrantAuthenticity(grant, this.authorities));
    let grants = this.#bySubject.get(record.subject);
    if (grants === undefined) this.#bySubject.set(record.subject, (grants = new SubjectGrants()));
    // Beside every other grant, those of the same issuer and id included (SubjectGrants).
    grants.add(record);
    return record;
  }

  /** Revokes a grant with a signed revocation from its issuer. */
  revoke(revocation: unknown): void {
    this.revocations.add(revocation);
  }

  /**
   * The grant that lets one of `subjects` send `messageType` in `zone` at `now`; throws the
   * closest miss (revoked, expired, not yet valid, out of scope) or ONEX_E_GRANT_INVALID when none exists.
   */
  authorize(subjects: readonly string[], messageType: string, zone: string, now?: Date | number): SessionGrantRecord {
    // The closest miss, and the signature of its grant: of two misses that rank alike, the one of
    // the lesser signature, so the error does not depend on the order grants were added in.
    let closest: { error: OnexError; rank: number; signature: string } | undefined;
    for (const subject of subjects) {
      const grants = this.#bySubject.get(subject);
      if (grants === undefined) continue;
      // Newest first: a subject whose grants are renewed holds a grant per renewal until pruned,
      // and the live one is most often the last added. Oldest first, each message built and caught an error
      // for every expired grant before it (5.8 µs each: 139 µs a message after a day of hourly
      // renewals, 956 µs after a week).
      for (const grant of grants.newestFirst()) {
        try {
          // Signatures were checked on add; per message only the issuer's standing, the window,
          // scope and revocations can change. An authority distrusted since (a stolen key) voids
          // its grants here at once: checked on add alone, they worked until the process restarted.
          if (this.authorities.keyFor(grant.issuer, grant.zone) === undefined) {
            throw grantInvalid(`grant ${grant.grant_id} is issued by ${grant.issuer}, which is no longer an authority of ${grant.zone}`, "issuer");
          }
          return checkGrantValidity(grant, { revocations: this.revocations, now, messageType, zone, subject });
        } catch (error) {
          if (!(error instanceof OnexError)) throw error;
          const rank = FAILURE_RANK[error.code] ?? 0;
          const signature = grant.signature ?? "";
          if (closest === undefined || rank > closest.rank || (rank === closest.rank && signature < closest.signature)) closest = { error, rank, signature };
        }
      }
    }
    throw closest?.error ?? grantInvalid(`no session grant for ${subjects.join(" or ")}`, "missing");
  }

  /**
   * Forgets grants and revocations expired at `now` (the ids revoked stay refused). A book that
   * judges live traffic should call it now and then (hourly, say): a renewed grant stays until
   * pruned, since the book also judges archived messages as of an earlier time (`onex verify --at`).
   */
  prune(now?: Date | number): void {
    const at = toMillis(now, "now");
    for (const [subject, grants] of this.#bySubject) {
      if (grants.retain((g) => parseRfc3339(g.expires_at) > at) === 0) this.#bySubject.delete(subject);
    }
    this.revocations.prune(at);
  }
}
