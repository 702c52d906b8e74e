/**
 * The NATS service endpoint a deployment answers negotiation on: `onex.schemas.<deployment>`
 * returns its schema indexes (probing), `onex.negotiate.<deployment>` takes a peer's offer
 * and returns this side's offer with the agreement, or the rejection. Plain request/reply,
 * so any NATS client (and `nats req`) can probe a deployment.
 */
import type { NatsConnection, Subscription as NatsSubscription } from "@nats-io/transport-node";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { encodeSubjectToken } from "../subject-token.js";
import type { KeyResolver } from "../trust/keys.js";
import { OFFER_LIMITS, agreeOnVersion, buildOffer, freshOffer, offerSigner, parseOffer, type Agreement, type OfferInput, type ProtocolBlock, type ProtocolOffer } from "./agreement.js";
import { PeerBook } from "./peer-book.js";
import { signRecord } from "../trust/record-signature.js";
import { checkPeerOffer, unbacked, withChecks, type CheckedOffer } from "./offer-check.js";
import type { SchemaIndex } from "./schema-index.js";
import { MAX_TIMER_MS } from "../timer.js";
import { ReplyInbox } from "../jetstream/reply-inbox.js";
import { checkFunction, checkObject, checkPositive } from "../option-check.js";
import { MAX_QUEUED_REQUESTS, RequestQueue } from "./request-queue.js";

/** The probe subject of a deployment. */
export function schemasSubject(deployment: string): string {
  return `onex.schemas.${encodeSubjectToken(deployment, "deployment")}`;
}

/** The handshake subject of a deployment. */
export function negotiateSubject(deployment: string): string {
  return `onex.negotiate.${encodeSubjectToken(deployment, "deployment")}`;
}

/** What `onex.schemas.<deployment>` answers (also a file format `probe` reads). */
export interface SchemasDocument {
  kind: "onex.schemas/1";
  deployment: string;
  protocol: ProtocolBlock;
  indexes: SchemaIndex[];
  /** A probe that sends a nonce (`{ "nonce": ... }`) gets the document signed by the deployment's key for it (`signRecord`). */
  signer?: string;
  in_reply_to?: string;
  signature?: string;
}

/** What `onex.negotiate.<deployment>` answers. */
export interface HandshakeAnswer {
  kind: "onex.answer/1";
  offer: ProtocolOffer;
  agreement?: Agreement;
  rejection?: { code: string; message: string; details: Record<string, unknown> };
}

/** A running negotiation endpoint. */
export interface NegotiationService {
  readonly offer: ProtocolOffer;
  /** Agreements reached with peers that opened a handshake with a fresh offer signed by a key in `keys`, by peer deployment. */
  readonly agreements: ReadonlyMap<string, Agreement>;
  /** Rejections of such peers, by peer deployment. */
  readonly rejections: ReadonlyMap<string, OnexError>;
  stop(): Promise<void>;
}

/** Options of `serveNegotiation`. */
export interface ServeNegotiationOptions extends OfferInput {
  /** Verifies the signer of a signed offer (`Agreement.peer.signer`); without it, no handshake is recorded. */
  keys?: KeyResolver;
  /** How long to wait for an initiator's schema indexes (default 1 s, more than 0); an initiator publishing none (the CLI) is taken at its word. */
  probeTimeoutMs?: number;
  /** Where handshakes are recorded (a FederationNode shares its own); default a book of this service's. */
  book?: PeerBook;
  /** Called after each handshake recorded in the book (see `PeerBook`), with the agreement or the rejection and the offer's verified signer. */
  onHandshake?: (peer: string, outcome: Agreement | OnexError, signer: string) => void;
}

const json = new TextEncoder();
const text = new TextDecoder();

