/**
 * The initiating side of the handshake: send our offer to `onex.negotiate.<peer>`, check
 * the peer's answer, and insist that both sides computed the same agreement — a peer that
 * thinks it talks v0.2 while we think v0.1 would mis-read every message. The peer's offer is
 * held to the schema indexes it publishes (`checkPeerOffer`), as `onex negotiate` does: a
 * version they do not back is not used with it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError, isOnexError, type ErrorCode as Code } from "../errors.js";
import { checkObject, checkPositive } from "../option-check.js";
import type { KeyResolver } from "../trust/keys.js";
import { agreeOnVersion, offerSigner, parseOffer, type Agreement, type ProtocolOffer } from "./agreement.js";
import { checkConnection, negotiateSubject, requestJson } from "./negotiation-service.js";
import { checkPeerOffer, unbacked, withChecks } from "./offer-check.js";

/** Handshake knobs. */
export interface NegotiateOptions {
  /** How long to wait for the peer's answer; default 2 s, more than 0 (Infinity: the 24.8 days one nats.js timer holds). */
  timeoutMs?: number;
  /** Verifies a signed offer's signer (`Agreement.peer.signer`); without it the signer is not recorded. */
  keys?: KeyResolver;
  /**
   * Wait for an answer whose offer a key of `keys` signed (a FederationNode records no other): an
   * unsigned one, which anyone could send first, is read only when none signed came by the timeout.
   */
  preferSigned?: boolean;
  /** Throws when the verified signer may not speak for the peer (a FederationNode's `PeerBook.admit`): such an answer is passed over too. */
  admit?: (deployment: string, signer: string) => void;
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * Negotiates with the deployment `peer`: returns the agreement both sides reached. Throws
 * ONEX_E_INCOMPATIBLE_PEER / ONEX_E_SCHEMA_HASH_MISMATCH (rejected, by either side),
 * ONEX_E_NEGOTIATION_TIMEOUT or ONEX_E_NEGOTIATION_INVALID.
 */
export async function negotiate(nc: NatsConnection, offer: ProtocolOffer, peer: string, options: NegotiateOptions = {}): Promise<Agreement> {
  return (await handshake(nc, offer, peer, options)).agreement;
}

/** `negotiate`, with the offer the peer answered with (a FederationNode records when it was issued). */
export async function handshake(nc: NatsConnection, offer: ProtocolOffer, peer: string, options: NegotiateOptions = {}): Promise<{ agreement: Agreement; theirs: ProtocolOffer }> {
  // From plain JavaScript each failed as a raw TypeError, or (a connection that is none) as a timeout.
  checkConnection("negotiate", "nc", nc);
  checkObject("negotiate", "offer", offer, { required: true });
  checkObject("negotiate", "options", options);
  // nats.js takes a request timeout of 0 or NaN as none given and waits its default second.
  checkPositive("negotiate", "timeoutMs", options.timeoutMs);
  const { answer, theirs, signer } = await peersFirstAnswer(nc, offer, peer, options);
  try {
    return { agreement: await agreeChecked(nc, offer, theirs, answer, peer, signer, options), theirs };
  } catch (error) {
    // A rejected peer's verified signer stays known, so its messages can be refused too.
    if (isOnexError(error) && signer !== undefined) throw new OnexError(error.code, error.message, { ...error.details, signer }, { cause: error.cause ?? error });
    throw error;
  }
}

/**
 * The peer's answer to `offer`. Anyone who may subscribe to the subject can answer. Where answers
 * are authenticated (`keys`: signed for this handshake), one that is not the peer's is passed
 * over and the handshake waits on for the peer's own; with `preferSigned`, an unsigned one too,
 * unless no signed answer comes by the timeout. Without `keys` the first answer is read: an
 * unsigned answer anyone could forge.
 */
async function peersFirstAnswer(nc: NatsConnection, offer: ProtocolOffer, peer: string, options: NegotiateOptions): Promise<PeersAnswer> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  if (options.keys === undefined) return peersAnswer(await requestJson(nc, negotiateSubject(peer), offer, timeoutMs, peer), offer, peer, options);
  let unsigned: PeersAnswer | undefined;
  const read = (value: unknown) => {
    const answer = peersAnswer(value, offer, peer, options);
    if (answer.signer === undefined && options.preferSigned) {
      unsigned ??= answer;
      throw new OnexError(ErrorCode.NegotiationInvalid, `"${peer}" answered without an offer a trusted key signed`, { peer });
    }
    return answer;
  };
  try {
    return await requestJson(nc, negotiateSubject(peer), offer, timeoutMs, peer, read);
  } catch (error) {
    if (unsigned !== undefined && isOnexError(error, ErrorCode.NegotiationInvalid)) return unsigned;
    throw error;
  }
}

