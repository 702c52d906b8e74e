/**
 * The initiating side of the handshake: send our offer to `onex.negotiate.<peer>`, check
 * the peer's answer, and insist that both sides computed the same agreement — a peer that
 * thinks it talks v0.2 while we think v0.1 would mis-read every message.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError, type ErrorCode as Code } from "../errors.js";
import { agreeOnVersion, parseOffer, type Agreement, type ProtocolOffer } from "./agreement.js";
import { negotiateSubject, requestJson } from "./negotiation-service.js";

/** Handshake knobs. */
export interface NegotiateOptions {
  /** How long to wait for the peer's answer; default 2 s. */
  timeoutMs?: number;
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * Negotiates with the deployment `peer`: returns the agreement both sides reached. Throws
 * ONEX_E_INCOMPATIBLE_PEER / ONEX_E_SCHEMA_HASH_MISMATCH (rejected, by either side),
 * ONEX_E_NEGOTIATION_TIMEOUT or ONEX_E_NEGOTIATION_INVALID.
 */
export async function negotiate(nc: NatsConnection, offer: ProtocolOffer, peer: string, options: NegotiateOptions = {}): Promise<Agreement> {
  const answer = (await requestJson(nc, negotiateSubject(peer), offer, options.timeoutMs ?? 2_000, peer)) as Record<string, unknown> | null;
  if (answer === null || typeof answer !== "object" || answer.kind !== "onex.answer/1") {
    throw new OnexError(ErrorCode.NegotiationInvalid, `"${peer}" did not answer the handshake with an onex answer`, { peer });
  }
  const theirs = parseOffer(answer.offer, `"${peer}"`);
  if (theirs.deployment !== peer) {
    throw new OnexError(ErrorCode.NegotiationInvalid, `the handshake for "${peer}" was answered by "${theirs.deployment}"`, { peer, answeredBy: theirs.deployment });
  }
  // Our own verdict first: it carries our side of the explanation.
  const ours = agreeOnVersion(offer, theirs);
  const rejection = answer.rejection as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (rejection !== undefined) {
    const code = typeof rejection.code === "string" && KNOWN_CODES.has(rejection.code) ? (rejection.code as Code) : ErrorCode.IncompatiblePeer;
    throw new OnexError(code, `"${peer}" rejected the handshake: ${String(rejection.message)}`, { peer, rejectedBy: peer, remote: rejection.details });
  }
  const agreement = answer.agreement as Agreement | undefined;
  if (agreement === undefined || agreement.mode !== ours.mode || agreement.version !== ours.version) {
    throw new OnexError(
      ErrorCode.NegotiationInvalid,
      `"${peer}" agreed on ${agreement ? `${agreement.mode} v${agreement.version}` : "nothing"}, but this side computed ${ours.mode} v${ours.version}: the two onex versions negotiate differently`,
      { peer, ours, theirs: agreement },
    );
  }
  return ours;
}
