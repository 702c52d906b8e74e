/**
 * What a deployment holds about its peers: the outcome of each handshake, recorded only when
 * the peer's offer was signed by a trusted key and fresh. Anyone who can publish on a
 * negotiation subject can send an offer, and an offer names its deployment itself; so a
 * deployment name is bound to the first key that negotiated for it, and a key to the first
 * deployment it negotiated for, and neither binding is replaced while the book lives. Bindings
 * given ahead (`known`, a known_hosts for deployments) hold from the start, so no other key can
 * claim those names first, and with `knownOnly` no other deployment is admitted at all. An
 * unsigned offer (`onex negotiate`'s) is answered and changes nothing.
 */
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { OFFER_FRESH_MS, OFFER_LIMITS, type Agreement, type ProtocolOffer } from "./agreement.js";
import { parseRfc3339 } from "../trust/rfc3339-time.js";

export class PeerBook {
  /** Agreements by peer deployment. */
  readonly agreements = new Map<string, Agreement>();
  /** Rejections by peer deployment. */
  readonly rejections = new Map<string, OnexError>();
  readonly #keyOf = new Map<string, string>();
  readonly #deploymentOf = new Map<string, string>();
  /** The newest `issued_at` (ms) of each signer's offers taken, and that offer's nonce (the same offer sent again is no newer one). */
  readonly #newest = new Map<string, { at: number; nonce: string | undefined }>();
  /** The bindings given ahead, both ways; `forget` leaves them. */
  readonly #knownKeyOf: ReadonlyMap<string, string>;
  readonly #knownDeploymentOf: ReadonlyMap<string, string>;
  readonly #knownOnly: boolean;

  /**
   * `known`: deployment name -> the key id that alone speaks for it. Throws ONEX_E_USAGE for a
   * name no offer may carry, a key id that is no string, or a key given for two deployments.
   */
  constructor(known: Readonly<Record<string, string>> = {}, knownOnly = false) {
    const usage = (why: string): never => {
      throw new OnexError(ErrorCode.Usage, `knownPeers: ${why}`, {});
    };
    if (typeof known !== "object" || known === null) usage("give an object of deployment name -> key id");
    if (typeof knownOnly !== "boolean") usage("knownPeersOnly is true or false");
    const keyOf = new Map<string, string>();
    const deploymentOf = new Map<string, string>();
    for (const [deployment, key] of Object.entries(known)) {
      if (deployment === "" || deployment.length > OFFER_LIMITS.deploymentChars) usage(`"${deployment.slice(0, 40)}" is no deployment name (1 to ${OFFER_LIMITS.deploymentChars} characters)`);
      if (typeof key !== "string" || key === "") usage(`the key of "${deployment}" is no key id`);
      const other = deploymentOf.get(key);
      if (other !== undefined) usage(`key ${key} is given for "${other}" and "${deployment}"; a key speaks for one deployment`);
      keyOf.set(deployment, key);
      deploymentOf.set(key, deployment);
    }
    this.#knownKeyOf = keyOf;
    this.#knownDeploymentOf = deploymentOf;
    this.#knownOnly = knownOnly;
  }

  /** The deployment a verified key id negotiated for. */
  deploymentOf(signer: string): string | undefined {
    return this.#deploymentOf.get(signer) ?? this.#knownDeploymentOf.get(signer);
  }

