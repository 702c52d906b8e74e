/**
 * The onex control-plane client on NATS JetStream: typed, validated, signed publishing and
 * verified, policy-judged subscriptions. Connect once per process and share the client.
 */
import { connect as natsConnect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { addressSecrets, withoutSecrets } from "../address-secrets.js";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { assertZoneId } from "../zone-id.js";
import { checkObject, checkPositive, checkWhole, describeValue } from "../option-check.js";
import { OnexMessage, assertValidJson, type MessageClass } from "../message.js";
import { toMillis } from "../trust/envelope.js";
import { assertUsablePublicKey, keyIdOf, keyRing, publicKeyTextOf, type KeyPair, type KeyResolver, type PublicKey } from "../trust/keys.js";
import { DEFAULT_TRUST_POLICY, trustPolicy, type JudgeContext, type TrustPolicy } from "../trust/policy.js";
import { signMessage, verifyMessageSignature } from "../trust/sign-message.js";
import type { EnvelopeInput } from "../trust/envelope.js";
import { parseJson } from "../json-text.js";
import { assertValid } from "../validation.js";
import { OnexHeader } from "./headers.js";
import type { ProtocolSdk, PublishableMessage, TransportMessageClass } from "../protocol-sdk.js";
import { isRetryable, publishError } from "./publish-errors.js";
import { jetStreamAbsent, noJetStream } from "./jetstream-absent.js";
import { ReplyInbox } from "./reply-inbox.js";
import { serverCredentials } from "./server-credentials.js";
import { checkTlsFiles, type TlsFiles } from "../tls-files.js";
import { publishToStream } from "./stream-publish.js";
import { publishInWindow } from "./publish-many.js";
import { SILENT_SERVER_MS, settledWithin } from "./silent-server.js";
import type { ControlPlane, MessageOf, PublishOptions, PublishReceipt, SubscribeOptions, Subscription, VersionedReceiver, VersionedSubscribeOptions, VersionedSubscription } from "../control-plane.js";
import { typedPipeline, versionedPipeline, type ReceivePipeline, type TrustSettings } from "../receive/pipeline.js";
import { StoredMessageReplay } from "../receive/stored-message-replay.js";
import { VerifyAhead, defaultVerifyThreads } from "../receive/verify-ahead.js";
import { HandBackLedger, openSubscription } from "./subscription.js";

/** How to connect. */
export interface ConnectOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** The key this client signs with; its key id becomes `trust.signer`. */
  identity: KeyPair;
  /** Keys trusted to sign received messages (`signature` policy). */
  keys: KeyResolver;
  /**
   * Trust policy for received messages (defaults: the specification's). A partial policy is
   * completed with the defaults, as `--policy signature=off` is; an unknown policy or mode is
   * ONEX_E_POLICY_INVALID at connect.
   */
  policy?: TrustPolicy;
  /** The rest of what `judge()` checks against: zone, grants, replay guard, entity keys. */
  trust?: Omit<JudgeContext, "keys">;
  /** NATS user and password, or token, when the server requires them; or written in the address (`nats://user:pass@host:4222`, server-credentials.ts). */
  user?: string;
  pass?: string;
  token?: string;
  /** PEM files for TLS: the CA of the server's certificate, and a client certificate and key for a server that verifies clients (tls-files.ts). */
  tls?: TlsFiles;
  /** Client name shown by the server. */
  name?: string;
  /** Prefix of this client's reply subjects; `onex nats-auth` gives each identity its own (`_INBOX_<user>`). */
  inboxPrefix?: string;
  /**
   * Threads that verify received signatures ahead of the pipeline (receive/verify-ahead.ts),
   * started with the first subscription: one per core but one by default, so none on one
   * core; 0 verifies on the main thread only. Verdicts and refusals are the same either way.
   */
  verifyThreads?: number;
}

/** More verification threads than any machine onex runs on has cores (0 is allowed too: none). */
const MAX_VERIFY_THREADS = 256;

/**
 * ONEX_E_USAGE for no server at all: nats.js takes "" or [] as its default, 127.0.0.1:4222, and
 * a caller whose address came out empty would talk to whatever listens there.
 */