/** Answers probes and handshakes for `options.deployment` on `nc` until stopped. */
export function serveNegotiation(nc: NatsConnection, options: ServeNegotiationOptions): NegotiationService {
  checkConnection("serveNegotiation", "nc", nc);
  checkObject("serveNegotiation", "options", options, { required: true });
  // Before anything is served: nats.js waits its default second for 0 or NaN.
  checkPositive("serveNegotiation", "probeTimeoutMs", options.probeTimeoutMs);
  const offer = buildOffer(options);
  const book = options.book ?? new PeerBook();
  const document: SchemasDocument = { kind: "onex.schemas/1", deployment: options.deployment, protocol: offer.protocol, indexes: [...options.indexes] };
  const documentBytes = json.encode(JSON.stringify(document));

  let inFlight = 0;
  const queue = new RequestQueue();
  // Unsigned (a signature would cost what shedding saves): an initiator reads it only when no signed answer came, as a reason to try again.
  const { signature: _signature, signer: _signer, ...unsignedOffer } = offer;
  const busyBytes = json.encode(JSON.stringify(shortRejection(unsignedOffer, ErrorCode.NegotiationTimeout, `${MAX_QUEUED_REQUESTS} requests are waiting here: try again`)));
  const subs: NatsSubscription[] = [
    nc.subscribe(schemasSubject(options.deployment), {
      callback: (error, msg) => {
        // A probe over the limit is not answered: the prober times out, and nothing is sent to a reply subject it chose.
        if (!error && isInboxSubject(msg.reply)) queue.add(() => respond(msg, schemasAnswer(msg.data)));
      },
    }),
    nc.subscribe(negotiateSubject(options.deployment), {
      callback: (error, msg) => {
        if (error || !isInboxSubject(msg.reply)) return;
        const answered = queue.add(() =>
          // answerHandshake catches what it can; this is for what it cannot.
          answerHandshake(msg.data).then(
            (answer) => respond(msg, answer),
            () => respond(msg, json.encode(JSON.stringify(shortRejection(offer, ErrorCode.NegotiationInvalid, "the handshake failed on this side")))),
          ),
        );
        // Unsigned and prebuilt: turning an offer away costs next to nothing, and tells the initiator to try again.
        if (!answered) respond(msg, busyBytes);
      },
    }),
  ];

  /** The schemas document; signed by this deployment's key for the probe's nonce when the probe sends one, so an initiator can tell it from a third party's answer. */
  function schemasAnswer(data: Uint8Array): Uint8Array {
    const nonce = probeNonce(data);
    if (options.identity === undefined || nonce === undefined) return documentBytes;
    return json.encode(JSON.stringify(signRecord<SchemasDocument>({ ...document, signer: options.identity.keyId, in_reply_to: nonce }, options.identity)));
  }

  /**
   * Answers one handshake. What needs no waiting comes first: the bounds, the offer's shape, its
   * signature, freshness and binding. An unsigned offer (the CLI's) records nothing, so it is
   * answered at once, as declared, without probing; a signed one has its schemas probed (up to
   * probeTimeoutMs), at most MAX_HANDSHAKES_IN_FLIGHT at a time, and its outcome recorded. So
   * whoever has no key cannot hold the slots trusted peers need.
   */
  async function answerHandshake(data: Uint8Array): Promise<Uint8Array> {
    const answer: HandshakeAnswer = { kind: "onex.answer/1", offer };
    // Set once the offer is known to be its signer's own, fresh and admitted: only then is the outcome recorded.
    let recordAs: { peer: string; signer: string; issuedAt: number; nonce: string | undefined } | undefined;
    let outcome: Agreement | OnexError;
    try {
      if (data.length > OFFER_LIMITS.bytes) throw new OnexError(ErrorCode.NegotiationInvalid, `the peer sent an offer of ${data.length} bytes, more than ${OFFER_LIMITS.bytes}`);
      const peer = parseOffer(JSON.parse(text.decode(data)), "the peer");
      // The answer echoes the initiator's nonce, signed: it answers this handshake and no other (a rejection too).
      if (options.identity !== undefined && peer.nonce !== undefined) answer.offer = freshOffer(offer, options.identity, { in_reply_to: peer.nonce });
      const signer = offerSigner(peer, options.keys);
      let checked: CheckedOffer = { offer: peer, unverified: [] };
      if (signer !== undefined) {
        const issuedAt = book.takeFresh(peer, signer, options.deployment);
        book.admit(peer.deployment, signer);
        if (inFlight >= MAX_HANDSHAKES_IN_FLIGHT) {
          throw new OnexError(ErrorCode.NegotiationTimeout, `${MAX_HANDSHAKES_IN_FLIGHT} handshakes are in progress here: try again`, { peer: peer.deployment });
        }
        recordAs = { peer: peer.deployment, signer, issuedAt, nonce: peer.nonce };
        inFlight++;
        try {
          checked = await checkPeerOffer(nc, peer, { timeoutMs: options.probeTimeoutMs ?? 1_000, required: false, signer: options.keys!(signer)! });
        } finally {
          inFlight--;
        }
      }
      try {
        outcome = answer.agreement = withChecks(agreeOnVersion(offer, checked.offer), checked.unverified, signer);
      } catch (error) {
        throw unbacked(error, checked.unverified) ?? error;
      }
    } catch (cause) {
      outcome = isOnexError(cause) ? cause : new OnexError(ErrorCode.NegotiationInvalid, `the peer sent an unreadable offer: ${(cause as Error).message}`, {}, { cause });
      answer.rejection = { code: outcome.code, message: outcome.message, details: outcome.details };
    }
    // Refused before it was admitted (stale, another's name, a bad signature, no slot): nothing is recorded;
    // nor is the outcome of an offer its signer has since sent a newer one of (PeerBook.record).
    if (recordAs !== undefined && book.record(recordAs.peer, outcome, recordAs.signer, recordAs.issuedAt, recordAs.nonce)) {
      try {
        options.onHandshake?.(recordAs.peer, outcome, recordAs.signer);
      } catch {
        // The caller's callback failing changes nothing of the answer.
      }
    }
    return json.encode(JSON.stringify(answer));
  }

  /** Answers `msg`; an answer larger than the connection's max_payload (a rejection repeating a large offer) goes as a short rejection. */
  function respond(msg: { respond(data: Uint8Array): boolean }, bytes: Uint8Array): void {
    try {
      msg.respond(bytes.length <= nc.info!.max_payload ? bytes : json.encode(JSON.stringify(shortRejection(offer, ErrorCode.NegotiationInvalid, `the answer (${bytes.length} bytes) is over this server's max_payload`))));
    } catch {
      // The connection is closing or closed: the requester times out, as with any lost answer.
    }
  }

  return {
    offer,
    agreements: book.agreements,
    rejections: book.rejections,
    async stop() {
      for (const sub of subs) sub.unsubscribe();
      queue.clear();
    },
  };
}

