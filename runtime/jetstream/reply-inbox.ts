/**
 * Request and reply on one wildcard inbox per connection, for the hot paths (typed publish, the
 * registry's NATS KV reads and writes): what nats.js's `request()` does, without the Error it
 * builds for every request that succeeds. nats.js
 * settles a request from its reply and then cancels it, and the cancel constructs
 * `RequestError("cancelled")` whether or not anything can still see it; capturing that Error's
 * stack is about 10 µs of the ~25 µs of client CPU a pipelined JetStream publish costs here.
 *
 * Failures read as nats.js's do, so `publishError` types them the same way: a timeout says
 * "timeout", a subject nothing listens on "no responders" (the server's 503 status), a subject
 * the identity may not publish on the server's "Permissions Violation" (matched to the oldest
 * request on that subject, as nats.js matches it), and a closed connection "connection closed";
 * each is an error of nats.js's class for it (TimeoutError, NoRespondersError, PermissionViolationError,
 * ClosedConnectionError), which is what publishError reads.
 */
import { randomFillSync } from "node:crypto";
import { ClosedConnectionError, createInbox, NoRespondersError, TimeoutError, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { after, type Timer } from "../timer.js";
import { readableHeaders } from "./headers.js";

interface Pending {
  subject: string;
  resolve(reply: Msg): void;
  reject(error: Error): void;
  timer: Timer;
  /** Whether a reply settles the request; undefined: the first one does. */
  accept: ((reply: Msg) => boolean) | undefined;
  /** With `accept`: a "no responders" status came, which anyone may forge, so it is said only at the timeout. */
  noResponders: boolean;
}

/** The part of a nats.js permission error this needs (`PermissionViolationError`). */
interface PermissionViolation extends Error {
  operation?: string;
  subject?: string;
}

export class ReplyInbox {
  readonly #nc: NatsConnection;
  readonly #inboxPrefix: string | undefined;
  /** `<inbox>.`, to which each request's token is appended; undefined until the first request subscribes. */
  #replyPrefix: string | undefined;
  #subscription: Subscription | undefined;
  readonly #pending = new Map<string, Pending>();
  /** Told once no request waits (see `idle`). */
  #onIdle: (() => void)[] = [];

  constructor(nc: NatsConnection, inboxPrefix?: string) {
    this.#nc = nc;
    this.#inboxPrefix = inboxPrefix;
    void nc.closed().then(() => this.#rejectAll(closedError()));
    void this.#watchPermissionErrors();
  }

  /**
   * Publishes `data` on `subject` with a reply subject of this inbox; resolves with the reply, or
   * rejects as described above. With `accept`, a reply it turns down is dropped and the request
   * waits on for another until its timeout: on a subject anyone may answer (negotiation), the
   * first answer need not be the one asked for. A "no responders" status is then no answer
   * either (anyone who may reply can send one): it is the request's failure only if nothing
   * was accepted by the timeout.
   */
  request(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, timeoutMs: number, accept?: (reply: Msg) => boolean): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      if (this.#nc.isClosed()) {
        reject(closedError());
        return;
      }
      const replyPrefix = this.#subscribe();
      const token = randomToken();
      const pending: Pending = { subject, resolve, reject, timer: undefined as unknown as Timer, accept, noResponders: false };
      pending.timer = after(timeoutMs, () => {
        this.#pending.delete(token);
        this.#tellIdle();
        reject(pending.noResponders ? withMessage(new NoRespondersError(subject), `no responders on ${subject}`) : withMessage(new TimeoutError(), `timeout: no reply on ${subject} within ${timeoutMs} ms`));
      });
      this.#pending.set(token, pending);
      try {
        this.#nc.publish(subject, data, { reply: replyPrefix + token, ...(headers !== undefined ? { headers } : {}) });
      } catch (error) {
        // Draining or closed: nothing was sent.
        this.#settle(token)?.reject(error as Error);
      }
    });
  }

  /** The reply prefix, subscribing on first use (and again after the server refused the subscription). */
  #subscribe(): string {
    if (this.#replyPrefix !== undefined && this.#subscription !== undefined && !this.#subscription.isClosed()) return this.#replyPrefix;
    const inbox = createInbox(this.#inboxPrefix);
    this.#replyPrefix = `${inbox}.`;
    // One connection sends in order, so the server has this subscription before the first request it carries.
    this.#subscription = this.#nc.subscribe(`${inbox}.*`, { callback: (error, reply) => (error === null ? this.#onReply(reply) : undefined) });
    return this.#replyPrefix;
  }

  #onReply(reply: Msg): void {
    const prefix = this.#replyPrefix;
    // What the server answers (an acknowledgement, a direct get, a status) asks for no reply; a
    // message that does was sent here by someone else (a consumer a member pointed at a reply
    // subject it saw), and waits on nothing.
    if (prefix === undefined || !reply.subject.startsWith(prefix) || reply.reply) return;
    const token = reply.subject.slice(prefix.length);
    // Headers nats.js cannot read (readableHeaders) are no status: thrown here, in a subscription's callback, they would stop the connection reading.
    const noResponders = reply.data.length === 0 && readableHeaders(() => reply.headers)?.code === 503;
    const waiting = this.#pending.get(token);
    if (waiting?.accept !== undefined && (noResponders || !waiting.accept(reply))) {
      waiting.noResponders ||= noResponders;
      return;
    }
    const pending = this.#settle(token);
    if (pending === undefined) return;
    if (noResponders) pending.reject(withMessage(new NoRespondersError(pending.subject), `no responders on ${pending.subject}`));
    else pending.resolve(reply);
  }

  #settle(token: string): Pending | undefined {
    const pending = this.#pending.get(token);
    if (pending === undefined) return undefined;
    this.#pending.delete(token);
    pending.timer.cancel();
    this.#tellIdle();
    return pending;
  }

  /**
   * Resolves once no request waits for its reply (at once when none does); each ends by its
   * reply, its timeout or the connection's close. A client closing waits for this before it
   * drains: the drain unsubscribes this inbox first, and a reply coming after that (a stream's
   * acknowledgement is sent once its replicas hold the message) was dropped, failing a publish
   * whose message was stored.
   */
  idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onIdle.push(resolve));
  }

  #tellIdle(): void {
    if (this.#pending.size > 0 || this.#onIdle.length === 0) return;
    const waiting = this.#onIdle;
    this.#onIdle = [];
    for (const resolve of waiting) resolve();
  }

  async #watchPermissionErrors(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type !== "error") continue;
      const error = status.error as PermissionViolation;
      if (error.name !== "PermissionViolationError") continue;
      if (error.operation === "subscription" && this.#replyPrefix !== undefined && error.subject === `${this.#replyPrefix}*`) {
        // No reply can arrive: fail what waits, and subscribe again on the next request.
        this.#subscription = undefined;
        this.#rejectAll(error);
      } else if (error.operation === "publish") {
        for (const [token, pending] of this.#pending) {
          if (pending.subject !== error.subject) continue;
          this.#settle(token)?.reject(error);
          break;
        }
      }
    }
  }

  #rejectAll(error: Error): void {
    for (const token of [...this.#pending.keys()]) this.#settle(token)?.reject(error);
  }
}

function closedError(): Error {
  return withMessage(new ClosedConnectionError(), "connection closed");
}

/** One of nats.js's errors, saying what this inbox has always said. */
function withMessage<E extends Error>(error: E, message: string): E {
  error.message = message;
  return error;
}

// A request's token is 96 random bits, not a counter: a reply subject travels with the message, so a
// zone member subscribed to the subject sees the inbox, and with counted tokens could name the next
// request's reply subject as its own message's and have the server's acknowledgement of its message
// settle that request. Drawn from a pool, a token costs a fraction of a microsecond.
const TOKEN_BYTES = 12;
const tokenPool = Buffer.alloc(TOKEN_BYTES * 256);
let tokenAt = tokenPool.length;

function randomToken(): string {
  if (tokenAt === tokenPool.length) {
    randomFillSync(tokenPool);
    tokenAt = 0;
  }
  const token = tokenPool.toString("base64url", tokenAt, tokenAt + TOKEN_BYTES);
  tokenAt += TOKEN_BYTES;
  return token;
}