export function checkServers(servers: string | readonly string[]): void {
  const list: readonly unknown[] = typeof servers === "string" ? [servers] : Array.isArray(servers) ? servers : [];
  if (list.length === 0 || list.some((s) => typeof s !== "string" || s.trim() === "")) {
    throw withoutSecrets(new OnexError(ErrorCode.Usage, `no NATS server given (${JSON.stringify(servers)}); name one, like nats://127.0.0.1:4222`, { servers }), addressSecrets(servers));
  }
}

/**
 * Why connecting to `servers` failed: ONEX_E_USAGE for an address that is no URL (nats.js's
 * "Invalid URL": a port past 65535, no host), which no retry mends; else ONEX_E_CONNECTION.
 * A password or token in an address is not said (address-secrets.ts). A timeout says what else
 * ends a connection that way: a TLS server refusing the client's certificate (or its lack of
 * one) closes the handshake, and nats.js tries again until its timeout.
 */
export function connectFailure(error: unknown, servers: string | readonly string[]): OnexError {
  const timedOut = (error as Error)?.name === "TimeoutError";
  const text = `${(error as Error)?.message ?? String(error)}${timedOut ? " (no answer in time; a server that verifies TLS clients ends the connection this way too when the client's certificate is missing or not one it trusts)" : ""}`;
  const failure =
    (error as { code?: unknown })?.code === "ERR_INVALID_URL"
      ? new OnexError(ErrorCode.Usage, `${String(servers)} is no NATS server address (like nats://host:4222 or host:4222): ${text}`, { servers }, { cause: error })
      : new OnexError(ErrorCode.ConnectionFailed, `cannot connect to ${String(servers)}: ${text}`, { servers }, { cause: error });
  return withoutSecrets(failure, addressSecrets(servers));
}

/**
 * The string options nats.js passes on unchecked. A `name` of 5 or a `token` of {} went into the
 * CONNECT line, which the server refuses without a word: the connect timed out after 20 s as
 * ONEX_E_CONNECTION. An `inboxPrefix` with a wildcard or a space (or no string) failed at once,
 * but as ONEX_E_CONNECTION too, which reads as a server to retry.
 */
function checkConnectStrings(options: ConnectOptions): void {
  for (const name of ["name", "user", "pass", "token"] as const) {
    const value: unknown = options[name];
    if (value !== undefined && typeof value !== "string") throw new OnexError(ErrorCode.Usage, `connect: ${name} must be a string, not ${describeValue(value)}`);
  }
  const prefix: unknown = options.inboxPrefix;
  // A subject without wildcards: dot-separated tokens, none empty, none holding '*', '>' or white space.
  if (prefix !== undefined && (typeof prefix !== "string" || !prefix.split(".").every((token) => token !== "" && !/[*>\s]/.test(token)))) {
    throw new OnexError(ErrorCode.Usage, `connect: inboxPrefix must be a subject without wildcards, like _INBOX_alice, not ${describeValue(prefix)}`);
  }
}

/**
 * The policy a client judges with. Checked here: a misspelt mode ("STRICT") or a policy missing
 * some (`{ signature: "off" }` alone) was accepted, and the first delivery then ended the
 * subscription's iteration with ONEX_E_POLICY_INVALID. A partial policy is completed with the
 * specification's defaults (what `trustPolicy` and the CLI's `--policy` do), never with "off".
 */
function connectPolicy(policy: TrustPolicy | undefined): TrustPolicy {
  if (policy === undefined) return DEFAULT_TRUST_POLICY;
  checkObject("connect", "policy", policy);
  return trustPolicy(policy as unknown as Record<string, string>);
}

/**
 * The rest of the judge context, checked here as the policy is: plain JavaScript's `zone: 5` (or
 * a zone no message can name) was taken, and every message then failed zone_match (dead-lettered as ONEX_E_ZONE_MISMATCH); a
 * `keyOfEntity`, `grants`, `replay` or `logger` of the wrong kind failed each message with a
 * TypeError (ONEX_E_INTERNAL), and a `now` that is no time ended the subscription at its first.
 */