  /**
   * Throws ONEX_E_NEGOTIATION_INVALID unless `signer` may speak for `deployment`: the
   * deployment is bound to no other key, and the key to no other deployment.
   */
  admit(deployment: string, signer: string): void {
    if (this.#knownOnly && !this.#knownKeyOf.has(deployment)) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `"${deployment}" is not among the known peers, and only they may negotiate here`, { peer: deployment, signer });
    }
    const key = this.#knownKeyOf.get(deployment) ?? this.#keyOf.get(deployment);
    if (key !== undefined && key !== signer) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `"${deployment}" negotiated with key ${key}; an offer signed by ${signer} cannot speak for it`, { peer: deployment, signer, boundTo: key });
    }
    const bound = this.deploymentOf(signer);
    if (bound !== undefined && bound !== deployment) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `key ${signer} negotiated for "${bound}" and cannot speak for "${deployment}" too`, { peer: deployment, signer, boundTo: bound });
    }
  }

  /**
   * Throws ONEX_E_NEGOTIATION_INVALID unless the signed opening `offer` is for `audience` and
   * fresh: `issued_at` within OFFER_FRESH_MS of `now`, and not older than the newest of its
   * signer's taken so far (an offer recorded off the wire and sent again after the deployment
   * moved on). Taken means checked here, not recorded: a handshake waits on a probe, and an
   * older offer whose probe ends later must not be recorded over the newer (see `record`).
   */
  takeFresh(offer: ProtocolOffer, signer: string, audience: string, now = Date.now()): number {
    const issued = parseRfc3339(offer.issued_at);
    const refuse = (why: string): never => {
      throw new OnexError(ErrorCode.NegotiationInvalid, `the offer of "${offer.deployment}" signed by ${signer} ${why}`, { peer: offer.deployment, signer, issued_at: offer.issued_at });
    };
    if (offer.audience === undefined && offer.nonce === undefined && offer.issued_at === undefined) {
      refuse("carries no audience, nonce or issued_at: the peer's onex signs its offers once, not for each handshake (an onex from before 5 December 2026); upgrade it");
    }
    if (offer.audience !== audience || offer.nonce === undefined || offer.in_reply_to !== undefined) refuse(`is not an opening offer for "${audience}"`);
    if (!Number.isFinite(issued)) refuse("carries no issued_at time");
    if (Math.abs(issued - now) > OFFER_FRESH_MS) refuse(`was issued at ${offer.issued_at}, more than ${OFFER_FRESH_MS / 60_000} minutes from this host's clock`);
    const newest = this.#newest.get(signer);
    if (newest !== undefined && (issued < newest.at || (issued === newest.at && offer.nonce === newest.nonce))) {
      refuse(`was issued at ${offer.issued_at}, ${issued < newest.at ? "before an offer of it already taken" : "and was taken already"}`);
    }
    this.#newest.set(signer, { at: issued, nonce: offer.nonce });
    return issued;
  }

  /**
   * Records a handshake's outcome for the peer `signer` speaks for (admitted: see `admit`),
   * from its offer issued at `issuedAt` when known (an opening offer this side took, or the
   * answer to a handshake this side opened, which moves the newest time on too: an opening offer
   * of the peer's recorded off the wire before it is no newer). An outcome of an offer older than
   * one its signer has since sent is not recorded (false).
   */
  record(deployment: string, outcome: Agreement | OnexError, signer: string, issuedAt?: number, nonce?: string): boolean {
    this.admit(deployment, signer);
    const newest = this.#newest.get(signer);
    if (issuedAt !== undefined) {
      if (newest !== undefined && issuedAt < newest.at) return false;
      if (newest === undefined || issuedAt > newest.at) this.#newest.set(signer, { at: issuedAt, nonce });
    }
    this.#keyOf.set(deployment, signer);
    this.#deploymentOf.set(signer, deployment);
    if (isOnexError(outcome)) {
      this.rejections.set(deployment, outcome);
      this.agreements.delete(deployment);
    } else {
      this.agreements.set(deployment, outcome);
      this.rejections.delete(deployment);
    }
    return true;
  }

  /** Forgets `deployment`: its outcome and its key's binding (a deployment that rotated its key negotiates afresh), but for a binding given ahead. */
  forget(deployment: string): void {
    const key = this.#keyOf.get(deployment);
    if (key !== undefined) {
      this.#deploymentOf.delete(key);
      this.#newest.delete(key);
    }
    this.#keyOf.delete(deployment);
    this.agreements.delete(deployment);
    this.rejections.delete(deployment);
  }
}
