/**
 * The grants a `GrantBook` holds for one subject, in the order they were added.
 *
 * A re-issued grant (same issuer and id) replaces the one before it. Replacing by copying the
 * list without the old grant cost a pass over every grant the subject held, so a subject whose
 * grants were added by the thousand (a grants file, a week of renewals) took quadratic time to
 * load: 3.7 s for 10,000 grants to one subject, over 10 minutes for 100,000. Here a replaced
 * grant is only marked as such (the map of current grants no longer points at it) and left in
 * the list; the list is compacted once the replaced outnumber the current, so an add costs a
 * constant amount on average and the list holds at most twice the current grants.
 */
import type { SessionGrantRecord } from "./records.js";

/** What a grant replaces: its issuer's grant of the same id. */
function grantKey(grant: Pick<SessionGrantRecord, "issuer" | "grant_id">): string {
  return `${grant.issuer}\u0000${grant.grant_id}`;
}

export class SubjectGrants {
  /** Every grant added and not yet compacted away, oldest first, with its key (read once, on add). */
  #added: { key: string; grant: SessionGrantRecord }[] = [];
  /** Key → the grant that counts for it (the last added). */
  readonly #current = new Map<string, SessionGrantRecord>();

  add(grant: SessionGrantRecord): void {
    const key = grantKey(grant);
    this.#current.set(key, grant);
    this.#added.push({ key, grant });
    if (this.#added.length > 2 * this.#current.size + 16) this.#compact();
  }

  /** The current grants, newest first (the live one of a renewed grant is the last added). */
  *newestFirst(): Generator<SessionGrantRecord> {
    for (let i = this.#added.length - 1; i >= 0; i--) {
      const { key, grant } = this.#added[i]!;
      if (this.#current.get(key) === grant) yield grant;
    }
  }

  /** Keeps only the current grants `keep` accepts; returns how many are left. */
  retain(keep: (grant: SessionGrantRecord) => boolean): number {
    for (const [key, grant] of this.#current) if (!keep(grant)) this.#current.delete(key);
    this.#compact();
    return this.#current.size;
  }

  /** The current grants, in no particular order. */
  values(): IterableIterator<SessionGrantRecord> {
    return this.#current.values();
  }

  /** How many entries the list holds, replaced ones included (at most twice the current, plus 16). */
  get held(): number {
    return this.#added.length;
  }

  #compact(): void {
    this.#added = this.#added.filter(({ key, grant }) => this.#current.get(key) === grant);
  }
}