/**
 * Whether `reply` is a reply inbox: `_INBOX.…` (nats.js's default) or `_INBOX_<user>.…` (what
 * `onex nats-auth` gives each identity). The requester picks the reply subject, and the answer
 * goes out with this service's permissions: a probe replying to `$JS.API.STREAM.PURGE.<stream>`
 * had a responder purge that stream, and one replying to a stream's subject had the answer
 * stored there. A request with another reply subject (or none) is not answered.
 */
function isInboxSubject(reply: string | undefined): boolean {
  return reply !== undefined && /^_INBOX(?:_[^.\s*>]+)?\.[^\s*>]+$/.test(reply);
}

/** Handshakes one service answers at once; more are turned away at once. */
const MAX_HANDSHAKES_IN_FLIGHT = 64;

/** The nonce a schemas probe sends (`{ "nonce": "..." }`), if any. */
function probeNonce(data: Uint8Array): string | undefined {
  if (data.length === 0 || data.length > 1_024) return undefined;
  try {
    const nonce = (JSON.parse(text.decode(data)) as { nonce?: unknown } | null)?.nonce;
    return typeof nonce === "string" && nonce.length > 0 && nonce.length <= OFFER_LIMITS.textChars ? nonce : undefined;
  } catch {
    return undefined;
  }
}

/** A rejection that repeats nothing of the peer's. */
function shortRejection(offer: ProtocolOffer, code: ErrorCode, why: string): HandshakeAnswer {
  return { kind: "onex.answer/1", offer, rejection: { code, message: why, details: {} } };
}

/**
 * ONEX_E_USAGE unless `nc` has the methods of a NATS connection negotiation uses (a reply inbox's,
 * and a responder's `subscribe`): from plain JavaScript, a connection that was none (null, `{}`)
 * failed inside the request, which read as a peer that did not answer.
 */
export function checkConnection(owner: string, name: string, nc: unknown): void {
  checkObject(owner, name, nc, { required: true });
  for (const method of ["publish", "subscribe", "isClosed", "closed", "status"]) checkFunction(owner, `${name}.${method}`, (nc as Record<string, unknown>)[method]);
}

/**
 * The reply inbox of `nc` for negotiation requests. Not nats.js's `request()`: it reads a
 * reply's headers in the connection's own read loop, and a peer answering with an empty body
 * and a header nats.js cannot read stopped the whole connection reading (ReplyInbox reads them
 * through readableHeaders).
 */