function checkTrust(trust: ConnectOptions["trust"]): void {
  checkObject("connect", "trust", trust);
  if (trust === undefined) return;
  const { zone, now, keyOfEntity, grants, replay, logger } = trust as Record<string, unknown>;
  const wrong = (name: string, what: string, value: unknown) => new OnexError(ErrorCode.Usage, `connect: trust.${name} must be ${what}, not ${describeValue(value)}`);
  // A zone no message can name (`Zone.A`) failed every message's zone_match, as a number did.
  if (zone !== undefined) assertZoneId(zone, "connect: trust.zone");
  if (now !== undefined) toMillis(now as Date | number, "connect: trust.now");
  if (keyOfEntity !== undefined && typeof keyOfEntity !== "function") throw wrong("keyOfEntity", "a function from an entity id to its key id", keyOfEntity);
  const hasMethod = (value: unknown, method: string) => value !== null && typeof value === "object" && typeof (value as Record<string, unknown>)[method] === "function";
  if (grants !== undefined && !hasMethod(grants, "authorize")) throw wrong("grants", "a GrantBook (new GrantBook(...))", grants);
  if (replay !== undefined && !hasMethod(replay, "accept")) throw wrong("replay", "a replay guard (new ReplayGuard())", replay);
  if (logger !== undefined && !hasMethod(logger, "warn")) throw wrong("logger", "an object with a warn(message, details) method, like console", logger);
}

/**
 * An identity's public key must be its private key's, as its key id must: a pair put together
 * from two keys (`{ ...mine, publicKey: other.publicKey }`) was taken, and the client tells the
 * messages it signed itself by that key (a duplicate receipt's stored message, #signedHere), so
 * it would take its own for another's. Something that is no public key there is
 * ONEX_E_KEY_INVALID (or ONEX_E_KEY_WEAK), as in a key ring.
 */
function checkIdentityPublicKey(identity: KeyPair, signingKeyId: string): void {
  const publicKey: unknown = identity.publicKey;
  try {
    assertUsablePublicKey(publicKey as PublicKey);
  } catch (error) {
    if (!isOnexError(error)) throw error;
    throw new OnexError(error.code, `connect: identity.publicKey: ${error.message}`, { ...error.details, privateKeyId: signingKeyId }, { cause: error });
  }
  const { keyId } = publicKey as PublicKey;
  if (keyId !== signingKeyId) {
    throw new OnexError(
      ErrorCode.Usage,
      `connect: identity.publicKey ${keyId} is not the public key of its private key, ${signingKeyId}: give the key pair as generateKeyPair or importPrivateKey made it`,
      { publicKeyId: keyId, privateKeyId: signingKeyId },
    );
  }
}

