/**
 * What a deployment holds about its peers: the outcome of each handshake, recorded only when
 * the peer's offer was signed by a trusted key and fresh. Anyone who can publish on a
 * negotiation subject can send an offer, and an offer names its deployment itself; so a
 * deployment name is bound to the first key that negotiated for it, and a key to the first
 * deployment it negotiated for, and neither binding is replaced while the book lives. An
 * unsigned offer (`onex negotiate`'s) is answered and changes nothing.
 */
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { OFFER_FRESH_MS, type Agreement, type ProtocolOffer } from "./agreement.js";

export class PeerBook {
  /** Agreements by peer deployment. */
  readonly agreements = new Map<string, Agreement>();
  /** Rejections by peer deployment. */
  readonly rejections = new Map<string, OnexError>();
  readonly #keyOf = new Map<string, string>();
  readonly #deploymentOf = new Map<string, string>();
  /** The newest `issued_at` (ms) each signer's recorded offers carried. */
  readonly #newest = new Map<string, number>();

  /** The deployment a verified key id negotiated for. */
  deploymentOf(signer: string): string | undefined {
    return this.#deploymentOf.get(signer);
  }

  /**
   * Throws ONEX_E_NEGOTIATION_INVALID unless `signer` may speak for `deployment`: the
   * deployment is bound to no other key, and the key to no other deployment.
   */
  admit(deployment: string, signer: string): void {
    const key = this.#keyOf.get(deployment);
    if (key !== undefined && key !== signer) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `"${deployment}" negotiated with key ${key}; an offer signed by ${signer} cannot speak for it`, { peer: deployment, signer, boundTo: key });
    }
    const bound = this.#deploymentOf.get(signer);
    if (bound !== undefined && bound !== deployment) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `key ${signer} negotiated for "${bound}" and cannot speak for "${deployment}" too`, { peer: deployment, signer, boundTo: bound });
    }
  }

  /**
   * Throws ONEX_E_NEGOTIATION_INVALID unless the signed `offer` is fresh: `issued_at` within
   * OFFER_FRESH_MS of `now`, and not older than the newest recorded from its signer (an offer
   * recorded off the wire and sent again after the deployment moved on).
   */
  checkFresh(offer: ProtocolOffer, signer: string, now = Date.now()): number {
    const issued = typeof offer.issued_at === "string" && /^\d{4}-\d\d-\d\dT/.test(offer.issued_at) ? Date.parse(offer.issued_at) : NaN;
    const stale = (why: string): never => {
      throw new OnexError(ErrorCode.NegotiationInvalid, `the offer of "${offer.deployment}" signed by ${signer} ${why}`, { peer: offer.deployment, signer, issued_at: offer.issued_at });
    };
    if (!Number.isFinite(issued)) stale("carries no issued_at time");
    if (Math.abs(issued - now) > OFFER_FRESH_MS) stale(`was issued at ${offer.issued_at}, more than ${OFFER_FRESH_MS / 60_000} minutes from this host's clock`);
    if (issued < (this.#newest.get(signer) ?? -Infinity)) stale(`was issued at ${offer.issued_at}, before an offer of it already taken`);
    return issued;
  }

  /** Records a handshake's outcome for the peer `signer` speaks for (admitted and fresh: see above). */
  record(deployment: string, outcome: Agreement | OnexError, signer: string, issuedAt?: number): void {
    this.admit(deployment, signer);
    this.#keyOf.set(deployment, signer);
    this.#deploymentOf.set(signer, deployment);
    if (issuedAt !== undefined) this.#newest.set(signer, Math.max(issuedAt, this.#newest.get(signer) ?? -Infinity));
    if (isOnexError(outcome)) {
      this.rejections.set(deployment, outcome);
      this.agreements.delete(deployment);
    } else {
      this.agreements.set(deployment, outcome);
      this.rejections.delete(deployment);
    }
  }
}
