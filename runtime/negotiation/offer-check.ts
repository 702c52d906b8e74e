/**
 * Holding a peer to what it publishes. An offer only states content hashes; the peer's
 * schema indexes (`onex.schemas.<deployment>`) can be checked: each must hash to what it
 * declares, and to what the offer says. `onex negotiate` has always probed before it
 * handshakes; the API handshake checks the same, so a version whose published schemas do not
 * back the offer is not used with that peer, whichever way the peer is reached.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { randomBytes } from "node:crypto";
import { OFFER_LIMITS, type Agreement, type NegotiationFlag, type ProtocolOffer, type VersionHash } from "./agreement.js";
import type { PublicKey } from "../trust/keys.js";
import { verifyRecordSignature } from "../trust/record-signature.js";
import { requestJson, schemasSubject } from "./negotiation-service.js";
import { parseSchemaIndex } from "./schema-index.js";

/** The offer with the versions its published indexes do not back taken out, and why each was. */
export interface CheckedOffer {
  offer: ProtocolOffer;
  unverified: NegotiationFlag[];
}

/**
 * Probes the offering deployment's schema indexes and drops from its offer every version
 * whose index does not verify or hashes differently from the offer. With `required`, a peer
 * that publishes no indexes is ONEX_E_NEGOTIATION_TIMEOUT; without (a responder checking an
 * initiator, which may be a plain CLI), its offer stands as declared.
 */
export async function checkPeerOffer(nc: NatsConnection, offer: ProtocolOffer, options: { timeoutMs: number; required: boolean; signer?: PublicKey }): Promise<CheckedOffer> {
  let document: unknown;
  const nonce = randomBytes(16).toString("base64url");
  const signer = options.signer;
  // The offer's signer must have signed the schemas for this probe: anyone on the server can answer
  // it, so an answer it did not sign is passed over, and the probe waits on for the peer's own
  // (an unsigned offer's probe reads the first answer, which anyone could have forged).
  const signedBy = (key: PublicKey) => (answer: unknown) => {
    if (!signedFor(answer, key, nonce)) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `the schemas "${offer.deployment}" answered were not signed by its key ${key.keyId} for this probe (another client answered, and the peer did not)`, { peer: offer.deployment, signer: key.keyId });
    }
    return answer;
  };
  try {
    const subject = schemasSubject(offer.deployment);
    document = signer === undefined ? await requestJson(nc, subject, { nonce }, options.timeoutMs, offer.deployment) : await requestJson(nc, subject, { nonce }, options.timeoutMs, offer.deployment, signedBy(signer));
  } catch (error) {
    if (!options.required && isOnexError(error) && (error.code === ErrorCode.NegotiationTimeout || error.code === ErrorCode.NegotiationInvalid)) return { offer, unverified: [] };
    throw error;
  }
  const indexes = (document as { kind?: unknown; indexes?: unknown } | null)?.kind === "onex.schemas/1" ? (document as { indexes: unknown }).indexes : undefined;
  const published = new Map<string, string>();
  const unverified = new Map<string, NegotiationFlag>();
  for (const [n, raw] of (Array.isArray(indexes) ? indexes : []).entries()) {
    try {
      const index = parseSchemaIndex(raw, `"${offer.deployment}" index ${n}`);
      published.set(index.version, index.content_hash);
    } catch (error) {
      const named = (raw as { version?: unknown } | null)?.version;
      const version = typeof named === "string" ? named.slice(0, OFFER_LIMITS.textChars) : `#${n}`;
      unverified.set(version, { code: ErrorCode.SchemaHashMismatch, version, message: `"${offer.deployment}" publishes a v${version} index that does not verify: ${(error as Error).message}` });
    }
  }
  const backed = (v: VersionHash) => {
    if (published.get(v.version) === v.content_hash) return true;
    if (!unverified.has(v.version)) {
      const why = published.has(v.version) ? `publishes it as ${published.get(v.version)}` : "publishes no index of it";
      unverified.set(v.version, { code: ErrorCode.SchemaHashMismatch, version: v.version, message: `"${offer.deployment}" offers v${v.version} as ${v.content_hash} but ${why}` });
    }
    return false;
  };
  const offered = new Set([...offer.speaks, ...offer.converts].map((v) => v.version));
  return {
    offer: { ...offer, speaks: offer.speaks.filter(backed), converts: offer.converts.filter(backed) },
    unverified: [...unverified.values()].filter((f) => offered.has(f.version)),
  };
}

function signedFor(document: unknown, key: PublicKey, nonce: string): boolean {
  const signed = document as { signer?: unknown; in_reply_to?: unknown } | null;
  if (signed === null || typeof signed !== "object" || signed.signer !== key.keyId || signed.in_reply_to !== nonce) return false;
  try {
    verifyRecordSignature(signed as { signature?: unknown }, key, "schemas document");
    return true;
  } catch {
    return false;
  }
}

/** The agreement with the unbacked versions flagged and unused, and the peer's verified signer. */
export function withChecks(agreement: Agreement, unverified: readonly NegotiationFlag[], signer: string | undefined): Agreement {
  const unused = [...new Set([...agreement.unused, ...unverified.map((f) => f.version)])].sort();
  return { ...agreement, peer: { ...agreement.peer, ...(signer ? { signer } : {}) }, flags: [...agreement.flags, ...unverified], unused };
}

/** When versions the peer's indexes do not back made the difference, the failure is theirs: a schema hash mismatch naming them. */
export function unbacked(error: unknown, unverified: readonly NegotiationFlag[]): OnexError | undefined {
  if (unverified.length === 0 || !isOnexError(error)) return undefined;
  return new OnexError(ErrorCode.SchemaHashMismatch, `${unverified.map((f) => f.message).join("; ")}; without ${unverified.map((f) => `v${f.version}`).join(", ")}: ${error.message}`, {
    ...error.details,
    versions: unverified.map((f) => f.version),
  }, { cause: error });
}
