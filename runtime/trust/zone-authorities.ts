/**
 * Zone authorities: which key may grant rights in which zone. A flat key ring would let the
 * authority of one zone grant rights in every other; here an authority's signature counts
 * only for the zone it is trusted for.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { assertZoneId } from "../zone-id.js";
import { assertUsablePublicKey, type PublicKey } from "./keys.js";

/** One trusted authority: the zone it speaks for and its public key. */
export interface ZoneAuthority {
  zone: string;
  key: PublicKey;
}

/** The authorities a verifier trusts, per zone. */
export class ZoneAuthorities {
  readonly #byZone = new Map<string, Map<string, PublicKey>>();

  constructor(authorities: Iterable<ZoneAuthority> = []) {
    for (const { zone, key } of authorities) this.trust(zone, key);
  }

  /** Trusts `key` as an authority of `zone` (and of no other zone); throws ONEX_E_KEY_WEAK for a weak key, ONEX_E_USAGE for a zone no message can name. */
  trust(zone: string, key: PublicKey): this {
    if (zone === "*") throw new OnexError(ErrorCode.Usage, `an authority speaks for one named zone, not "${String(zone)}"`);
    // An authority of a zone no message can name (`Zone.A`) counts for no grant any message is judged by.
    assertZoneId(zone, "ZoneAuthorities: an authority");
    assertUsablePublicKey(key);
    let keys = this.#byZone.get(zone);
    if (keys === undefined) this.#byZone.set(zone, (keys = new Map()));
    keys.set(key.keyId, key);
    return this;
  }

  /**
   * Stops trusting `keyId` as an authority of any zone (a compromised or retired authority key);
   * returns whether it was trusted anywhere. Grant books built on these authorities stop counting
   * that key's grants at their next message, and revocation lists take no more revocations from it.
   */
  distrust(keyId: string): boolean {
    let found = false;
    for (const [zone, keys] of this.#byZone) {
      found = keys.delete(keyId) || found;
      if (keys.size === 0) this.#byZone.delete(zone);
    }
    return found;
  }

  /** The key of `keyId` when it is an authority of `zone`; undefined otherwise, even if it speaks for another zone. */
  keyFor(keyId: string, zone: string): PublicKey | undefined {
    return this.#byZone.get(zone)?.get(keyId);
  }

  /** The zones `keyId` speaks for. */
  zonesOf(keyId: string): string[] {
    return [...this.#byZone].filter(([, keys]) => keys.has(keyId)).map(([zone]) => zone);
  }

  /** The key of `keyId` when it is an authority of any zone (revocations name no zone; their issuer must be some authority). */
  anyKeyFor(keyId: string): PublicKey | undefined {
    for (const keys of this.#byZone.values()) {
      const key = keys.get(keyId);
      if (key !== undefined) return key;
    }
    return undefined;
  }
}
