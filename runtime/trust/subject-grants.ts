/**
 * The grants a `GrantBook` holds for one subject, in the order they were added.
 *
 * Grants of the same issuer and id (a renewal, `onex grant issue --id`) are held side by side,
 * each counting in its own window: what counts must not depend on the order grants arrive in.
 * When a re-issue replaced the grant before it, whoever could hand a book a grant (grants are
 * public) undid a renewal by adding the older grant again, and a book given a day's grant and
 * then its renewal could no longer judge the first day's messages. Only the same grant added
 * again is held once.
 */
import type { SessionGrantRecord } from "./records.js";

/** One signed grant: its issuer, id and signature (two grants of an id differ in their signatures). */
function grantKey(grant: Pick<SessionGrantRecord, "issuer" | "grant_id" | "signature">): string {
  return `${grant.issuer}\u0000${grant.grant_id}\u0000${grant.signature ?? ""}`;
}

export class SubjectGrants {
  /** Every grant held, oldest added first. */
  #added: SessionGrantRecord[] = [];
  readonly #keys = new Set<string>();

  add(grant: SessionGrantRecord): void {
    const key = grantKey(grant);
    if (this.#keys.has(key)) return;
    this.#keys.add(key);
    this.#added.push(grant);
  }

  /** The grants, last added first (a subject's live grant is most often its latest renewal). */
  *newestFirst(): Generator<SessionGrantRecord> {
    for (let i = this.#added.length - 1; i >= 0; i--) yield this.#added[i]!;
  }

  /** Keeps only the grants `keep` accepts; returns how many are left. */
  retain(keep: (grant: SessionGrantRecord) => boolean): number {
    this.#added = this.#added.filter(keep);
    this.#keys.clear();
    for (const grant of this.#added) this.#keys.add(grantKey(grant));
    return this.#added.length;
  }
}