interface PeersAnswer {
  answer: Record<string, unknown>;
  theirs: ProtocolOffer;
  signer: string | undefined;
}

/** `answer` read as the peer's answer to `offer`; throws ONEX_E_NEGOTIATION_INVALID when it cannot be. */
function peersAnswer(value: unknown, offer: ProtocolOffer, peer: string, options: NegotiateOptions): PeersAnswer {
  const answer = value as Record<string, unknown> | null;
  if (answer === null || typeof answer !== "object" || answer.kind !== "onex.answer/1") {
    throw new OnexError(ErrorCode.NegotiationInvalid, `"${peer}" did not answer the handshake with an onex answer`, { peer });
  }
  const theirs = parseOffer(answer.offer, `"${peer}"`);
  if (theirs.deployment !== peer) {
    throw new OnexError(ErrorCode.NegotiationInvalid, `the handshake for "${peer}" was answered by "${theirs.deployment}"`, { peer, answeredBy: theirs.deployment });
  }
  const signer = offerSigner(theirs, options.keys);
  if (signer !== undefined) options.admit?.(peer, signer);
  // A signed answer to a handshake that sent a nonce must echo it: a recorded answer to another handshake is not this one's.
  if (signer !== undefined && offer.nonce !== undefined && theirs.in_reply_to !== offer.nonce) {
    const why =
      theirs.in_reply_to === undefined && theirs.issued_at === undefined
        ? "an offer signed once, not for this handshake: its onex is from before 5 December 2026; upgrade it"
        : "an offer signed for another handshake (its nonce is not this one's)";
    throw new OnexError(ErrorCode.NegotiationInvalid, `"${peer}" answered with ${why}`, { peer, signer });
  }
  return { answer, theirs, signer };
}

async function agreeChecked(nc: NatsConnection, offer: ProtocolOffer, theirs: ProtocolOffer, answer: Record<string, unknown>, peer: string, signer: string | undefined, options: NegotiateOptions): Promise<Agreement> {
  const key = signer === undefined ? undefined : options.keys?.(signer);
  const checked = await checkPeerOffer(nc, theirs, { timeoutMs: options.timeoutMs ?? 2_000, required: true, ...(key ? { signer: key } : {}) });
  // Our own verdict first: it carries our side of the explanation.
  let ours: Agreement;
  try {
    ours = agreeOnVersion(offer, checked.offer);
  } catch (error) {
    throw unbacked(error, checked.unverified) ?? error;
  }
  // The answer is the peer's JSON: any field may hold anything (see `shown`).
  if (answer.rejection !== undefined) {
    const rejection = answer.rejection as { code?: unknown; message?: unknown; details?: unknown } | null;
    if (rejection === null || typeof rejection !== "object") throw new OnexError(ErrorCode.NegotiationInvalid, `"${peer}" answered with a rejection that is not an object`, { peer });
    const code = typeof rejection.code === "string" && KNOWN_CODES.has(rejection.code) ? (rejection.code as Code) : ErrorCode.IncompatiblePeer;
    throw new OnexError(code, `"${peer}" rejected the handshake: ${shown(rejection.message)}`, { peer, rejectedBy: peer, remote: rejection.details });
  }
  const agreement = answer.agreement as Partial<Agreement> | null | undefined;
  if (agreement === undefined || agreement === null || typeof agreement !== "object" || agreement.mode !== ours.mode || agreement.version !== ours.version) {
    const theirs = agreement !== null && typeof agreement === "object" ? `${shown(agreement.mode)} v${shown(agreement.version)}` : "nothing";
    const why = new OnexError(
      ErrorCode.NegotiationInvalid,
      `"${peer}" agreed on ${theirs}, but this side computed ${ours.mode} v${ours.version}: the two onex versions negotiate differently`,
      { peer, ours, theirs: agreement },
    );
    throw unbacked(why, checked.unverified) ?? why;
  }
  return withChecks(ours, checked.unverified, signer);
}

/** A field of the peer's answer in a message: a string as it is, anything else as JSON (its own `toString` may be anything), cut at 500 characters. */
function shown(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : String(JSON.stringify(value));
  } catch {
    text = "(a value too deeply nested to show)";
  }
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