const inboxes = new WeakMap<NatsConnection, ReplyInbox>();
function inboxOf(nc: NatsConnection): ReplyInbox {
  let inbox = inboxes.get(nc);
  if (inbox === undefined) inboxes.set(nc, (inbox = new ReplyInbox(nc, (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix)));
  return inbox;
}

/**
 * Sends `payload` to `subject` and returns the decoded JSON answer. Throws
 * ONEX_E_NEGOTIATION_TIMEOUT when nobody serves the subject or the answer is late, and
 * whatever else failed as it is (it is no wait for the peer: a timeout said so at once). With
 * `check`, returns what it returns for the first answer it does not throw for: anyone who may
 * subscribe to the subject can answer, and an answer that is not the peer's (a forgery, or the
 * peer's answer to another request) is passed over, not taken for the peer's. When no answer
 * passes by the timeout, the last refusal is thrown (it says why the answers there were are
 * not the peer's), else the timeout.
 */
export async function requestJson(nc: NatsConnection, subject: string, payload: unknown, timeoutMs: number, peer: string): Promise<unknown>;
export async function requestJson<T>(nc: NatsConnection, subject: string, payload: unknown, timeoutMs: number, peer: string, check: (answer: unknown) => T): Promise<T>;
export async function requestJson<T>(nc: NatsConnection, subject: string, payload: unknown, timeoutMs: number, peer: string, check?: (answer: unknown) => T): Promise<T | unknown> {
  // nats.js arms one Node timer, which fires a longer wait at once: a longer one (Infinity) waits the longest one can.
  const waitedMs = Math.min(timeoutMs, MAX_TIMER_MS);
  const decode = (data: Uint8Array): unknown => {
    try {
      return JSON.parse(text.decode(data)) as unknown;
    } catch (cause) {
      throw new OnexError(ErrorCode.NegotiationInvalid, `"${peer}" answered on ${subject} with invalid JSON`, { peer, subject }, { cause });
    }
  };
  let checked: { value: T } | undefined;
  let refusal: unknown;
  const accept =
    check === undefined
      ? undefined
      : (reply: { data: Uint8Array }) => {
          try {
            checked = { value: check(decode(reply.data)) };
            return true;
          } catch (error) {
            refusal = error;
            return false;
          }
        };
  let reply;
  try {
    reply = await inboxOf(nc).request(subject, json.encode(JSON.stringify(payload)), undefined, waitedMs, accept);
  } catch (cause) {
    // By the error's kind, not its words: a timeout's message names the subject, and a deployment named dc-503 read as "nothing serves".
    const name = (cause as Error | undefined)?.name;
    const noResponders = name === "NoResponders" || (cause as { isNoResponders?: () => boolean } | undefined)?.isNoResponders?.() === true;
    // An answer came and was refused: that says more than the timeout (or a forged "no responders").
    if (refusal !== undefined && (name === "TimeoutError" || name === "NoResponders")) throw refusal;
    // A server that refuses this connection the subject answers at once; a timeout would send the user looking for a peer.
    if (name === "PermissionViolationError") {
      throw new OnexError(ErrorCode.PermissionDenied, `cannot negotiate with "${peer}": this connection may not use ${subject} (${(cause as Error).message})`, { peer, subject }, { cause });
    }
    if (name === "ClosedConnectionError" || name === "DrainingConnectionError") {
      throw new OnexError(ErrorCode.ConnectionFailed, `cannot negotiate with "${peer}": the NATS connection is closed; connect again`, { peer, subject }, { cause });
    }
    // Anything else failed here, at once (a payload over max_payload, a connection that breaks its
    // contract): as a timeout it said "no answer within 30000 ms" after a millisecond.
    if (name !== "TimeoutError" && !noResponders) {
      if (isOnexError(cause)) throw cause;
      throw new OnexError(ErrorCode.ConnectionFailed, `cannot negotiate with "${peer}": the request on ${subject} failed: ${(cause as Error | undefined)?.message ?? String(cause)}`, { peer, subject }, { cause });
    }
    const why = noResponders ? `nothing serves ${subject}` : `no answer on ${subject} within ${waitedMs} ms`;
    throw new OnexError(ErrorCode.NegotiationTimeout, `cannot negotiate with "${peer}": ${why}`, { peer, subject, timeoutMs: waitedMs, noResponders }, { cause });
  }
  return checked !== undefined ? checked.value : decode(reply.data);
}