/** Connects to NATS and returns the onex client. */
export async function connect(options: ConnectOptions): Promise<OnexClient> {
  if (options === null || typeof options !== "object") throw new OnexError(ErrorCode.Usage, "connect: give the options (servers, identity, keys)");
  checkWhole("connect", "verifyThreads", options.verifyThreads, { min: 0, max: MAX_VERIFY_THREADS });
  checkServers(options.servers);
  // Checked here, not at the first publish or message: a missing identity failed as a connection
  // (its key id names the client), and a null one or a key ring that is no function connected fine.
  if (typeof options.identity?.keyId !== "string" || publicKeyTextOf(options.identity.privateKey) === undefined) {
    throw new OnexError(ErrorCode.Usage, "connect: identity must be the Ed25519 key pair this client signs with (generateKeyPair, importPrivateKey)");
  }
  // An identity whose keyId is another key's signed every message as that key: publish reported
  // success, and every receiver dead-lettered it as ONEX_E_SIGNATURE_INVALID.
  const signingKeyId = keyIdOf(Buffer.from(publicKeyTextOf(options.identity.privateKey)!, "base64url"));
  if (options.identity.keyId !== signingKeyId) {
    throw new OnexError(ErrorCode.Usage, `connect: identity.keyId ${options.identity.keyId} is not the key id of its private key, ${signingKeyId}: every message it signed would fail verification`, { keyId: options.identity.keyId, privateKeyId: signingKeyId });
  }
  checkIdentityPublicKey(options.identity, signingKeyId);
  if (typeof options.keys !== "function") throw new OnexError(ErrorCode.Usage, "connect: keys must be a key resolver (keyRing([...]))");
  checkConnectStrings(options);
  connectPolicy(options.policy);
  checkTrust(options.trust);
  const { servers, user, pass, token } = serverCredentials(options.servers, { user: options.user, pass: options.pass, token: options.token });
  const tls = checkTlsFiles(options.tls);
  let nc: NatsConnection;
  try {
    nc = await natsConnect({
      servers,
      name: options.name ?? `onex:${options.identity.keyId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // No async stack traces: nats.js would build two Error objects per request (every publish
      // acknowledgement) to hold them, a fifth of a typed publish's time; failures reach the caller
      // as OnexErrors naming the subject and message id anyway.
      noAsyncTraces: true,
      ...(user !== undefined ? { user, pass } : {}),
      ...(token !== undefined ? { token } : {}),
      ...(options.inboxPrefix !== undefined ? { inboxPrefix: options.inboxPrefix } : {}),
      ...(tls !== undefined ? { tls } : {}),
    });
  } catch (error) {
    throw connectFailure(error, options.servers);
  }
  return new OnexClient(nc, options);
}

/** A connected onex client. */
export class OnexClient implements ControlPlane {
  readonly js: JetStreamClient;
  readonly #jsm: Promise<JetStreamManager>;
  /** Where publishes' acknowledgements arrive (see ReplyInbox: js.publish costs an Error per message). */
  readonly #replies: ReplyInbox;
  readonly #options: ConnectOptions;
  readonly #trust: TrustSettings;
  readonly #open = new Set<VersionedSubscription<unknown>>();
  /** Shared by this client's subscriptions (see HandBackLedger). */
  readonly handedBack = new HandBackLedger();
  readonly logger: { warn(message: string, details?: Record<string, unknown>): void };
  #verifyAhead: VerifyAhead | undefined;
  /** The one close in progress or done (see close()). */
  #closing: Promise<void> | undefined;

  constructor(
    readonly nc: NatsConnection,
    options: ConnectOptions,
  ) {
    this.#options = options;
    this.js = jetstream(nc);
    this.#replies = new ReplyInbox(nc, options.inboxPrefix);
    // No account-info check: zone members may not read account-wide counters.
    this.#jsm = jetstreamManager(nc, { checkAPI: false });
    this.logger = options.trust?.logger ?? console;
    const replay = options.trust?.replay;
    this.#trust = {
      context: { keys: options.keys, ...options.trust },
      policy: connectPolicy(options.policy),
      // One per client, so the same stored message reaching two of its subscriptions, or coming back after a failed handler, is no replay.
      ...(replay !== undefined ? { replay: new StoredMessageReplay(replay) } : {}),
    };
  }

  /** The JetStream manager (streams, consumers); ONEX_E_USAGE once the client is closed. */
  manager(): Promise<JetStreamManager> {
    try {
      this.#checkOpen("manager");
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#jsm;
  }

  /** The replay protection shared by this client's subscriptions, when `trust.replay` is set. */
  get replay(): StoredMessageReplay | undefined {
    return this.#trust.replay;
  }

  /** The verification threads shared by this client's subscriptions, started on first use; undefined when there are none. */
  get verifyAhead(): VerifyAhead | undefined {
    const threads = this.#options.verifyThreads ?? defaultVerifyThreads();
    if (threads <= 0) return undefined;
    this.#verifyAhead ??= new VerifyAhead(threads);
    return this.#verifyAhead.active ? this.#verifyAhead : undefined;
  }

  /**
   * Validates, signs and publishes one message on its subject, with its id as `Nats-Msg-Id`
   * so a retry never stores it twice; resolves once the stream has acknowledged it.
   */
  async publish(message: PublishableMessage, options: PublishOptions = {}): Promise<PublishReceipt> {
    this.#checkOpen("publish");
    checkPublishOptions("publish", options);
    // null reached message.constructor as a raw TypeError.
    if (message === null || typeof message !== "object") throw new OnexError(ErrorCode.Usage, `publish() takes a generated message instance (create it with <Class>.create or parse), not ${describeValue(message)}`);
    const { subject, bytes, headers, id } = this.#prepare(message);
    const deadline = Date.now() + (options.retryForMs ?? 10_000);
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await publishToStream(this.#replies, subject, bytes, headers, options.timeoutMs ?? 5_000, id);
        if (ack.duplicate) await this.#confirmDuplicate(ack.stream, ack.seq, subject, bytes, id);
        return { stream: ack.stream, sequence: ack.seq, duplicate: ack.duplicate, subject };
      } catch (error) {
        // A connection closed under the publish (close() while it waited) read as a retryable
        // timeout: retried until retryForMs, for ever with Infinity. Nothing reopens it.
        this.#checkOpen("publish", error, { subject, messageId: id });
        const failure = publishError(error, subject, id);
        if (isRetryable(failure) && Date.now() < deadline) {
          await sleep(Math.min(1_000, 50 * 2 ** attempt));
          continue;
        }
        // "No responders" to the last try, from a server without JetStream that reaches none, is
        // no missing stream. Asked only then: a server whose link to JetStream is down a moment (a
        // leaf node's hub restarting) answers so too, and the retries ride that out.
        if (failure.code === ErrorCode.NoStream && (await jetStreamAbsent(this.nc))) {
          throw noJetStream(this.nc, `message ${id} was not published on ${subject}`, { subject, messageId: id }, error);
        }
        throw failure;
      }
    }
  }

  /**
   * A duplicate receipt says the stream holds a message under this id already. A retry of this
   * publish, or this message published before, is that message. Anything else was stored under
   * the id first by someone who predicted it (the id is the stream's de-duplication id, and a
   * zone member may publish under any), and this message was not stored: that is
   * ONEX_E_PUBLISH_FAILED, not a receipt. The stored message is read back and must be these
   * bytes, or this id signed by this client's key. It is read with one request for that
   * sequence (a zone member may: authorization.ts), not through a consumer: a member who first
   * made its zone's last allowed consumers failed every such read, and so passed its message off
   * as this one. A read that fails (a server whose permissions do not allow it) or finds nothing
   * (the message since removed) leaves the receipt as the server gave it.
   */
  async #confirmDuplicate(stream: string, sequence: number, subject: string, bytes: Uint8Array, id: string): Promise<void> {
    let stored: Uint8Array | undefined;
    try {
      stored = (await (await this.#jsm).streams.getMessage(stream, { seq: sequence }))?.data;
    } catch {
      return;
    }
    if (stored === undefined || Buffer.from(stored).equals(Buffer.from(bytes)) || this.#signedHere(stored, id)) return;
    throw new OnexError(
      ErrorCode.PublishFailed,
      `${subject}: stream ${stream} already holds another message under id ${id} (sequence ${sequence}), not signed by this client, so this message was not stored; publish it under a new id`,
      { subject, messageId: id, stream, sequence, reason: "id-taken" },
    );
  }

  /** Whether `stored` is a message with id `id` signed by this client's key. */
  #signedHere(stored: Uint8Array, id: string): boolean {
    try {
      const value = parseJson(new TextDecoder().decode(stored)) as { id?: unknown } | null;
      if (value?.id !== id) return false;
      verifyMessageSignature(value as EnvelopeInput, keyRing([this.#options.identity.publicKey]));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Publishes many messages with at most `window` acknowledgements outstanding: the
   * throughput of pipelining, with memory bounded by the window. Resolves with the receipts
   * in order; a failure stops sending, and once nothing is in flight rejects with the failure
   * first in order (every message before it is stored), whose details say what became of each
   * message sent (publish-many.ts). `window` (default 256) is a whole number of at least 1,
   * Infinity for no limit.
   */
  async publishMany(messages: Iterable<PublishableMessage> | AsyncIterable<PublishableMessage>, options: PublishOptions & { window?: number } = {}): Promise<PublishReceipt[]> {
    this.#checkOpen("publishMany");
    checkPublishOptions("publishMany", options);
    // `Symbol.iterator in null` is a raw TypeError; a string would be published character by character.
    if (messages === null || typeof messages !== "object" || !(Symbol.iterator in messages || Symbol.asyncIterator in messages)) {
      throw new OnexError(ErrorCode.Usage, `publishMany() takes an array or (async) iterable of generated message instances, not ${describeValue(messages)}`);
    }
    // A window of NaN let every publish go out at once (`active >= NaN` is never true); Infinity asks for that.
    checkWhole("publishMany", "window", options.window, { infinity: true });
    return publishInWindow(messages, options.window ?? 256, (message) => this.publish(message, options));
  }

  /**
   * Subscribes to messages of the given classes. Each delivery is parsed, verified and judged
   * by the trust policy before it is yielded; what fails goes to the dead-letter stream.
   */
  subscribe<C extends MessageClass>(types: readonly C[], options: SubscribeOptions = {}): Promise<Subscription<ReturnType<C["parse"]>>> {
    this.#checkOpen("subscribe");
    checkObject("subscribe", "options", options);
    return this.#subscribe(typedPipeline(types as unknown as readonly TransportMessageClass[], this.#trust), options) as Promise<Subscription<ReturnType<C["parse"]>>>;
  }

  /** Subscribes to every version `receiver` reads, handing out messages in its own version. */
  subscribeVersioned<S extends ProtocolSdk>(receiver: VersionedReceiver<S>, options: VersionedSubscribeOptions = {}): Promise<VersionedSubscription<MessageOf<S>>> {
    this.#checkOpen("subscribeVersioned");
    checkObject("subscribeVersioned", "options", options);
    // A number was accepted, then thrown as a TypeError from inside the delivery loop at the first refusal.
    if (options.onRefusal !== undefined && typeof options.onRefusal !== "function") throw new OnexError(ErrorCode.Usage, `subscribeVersioned: onRefusal must be a function, not ${describeValue(options.onRefusal)}`);
    return this.#subscribe(versionedPipeline(receiver, options.templateKey, this.#trust), options) as Promise<VersionedSubscription<MessageOf<S>>>;
  }

  /**
   * Stops every subscription (handing back what they hold, so their iteration ends) and waits for
   * the acknowledgements of publishes already sent (5 s at most), then drains and closes the connection. Every call returns the first call's promise: a second close() while
   * the first drained (a SIGTERM handler and the normal shutdown path) saw the connection not yet
   * closed, drained again, and on drain's "already draining" refusal closed the connection under
   * the first drain, which then never settled.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Publishes already sent get their acknowledgements first (SILENT_SERVER_MS at most, beside
    // the subscriptions' stop): the drain unsubscribes the reply inbox at once, and an
    // acknowledgement coming after that (an R3 stream's, sent once its replicas hold the message)
    // was dropped, failing as "may or may not be stored" a publish whose message was stored.
    const stopping = [...this.#open].map((s) => s.stop());
    await Promise.all([...stopping, settledWithin(this.#replies.idle(), SILENT_SERVER_MS)]);
    await this.#verifyAhead?.close();
    // A silent server never confirms the drain: close() waited until nats.js gave the
    // connection up, minutes later. Past SILENT_SERVER_MS the connection is closed as it is, and
    // a publish still waiting for its acknowledgement fails (its message may have been stored).
    if (!this.nc.isClosed()) await settledWithin(this.nc.drain(), SILENT_SERVER_MS);
    // A drain refused, or never confirmed, leaves the connection to close here.
    if (!this.nc.isClosed()) await this.nc.close();
  }

  /**
   * ONEX_E_USAGE once close() was called, or ONEX_E_CONNECTION when the connection closed by
   * itself: a publish on a closed client waited out retryForMs and reported a retryable
   * ONEX_E_PUBLISH_TIMEOUT (never settling with Infinity), a subscribe ONEX_E_STREAM_CONFIG.
   * With `unsettled`, a publish the closing cut short: the error names its message and says that
   * it may have been stored, which "the client is closed" alone left the caller to guess.
   */
  #checkOpen(operation: string, cause?: unknown, unsettled?: { subject: string; messageId: string }): void {
    const closed = this.#closing !== undefined ? "the client is closed" : this.nc.isClosed() ? "the NATS connection is closed; connect again" : undefined;
    if (closed === undefined) return;
    const what =
      unsettled === undefined
        ? `${operation}: ${closed}`
        : `${operation}: ${closed} before message ${unsettled.messageId} was acknowledged, so it may or may not be stored; publish it again (the same message, so the same id) from a connected client, and the stream stores it once`;
    throw new OnexError(this.#closing !== undefined ? ErrorCode.Usage : ErrorCode.ConnectionFailed, what, { operation, ...unsettled }, cause === undefined ? undefined : { cause });
  }

  async #subscribe(pipeline: ReceivePipeline, options: VersionedSubscribeOptions): Promise<VersionedSubscription<unknown>> {
    let subscription: Awaited<ReturnType<typeof openSubscription>>;
    try {
      subscription = await openSubscription(this, pipeline, options);
    } catch (error) {
      // close() during the open failed its requests as ONEX_E_STREAM_CONFIG, a server's refusal.
      this.#checkOpen("subscribe", error);
      throw error;
    }
    // close() while this one opened stopped only the others: this one would pull on a closed connection.
    if (this.#closing !== undefined) {
      await subscription.stop().catch(() => undefined);
      this.#checkOpen("subscribe");
    }
    this.#open.add(subscription);
    return {
      stream: subscription.stream,
      consumer: subscription.consumer,
      stats: subscription.stats,
      refusals: subscription.refusals,
      [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
      stop: async () => {
        this.#open.delete(subscription);
        await subscription.stop();
      },
    };
  }

  #prepare(message: PublishableMessage) {
    // Object.create(null) has no constructor (a raw TypeError reading its validate); {} or plain
    // message data is no instance either: a misuse (ONEX_E_USAGE), not a message that failed its schema.
    const cls = message.constructor as Partial<TransportMessageClass> | undefined;
    if (typeof cls?.validate !== "function" || typeof message.subject !== "function") {
      throw new OnexError(ErrorCode.Usage, `publish() takes a generated message instance (create it with <Class>.create or parse), not ${describeValue(message)}`);
    }
    const context = { version: String(cls.version), type: message.type, schemaId: String(cls.schemaId) };
    // A generated message's data is its own members, copied here by the runtime itself (never by
    // a toJSON the instance was given, which could hand over anything, accessors included): JSON
    // throughout, so the validator need not walk its free parts again, and no code of the
    // caller's runs while it skips that walk. An instance of another copy of the runtime is
    // validated whole.
    const runtimeCopy = message instanceof OnexMessage;
    const data = runtimeCopy ? OnexMessage.prototype.toJSON.call(message) : (message as PublishableMessage).toJSON();
    if (runtimeCopy) assertValidJson(cls.validate, data, context);
    else assertValid(cls.validate, data, context);
    const signed = signMessage(data, this.#options.identity);
    const headers = natsHeaders();
    headers.set(OnexHeader.Type, message.type);
    headers.set(OnexHeader.Version, String(cls.version));
    return { subject: message.subject(), bytes: utf8.encode(JSON.stringify(signed)), headers, id: message.id };
  }
}

const utf8 = new TextEncoder();

/**
 * A publish's timeouts, before anything is sent. A `timeoutMs` of 0 or NaN fired the reply timer
 * at once, so a message the stream stored was retried for 10 s and reported
 * ONEX_E_PUBLISH_TIMEOUT; a `retryForMs` of NaN made a deadline no time reaches, so a publish to
 * a subject no stream took never settled. Both may be Infinity (the reply timer is `after`'s,
 * which waits any length), and `retryForMs` 0: one attempt.
 */
function checkPublishOptions(owner: string, options: PublishOptions): void {
  checkObject(owner, "options", options);
  checkPositive(owner, "timeoutMs", options.timeoutMs);
  checkPositive(owner, "retryForMs", options.retryForMs, { zero: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
