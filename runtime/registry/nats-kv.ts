/**
 * The NATS KV registry adapter, the default: NATS is already the control plane, so a
 * deployment needs no other server. One KV bucket holds one key per entity,
 * `<zone>.<entity_type>.<id>`, with the bucket's max age as the TTL.
 *
 * nats-server before 2.11 has no per-message TTL and writes no marker when max age removes
 * a message, so KV watchers never hear of an expiry. The adapter therefore tracks each
 * key's last write time (the server's timestamp) and reports a key as expired once its TTL
 * passes without a new write; the server's max age then removes it for good. A heartbeat
 * rewrites the entry with a compare-and-set on the revision the trust layer verified, so it
 * can neither resurrect an entry deregistered in between nor refresh bytes someone else wrote.
 * Liveness is computed from the server's timestamp of the last write, which no client sets,
 * so it never rests on the bucket's configuration.
 *
 * A deregistration purges the key; any other removal (a plain KV delete) is reported as an
 * expiry, as etcd reports a delete without its departure marker. High-water marks live in a
 * second bucket, `<bucket>_marks`, without a max age.
 */
import { jetstream, type JetStreamManager, type MsgRequest } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError } from "../errors.js";
import { ReplyInbox } from "../jetstream/reply-inbox.js";
import { LIMIT_STREAM_BYTES } from "../jetstream/apply-advice.js";
import type { TlsFiles } from "../tls-files.js";
import { decodeSubjectToken, encodeSubjectToken } from "../subject-token.js";
import { EntityType, buildAddress, type CanonicalAddress } from "./address.js";
import { ChangeQueue } from "./change-queue.js";
import { Memo, partsKey } from "./memo.js";
import { KvBucket, type KvRecord } from "./nats-kv-bucket.js";
import { MarkTap } from "./nats-kv-mark-tap.js";
import { historyReset, type SeenHistory, type StreamNow } from "./nats-kv-history.js";
import { watchKv, type WatchedRecord } from "./nats-kv-watch.js";
import { MAX_REGISTRATION_CHARS, MAX_TTL_MS, MIN_TTL_MS, type MarkPublished, type RegistryStore, StoreChange, StoredMark, StorePrefix, StoredSlot, StoredValue, WrittenRevisions } from "./registry.js";
import { warnUnawaited } from "./unawaited-warning.js";

/** Options of the NATS KV adapter. */
export interface NatsKvStoreOptions {
  /** Server URLs (`nats://host:port`). */
  servers: string[];
  /** KV bucket (default `onex_registry`). */
  bucket?: string;
  /** TTL of a new bucket. An existing bucket keeps its own max age, and a differing `ttlMs` is refused when `ttlGiven`. */
  ttlMs: number;
  /** The TTL was asked for (`?ttl=`), not defaulted: an existing bucket with another max age is then ONEX_E_REGISTRY_URL. */
  ttlGiven?: boolean;
  /** How long to wait for the first connection (default 5 s). */
  connectTimeoutMs?: number;
  /** Copies of a new bucket (and its marks) on a JetStream cluster: 1, 3 or 5 (default 1). An existing bucket with another count is ONEX_E_REGISTRY_URL. */
  replicas?: number;
  /** A user and password, or a token, for a server that requires them. */
  user?: string;
  pass?: string;
  token?: string;
  /** PEM files for TLS: the server's CA, and a client certificate and key for a server that verifies clients. */
  tls?: TlsFiles;
  /** Told when a watch loses its connection to the server and when it has it back. */
  logger?: { warn(message: string, details?: Record<string, unknown>): void };
}

const ENTITY_TYPES = new Set<string>(Object.values(EntityType));
const utf8 = new TextEncoder();

/** Connects to NATS and opens (or creates) the registry bucket. */
export async function openNatsKvStore(options: NatsKvStoreOptions): Promise<RegistryStore> {
  let nc: NatsConnection;
  try {
    // Reconnect forever: a registry outlives server restarts, and pending writes wait for the server.
    // No async stack traces: the client would build two Error objects per request for them (~30 us
    // each time), and every failure reaches the caller as an OnexError naming the operation anyway.
    nc = await connect({
      servers: options.servers,
      timeout: options.connectTimeoutMs ?? 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      name: "onex-registry",
      noAsyncTraces: true,
      ...(options.user !== undefined ? { user: options.user, pass: options.pass } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
    });
  } catch (cause) {
    throw new OnexError(ErrorCode.RegistryUnavailable, `cannot reach NATS at ${options.servers.join(", ")}: ${(cause as Error).message}`, { servers: options.servers }, { cause });
  }
  const bucket = options.bucket ?? "onex_registry";
  try {
    // A call fails within a fraction of the TTL, so a heartbeat loop retries well before the entry lapses.
    const timeoutMs = Math.min(5_000, Math.max(1_000, Math.floor(options.ttlMs / 5)));
    const js = jetstream(nc, { timeout: timeoutMs });
    const kvm = new Kvm(js);
    const replicas = options.replicas ?? 1;
    const { kv, direct } = await openBucket(kvm, bucket, { ttl: options.ttlMs, history: 1, replicas });
    const status = await kv.status();
    if (options.replicas !== undefined && status.replicas !== replicas) {
      throw new OnexError(ErrorCode.RegistryUrl, `the KV bucket ${bucket} exists with ${status.replicas} replica(s), but the URL asks for replicas=${replicas}`, { bucket, bucketReplicas: status.replicas, replicas });
    }
    // An existing bucket's max age is the TTL that actually applies; asking for another one is an error, not a silent no-op.
    if (status.ttl !== options.ttlMs && options.ttlGiven) {
      throw new OnexError(
        ErrorCode.RegistryUrl,
        `the KV bucket ${bucket} exists with a max age of ${status.ttl} ms, but ttl=${options.ttlMs} ms was asked for (the URL's ?ttl= or the ttlMs option); leave it out to use the bucket's, or use another bucket`,
        { bucket, bucketTtlMs: status.ttl, ttlMs: options.ttlMs },
      );
    }
    // Without a TTL asked for, the bucket's max age is the TTL every entry is judged by. Any
    // registry user may update the bucket's stream (`$JS.API.>`): a max age of 30 days had every
    // reader opened after it show a node dead for a month as alive, and none at all (0) had it
    // judge by the default 10 s, a node heart-beating for a TTL of hours reported failed. Held
    // to the bounds a URL's ttl is held to.
    if (!(status.ttl >= MIN_TTL_MS && status.ttl <= MAX_TTL_MS)) {
      throw new OnexError(ErrorCode.RegistryUrl, `the KV bucket ${bucket} has a max age of ${status.ttl} ms, outside the 1s to 24h a registry TTL may be: its entries cannot be judged alive by it; set the bucket's max age back, or use another bucket`, { bucket, bucketTtlMs: status.ttl });
    }
    const ttlMs = status.ttl;
    const marks = await openBucket(kvm, `${bucket}_marks`, { history: 1, replicas: status.replicas });
    const inbox = new ReplyInbox(nc);
    const entries = new KvBucket(kv, bucket, direct, inbox, timeoutMs);
    // One server when the bucket's stream reports no cluster. The server's INFO is no sign: a leaf
    // node with a JetStream of its own and no cluster names its own name there as its cluster's.
    const oneServer = status.streamInfo.cluster === undefined;
    return new NatsKvStore(nc, await js.jetstreamManager(false), entries, new KvBucket(marks.kv, `${bucket}_marks`, marks.direct, inbox, timeoutMs), ttlMs, oneServer, options.logger);
  } catch (cause) {
    await nc.close().catch(() => undefined);
    if (cause instanceof OnexError) throw cause;
    throw new OnexError(ErrorCode.RegistryUnavailable, `cannot open the KV bucket ${bucket} (is JetStream enabled?): ${(cause as Error).message}`, { bucket }, { cause });
  }
}

/** nats-server's error code for a stream of more than one replica asked of a server outside a cluster. */
const JS_REPLICAS_NOT_CLUSTERED = 10074;
/** How many heartbeat intervals apart a watch on a cluster asks whether its stream was made again (at most 20 s). */
const HISTORY_CHECK_HEARTBEATS = 4;
/** How many consumers a listing reads through before it says a replica lags (each lands on any replica). */
const LIST_READS = 10;

/** Opens (or creates) a bucket, and says whether it is read by direct gets; refuses a stream that is not a plain bucket. */
async function openBucket(kvm: Kvm, name: string, config: { ttl?: number; history: number; replicas: number }): Promise<{ kv: KV; direct: boolean }> {
  let status;
  try {
    status = await (await kvm.open(name, { bindOnly: true })).status();
  } catch {
    let created: KV;
    try {
      created = await kvm.create(name, config);
    } catch (error) {
      // A setting of the URL no retry can satisfy, not an outage (exit 69 said "try again").
      if ((error as { code?: unknown }).code === JS_REPLICAS_NOT_CLUSTERED) {
        throw new OnexError(ErrorCode.RegistryUrl, `replicas=${config.replicas} needs a JetStream cluster of at least ${config.replicas} servers, and this server is not in a cluster: drop ?replicas= or name the cluster's servers`, { bucket: name, replicas: config.replicas }, { cause: error });
      }
      throw error;
    }
    // Reads of a replicated bucket go to its leader, see below.
    if (config.replicas === 1) return { kv: created, direct: (await created.status()).streamInfo.config.allow_direct === true };
    return { kv: await kvm.open(name, { bindOnly: true, allow_direct: false }), direct: false };
  }
  const stream = status.streamInfo.config;
  // A mirror holds its origin's subjects (and takes no writes); a sourced stream may hold others.
  // Read as a bucket of its own, either would answer "not found" for every key: refuse it instead.
  if (stream.mirror !== undefined) {
    const origin = stream.mirror.name.replace(/^KV_/, "");
    throw new OnexError(ErrorCode.RegistryUrl, `the KV bucket ${name} is a mirror of ${origin}, which the registry can neither read as its own keys nor write: name ${origin} in the URL`, { bucket: name, mirrorOf: origin });
  }
  if ((stream.sources?.length ?? 0) > 0 || stream.subjects?.length !== 1 || stream.subjects[0] !== `$KV.${name}.>`) {
    throw new OnexError(ErrorCode.RegistryUrl, `the KV bucket ${name} is not a plain bucket (its stream holds ${JSON.stringify(stream.subjects ?? [])}${stream.sources?.length ? " and has sources" : ""}); the registry needs one whose stream holds exactly $KV.${name}.>`, {
      bucket: name,
    });
  }
  // Direct gets (a raw reply, no JSON API round) are used only when the stream answers them and
  // has one replica: on a replicated bucket any replica answers a direct get, and one still
  // catching up (after a leader election, say) would show an older mark than the entry a
  // watcher just saw, so a fresh registration would be taken for an unmarked one.
  const direct = stream.allow_direct === true && stream.num_replicas === 1;
  return { kv: await kvm.open(name, { bindOnly: true, allow_direct: direct }), direct };
}

/** The KV key of an address: subject tokens with `~` spelled `=`, since KV keys do not allow `~`. */
export function natsKvKey(key: CanonicalAddress): string {
  return kvKeys.get(partsKey(key), () => [zoneKvTokens.get(key.zone, () => kvToken(key.zone)), key.entityType, kvToken(key.id)].join("."));
}

/**
 * The address of a KV key in its address's own spelling (natsKvKey's), or undefined. natsKvKey
 * spells every escape `=`; parseNatsKvKey reads `~` there too, and reads no other spelling that
 * is not canonical, so a key without `~` that it reads is its address's own. Not built again to
 * compare: a watch asks this of every event, twice for each new node's. Exported for its
 * property test.
 */
export function canonicalKvKey(key: string): CanonicalAddress | undefined {
  return key.includes("~") ? undefined : parseNatsKvKey(key);
}

/** The address of a KV key made by natsKvKey, or undefined for any other key. */
export function parseNatsKvKey(key: string): CanonicalAddress | undefined {
  const parsed = parsedKvKeys.get(key, () => parseNatsKvKeyOnce(key));
  // A fresh object each time: callers may change what they are handed.
  return parsed === undefined ? undefined : { ...parsed };
}

const kvKeys = new Memo<string>();
const parsedKvKeys = new Memo<CanonicalAddress | undefined>();
// A new node's key costs its zone's token again, the slow part of a key (escaped dots): a
// registry's keys name few zones, so their tokens are remembered apart.
const zoneKvTokens = new Memo<string>(256);
const zonesOfKvTokens = new Memo<string>(256);

function parseNatsKvKeyOnce(key: string): CanonicalAddress | undefined {
  const parts = key.split(".");
  if (parts.length !== 3 || !ENTITY_TYPES.has(parts[1]!)) return undefined;
  try {
    const address = { zone: zonesOfKvTokens.get(parts[0]!, () => decodeSubjectToken(parts[0]!.replaceAll("=", "~"))), entityType: parts[1] as EntityType, id: decodeSubjectToken(parts[2]!.replaceAll("=", "~")) };
    // A key no address spells (a bad zone, an id too long) is foreign: the trust layer would refuse its address outright.
    buildAddress(address);
    return address;
  } catch {
    return undefined;
  }
}

function kvToken(value: string): string {
  return encodeSubjectToken(value).replaceAll("~", "=");
}

function filterOf(prefix: StorePrefix): string {
  return `${prefix.zone === undefined ? "*" : kvToken(prefix.zone)}.${prefix.entityType ?? "*"}.*`;
}

/** nats.js's PermissionViolationError, found by its class's name (as publish-errors.ts does), itself or as a request's cause. */
function permissionViolation(error: unknown): { message: string; operation: string; subject: string } | undefined {
  for (let e = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    const { name, message, operation, subject } = e as { name?: unknown; message?: unknown; operation?: unknown; subject?: unknown };
    if (name === "PermissionViolationError") return { message: String(message), operation: String(operation), subject: String(subject) };
  }
  return undefined;
}

function isCasConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test((error as Error)?.message ?? "");
}

class NatsKvStore implements RegistryStore {
  readonly kind = "nats";
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;
  readonly #pumps = new Set<Promise<void>>();

  constructor(
    readonly nc: NatsConnection,
    /** Creates and deletes the consumers of watches. */
    readonly jsm: JetStreamManager,
    readonly entries: KvBucket,
    readonly marks: KvBucket,
    readonly ttlMs: number,
    /** Whether the server is alone (not part of a cluster): then it orders what one connection sends across both buckets. */
    readonly oneServer: boolean,
    readonly logger?: NatsKvStoreOptions["logger"],
  ) {}

  async get(key: CanonicalAddress): Promise<StoredValue | undefined> {
    const raw = await this.#call(() => this.entries.get(natsKvKey(key)));
    if (raw === null || raw.operation !== "PUT" || this.#stale(raw)) return undefined;
    return { key, value: raw.string(), revision: String(raw.revision), updatedAt: raw.created };
  }

  async read(key: CanonicalAddress): Promise<StoredSlot> {
    const k = natsKvKey(key);
    // Entries and marks are two streams, so two requests: sent together, they wait for one round trip.
    const [raw, mark] = await this.#call(() => Promise.all([this.entries.get(k), this.marks.get(k)]));
    return {
      ...(raw !== null && raw.operation === "PUT" && !this.#stale(raw) ? { stored: { key, value: raw.string(), revision: String(raw.revision), updatedAt: raw.created } } : {}),
      revision: raw === null ? "" : String(raw.revision),
      ...(mark !== null && mark.operation === "PUT" ? { mark: { value: mark.string(), revision: String(mark.revision) } } : {}),
    };
  }

  async write(key: CanonicalAddress, value: string, expected: { revision: string; mark: string }, writeMark: boolean): Promise<WrittenRevisions | undefined> {
    const k = natsKvKey(key);
    // Encoded once for both writes: the mark holds the registration's bytes, as the entry does.
    const bytes = utf8.encode(value);
    return this.#call(async () => {
      // No transactions across streams. On one server the two compare-and-sets go out together,
      // mark first, and share one round trip: a server stores what one connection sends in the
      // order sent, so a reader that finds the entry finds its mark. A cluster orders each stream
      // apart (and right after a leader election, far apart): there the entry goes out only once
      // its mark is stored. When the mark's compare-and-set loses and the entry's wins, the write
      // still reports a moved revision: the caller reads both and writes again, or refuses a
      // registration older than the mark that won.
      const markWrite = () => (writeMark ? (expected.mark === "" ? this.marks.create(k, bytes) : this.marks.update(k, bytes, Number(expected.mark))) : Promise.resolve(undefined));
      const entryWrite = () => (expected.revision === "" ? this.entries.create(k, bytes) : this.entries.update(k, bytes, Number(expected.revision)));
      if (!this.oneServer) {
        try {
          const markRevision = await markWrite();
          const revision = await entryWrite();
          return { revision: String(revision), ...(markRevision === undefined ? {} : { markRevision: String(markRevision) }) };
        } catch (error) {
          // "Must not exist" failed on an entry that lapsed but is not removed yet, too: the caller reads its revision and tries again.
          if (isCasConflict(error)) return undefined;
          throw error;
        }
      }
      const [mark, entry] = await Promise.allSettled([markWrite(), entryWrite()]);
      if (mark.status === "rejected" && !isCasConflict(mark.reason) && entry.status === "fulfilled") {
        // The entry is in but its mark failed outright (a timeout, not a lost compare-and-set):
        // left so, readers would take the entry for a replay. Write the mark again on its own.
        const markRevision = await this.#rewriteMark(k, bytes).catch(() => {
          throw mark.reason;
        });
        return { revision: String(entry.value), markRevision: String(markRevision) };
      }
      for (const result of [mark, entry]) {
        // "Must not exist" failed on an entry that lapsed but is not removed yet, too: the caller reads its revision and tries again.
        if (result.status === "rejected" && !isCasConflict(result.reason)) throw result.reason;
      }
      if (mark.status === "rejected" || entry.status === "rejected") return undefined;
      return { revision: String(entry.value), ...(mark.value === undefined ? {} : { markRevision: String(mark.value) }) };
    });
  }

  /** Sets the mark of `k` to `value` whatever it holds now (the entry beside it is already `value`). */
  async #rewriteMark(k: string, value: Uint8Array): Promise<number> {
    const current = await this.marks.get(k);
    return current === null || current.operation !== "PUT" ? this.marks.create(k, value) : this.marks.update(k, value, current.revision);
  }

  async heartbeat(key: CanonicalAddress, revision: string, read?: StoredValue): Promise<boolean> {
    const k = natsKvKey(key);
    return this.#call(async () => {
      // The bytes at `revision` as the caller read them need no second read: the compare-and-set on
      // that revision proves they are still what is stored. Lapsed since that read: not renewed.
      let value: Uint8Array | string;
      if (read?.revision === revision && read.updatedAt !== undefined) {
        if (read.updatedAt.getTime() + this.ttlMs <= Date.now()) return false;
        value = read.value;
      } else {
        const raw = await this.entries.get(k);
        if (raw === null || raw.operation !== "PUT" || this.#stale(raw) || String(raw.revision) !== revision) return false;
        value = raw.value;
      }
      try {
        await this.entries.update(k, value, Number(revision));
        return true;
      } catch (error) {
        // Someone wrote in between (a re-registration, a deregistration, a store writer): the caller reads again.
        if (isCasConflict(error)) return false;
        throw error;
      }
    });
  }

  async delete(key: CanonicalAddress, revision?: string): Promise<boolean> {
    const k = natsKvKey(key);
    return this.#call(async () => {
      const raw = await this.entries.get(k);
      if (raw === null || raw.operation !== "PUT" || (revision !== undefined && String(raw.revision) !== revision)) return false;
      // A purge, not a delete: watchers tell a deregistration from any other removal by it.
      if (revision === undefined) await this.entries.kv.purge(k);
      else {
        try {
          // Of that revision alone: a registration written since the read stays.
          await this.entries.kv.purge(k, { previousSeq: raw.revision });
        } catch (error) {
          if (isCasConflict(error)) return false;
          throw error;
        }
      }
      return !this.#stale(raw);
    });
  }

  async getMark(key: CanonicalAddress): Promise<StoredMark | undefined> {
    return this.#getMarkAt(natsKvKey(key));
  }

  async #getMarkAt(k: string): Promise<StoredMark | undefined> {
    const raw = await this.#call(() => this.marks.get(k));
    return raw === null || raw.operation !== "PUT" ? undefined : { value: raw.string(), revision: String(raw.revision) };
  }

  /**
   * Each key's last value, read by one consumer up to what it held when it was made. nats.js's
   * `keys()` ends only once a delivery finds nothing pending or a heartbeat comes, which entries
   * rewritten by heartbeats all the time can put off for good (a listing that never ended), and a
   * get of each key cost a round trip apiece.
   */
  async list(prefix: StorePrefix): Promise<StoredValue[]> {
    return this.#call(async () => {
      const values = new Map<string, StoredValue>();
      // On a cluster the consumer may sit on a replica that lags, and send its older value of a
      // key as the last (as a watch's may): the writes after the last one read, up to the
      // bucket's last revision as the listing began, are read on, while the leader holds any.
      const upTo = this.oneServer || this.entries.direct ? 0 : (await this.entries.kv.status()).streamInfo.state.last_seq;
      let last = 0;
      for (let reads = 0; reads === 0 || (await this.#leaderHolds(prefix, last, upTo)); reads++) {
        if (reads === LIST_READS) throw new OnexError(ErrorCode.RegistryUnavailable, `listing the KV bucket ${this.entries.name}: ${LIST_READS} consumers running stopped short of what its stream's leader holds (a replica lags)`, { bucket: this.entries.name });
        const read = new AbortController();
        const from = reads === 0 ? {} : { fromRevision: last + 1 };
        const watching = watchKv(this.nc, this.jsm, this.entries.name, { filter: filterOf(prefix), ...from, heartbeatMs: this.#heartbeatMs, signal: read.signal, onCaughtUp: () => read.abort(), get: (k) => this.entries.get(k) });
        for await (const entry of watching) {
          // What a consumer on a replica that lags repeats, read already.
          if (reads > 0 && entry.revision <= last) continue;
          last = Math.max(last, entry.revision);
          // Only an address's own spelling of its key: get and resolve read no other.
          const key = canonicalKvKey(entry.key);
          if (key === undefined) continue;
          if (entry.operation !== "PUT" || this.#stale(entry)) values.delete(entry.key);
          else values.set(entry.key, { key, value: entry.string(), revision: String(entry.revision), updatedAt: entry.created });
        }
      }
      return [...values.values()];
    });
  }

  watch(prefix: StorePrefix, caller: AbortSignal, onMarkPublished?: MarkPublished): AsyncIterable<StoreChange> {
    // Ends when the caller aborts or the store closes.
    const signal = AbortSignal.any([caller, this.#closing.signal]);
    const queue = new ChangeQueue<StoreChange>(signal);
    // Last write per key, to report an expiry that the server itself never announces, and its
    // value, to tell a heartbeat from a change: not a value longer than a registration may be (no
    // read takes one), or a store writer's megabyte at each of a thousand keys is a gigabyte held here.
    const live = new Map<string, { key: CanonicalAddress; created: number; value: string | undefined }>();
    // Whether the watch has delivered everything its consumer held when made, and up to when (by
    // the server's clock) it has read every write (watchKv `onHeard`). A key is judged at that
    // time, not now: writes not read yet may be heartbeats. A watch goes silent before it notices
    // it is broken (two missed heartbeats), and this process's event loop may be busy while
    // deliveries wait on its socket; once it is resumed (which can take longer than the TTL: a
    // meta-leader election), the sweep waits until the new consumer has delivered what it held.
    // Run after the socket is read (setImmediate), so a loop that was busy judges what it read.
    let current = false;
    let readUpTo = 0;
    const judge = () => {
      if (!current) return;
      for (const [k, state] of live) {
        if (state.created + this.ttlMs <= readUpTo) {
          live.delete(k);
          queue.push({ op: "delete", key: state.key, reason: "expired" }, k);
        }
      }
    };
    const sweep = setInterval(() => setImmediate(judge), Math.max(50, Math.min(1_000, Math.floor(this.ttlMs / 10))));
    signal.addEventListener("abort", () => clearInterval(sweep), { once: true });
    const tap = this.oneServer ? new MarkTap(this.nc, `$KV.${this.marks.name}.`, filterOf(prefix), canonicalKvKey, signal, onMarkPublished) : undefined;

    const startedAt = Date.now();
    const heartbeatMs = this.#heartbeatMs;
    const pump = async () => {
      let lastRevision = 0;
      // The bucket's last sequence when the watch is first established: everything up to it is current state.
      let initialUpTo = -1;
      // Set once the first state is read: every later consumer starts after it. The first state
      // comes from a consumer that delivers each key's last value, which is not kept for what
      // follows: nats-server 2.9 delivers each new message to one made on an empty bucket more
      // slowly with every key written since (`npm run bench:registry` prints by how much).
      let firstStateUpTo: number | undefined;
      let synced = false;
      // What the watch saw of the stream, to tell when its history was reset under it (nats-kv-history.ts).
      let streamCreated: string | undefined;
      let lastSeen: { revision: number; at: number } | undefined;
      // The latest server time of a write the watch has read (at first, the bucket's last write):
      // what a resumed consumer repeats was written no later.
      let readAt = 0;
      // Set while the watch reads a reset stream's state again: the keys it delivered, so those of
      // the watch's that the store lost are reported gone once it is read.
      let restated: Set<string> | undefined;
      // Why the live consumer's stream is not the history the watch read, once found (below).
      let resetFound: string | undefined;
      let historyCheck: NodeJS.Timeout | undefined;
      const seenHistory = () => ({ created: streamCreated!, upTo: Math.max(lastRevision, firstStateUpTo ?? 0), ...(lastSeen === undefined ? {} : { last: lastSeen }) });
      const caughtUp = () => {
        current = true;
        if (restated !== undefined) {
          for (const [k, state] of live) {
            if (restated.has(k)) continue;
            live.delete(k);
            queue.push({ op: "delete", key: state.key, reason: "expired" }, k);
          }
          restated = undefined;
        }
        if (!synced) queue.push({ op: "synced" });
        synced = true;
      };
      while (!signal.aborted) {
        // Ends the first state's watch once it is caught up.
        const firstState = lastRevision === 0 && firstStateUpTo === undefined ? new AbortController() : undefined;
        // The bucket's last revision as the consumer is made, as far as the last answer tells.
        let bucketLast = initialUpTo;
        // Set as the consumer ends: an answer about it that comes later says nothing of the next one.
        let over = false;
        try {
          if (initialUpTo < 0) {
            // Only asked once: asked later (after an outage) it would count later writes as state too.
            initialUpTo = 0;
            const { streamInfo } = await this.entries.kv.status();
            initialUpTo = bucketLast = streamInfo.state.last_seq;
            streamCreated = streamInfo.created;
            readAt = Date.parse(streamInfo.state.last_ts) || 0;
            if (signal.aborted) break;
          } else if (firstState === undefined) {
            // Resuming after a revision seen: on a stream that still holds that history.
            const { streamInfo } = await this.entries.kv.status();
            bucketLast = streamInfo.state.last_seq;
            const reset = resetFound ?? (await this.#historyReset(seenHistory(), streamInfo));
            if (signal.aborted) break;
            if (reset !== undefined) {
              if (this.logger !== undefined) warnUnawaited(this.logger, `onex registry: the watch found the KV bucket ${this.entries.name}'s history reset (${reset}); reading its keys again, and reporting what changed and what it lost`, { bucket: this.entries.name });
              // Read as a first state is, each key's last value, but as changes: compared with what the watch showed.
              streamCreated = streamInfo.created;
              initialUpTo = streamInfo.state.last_seq;
              lastRevision = 0;
              lastSeen = undefined;
              firstStateUpTo = undefined;
              restated = new Set();
              resetFound = undefined;
              current = false;
              continue;
            }
          }
          // Once the consumer has sent all it counted: the watch is current, unless the consumer's
          // replica lags (restarted, catching up). nats-server places the consumer on any replica
          // and counts what that one holds: its first state is that replica's older value of
          // each key, and its heartbeats say nothing is left while writes it has yet to receive
          // (a node's heartbeat) are due, so a sweep would expire live nodes. So the stream's
          // leader is asked for a write the consumer should have sent; when it holds one, the
          // consumer is given up and the watch goes on after the last revision it was sent.
          const onCaughtUp = () => {
            const upTo = firstState !== undefined ? initialUpTo : bucketLast;
            // Taken as holding more when the leader does not answer: the watch asks again.
            void this.#leaderHolds(prefix, lastRevision, upTo).catch(() => true).then((more) => {
              if (over) return;
              if (!more) caughtUp();
              if (firstState !== undefined) {
                // Each key's last value is read; the next consumer starts after it, or after the
                // last revision sent when the leader holds more.
                firstStateUpTo = more ? lastRevision : Math.max(lastRevision, initialUpTo);
                firstState.abort();
              } else if (more) phase.abort();
            });
          };
          // After the first state or a break, resume right after the last revision seen, so no change is lost or repeated.
          const after = Math.max(lastRevision, firstStateUpTo ?? 0);
          // A live consumer's stream can be made again under it, consumer and all, by a cluster
          // whose node lost its store: the consumer then waits, unbroken and heart-beating, for a
          // revision the new stream reaches only much later. So on a cluster its history is asked
          // every few heartbeats, and a reset ends this consumer (the check above then starts the
          // watch over). A lone server's restart ends the connection, and the check runs on resuming.
          const phase = firstState ?? new AbortController();
          if (firstState === undefined && !this.oneServer) {
            const check: NodeJS.Timeout = setInterval(() => {
              const seen = seenHistory();
              this.entries.kv.status().then(
                async ({ streamInfo }) => {
                  const reset = await this.#historyReset(seen, streamInfo);
                  // An answer that comes after its consumer ended says nothing of the next one.
                  if (historyCheck !== check) return;
                  resetFound ??= reset;
                  if (resetFound !== undefined) phase.abort();
                },
                () => undefined, // an outage: the watch's own heartbeats notice it
              );
            }, HISTORY_CHECK_HEARTBEATS * heartbeatMs);
            historyCheck = check;
          }
          const watcher = watchKv(this.nc, this.jsm, this.entries.name, {
            filter: filterOf(prefix),
            ...(firstState !== undefined ? {} : { fromRevision: after + 1 }),
            heartbeatMs,
            signal: AbortSignal.any([signal, phase.signal]),
            onCaughtUp,
            onHeard: (upTo) => (readUpTo = Math.max(readUpTo, upTo)),
            get: (k) => this.entries.get(k),
          });
          for await (const entry of watcher) {
            if (firstState === undefined && entry.revision <= after) {
              // nats-server starts a consumer made on a replica that lags (one restarted and
              // catching up) after that replica's last revision, not the one asked for: it repeats
              // writes this watch has read, none written after the latest one it read. A write at
              // or below `after` written later is the stream numbering its writes from 1 again: the
              // cluster made the stream and this watch's consumer again on a node that lost its
              // store, and the consumer went on, unbroken.
              if (entry.created.getTime() <= readAt) continue;
              resetFound = `revision ${entry.revision} was delivered after revision ${after}`;
              break;
            }
            if (entry.revision > lastRevision) lastSeen = { revision: entry.revision, at: entry.created.getTime() };
            readAt = Math.max(readAt, entry.created.getTime());
            lastRevision = Math.max(lastRevision, entry.revision);
            restated?.add(entry.key);
            // Current state, not a change: present when the watch was established, or written before watch()
            // was called (the server may have been down in between). A reset stream's state is all changes.
            const before = restated !== undefined ? { stored: false, written: false } : { stored: entry.revision <= initialUpTo, written: entry.created.getTime() < startedAt };
            this.#onEntry(entry, before, live, queue, tap);
          }
        } catch (error) {
          if (signal.aborted || this.nc.isClosed()) break;
          // The server refused the watch's consumer, its state or its answers to flow control
          // (watchKv) for want of a grant: no retry
          // changes that, and retried every 250 ms the watch delivered nothing, not even `synced`,
          // for ever, and said nothing. It ends with the refusal, as etcd's refused watch does; a
          // watcher resumes once the grant is given. Anything else (an outage, a consumer lost)
          // is retried as before.
          const refused = this.#refused(error);
          if (refused !== undefined) {
            queue.fail(refused);
            break;
          }
        } finally {
          over = true;
          clearInterval(historyCheck);
          historyCheck = undefined;
        }
        // The first state read: on at once from the next consumer, still current.
        if (firstState?.signal.aborted && !signal.aborted && !this.nc.isClosed()) continue;
        current = false;
        if (signal.aborted || this.nc.isClosed()) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      clearInterval(sweep);
      queue.end();
    };
    this.#tellOutages(signal);
    const pumping = pump();
    this.#pumps.add(pumping);
    void pumping.finally(() => this.#pumps.delete(pumping));
    return queue;
  }

  /**
   * Says when a watch's connection is lost and when it is back, one line each. A watch has
   * nothing to say while its server is away (no change can be read), so a watching service fell
   * silent through an outage, on stderr as on stdout, and its owner could not tell an outage
   * from a quiet registry. The connection reconnects by itself and the watch resumes after the
   * last revision it read, so nothing is lost; these lines only say what is going on.
   */
  #tellOutages(signal: AbortSignal): void {
    if (this.logger === undefined) return;
    const logger = this.logger;
    // Stopped with the watch, so a closed watch's loop does not outlive it.
    const statuses = this.nc.status() as AsyncIterable<{ type: string; server?: string }> & { stop?(): void };
    signal.addEventListener("abort", () => statuses.stop?.(), { once: true });
    // Each line names the server its status names: by the time the loop reads a disconnect, the
    // connection is already dialling the next server of a cluster, and the line named that one
    // as the server lost (a rolling restart's logs then pointed at a node that was up).
    const serverOf = (status: { server?: string }) => status.server ?? this.nc.getServer();
    void (async () => {
      let lost = false;
      for await (const status of statuses) {
        if (signal.aborted) break;
        if (status.type === "disconnect" && !lost) {
          lost = true;
          const server = serverOf(status);
          warnUnawaited(logger, `onex registry: the watch lost its connection to NATS at ${server}; reconnecting, it resumes after the last change it read`, { server });
        } else if (status.type === "reconnect" && lost) {
          lost = false;
          const server = serverOf(status);
          warnUnawaited(logger, `onex registry: the watch is connected to NATS at ${server} again; resuming`, { server });
        }
      }
    })();
  }

  /**
   * Every call returns the first call's promise: a second close() during the first's drain
   * closed the connection under it (drain refuses a second drain), and the first never settled.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    // Watches first, so each deletes its consumer while the connection is still open.
    this.#closing.abort();
    await Promise.all(this.#pumps);
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }

  /**
   * One delivery of the watch. `before` says whether it was in the stream when the watch was
   * established (`stored`) or written, by the server's clock, before watch() was called (`written`).
   */
  #onEntry(entry: WatchedRecord, before: { stored: boolean; written: boolean }, live: Map<string, { key: CanonicalAddress; created: number; value: string | undefined }>, queue: ChangeQueue<StoreChange>, tap?: MarkTap): void {
    if (entry.operation !== "PUT") {
      // Only an address's own spelling of its key is its key: list and get read no other.
      const key = canonicalKvKey(entry.key);
      if (key === undefined) return;
      const shown = live.delete(entry.key);
      // A removal already in the stream when the watch began, of a key the watch has shown no
      // value of, is an address that holds nothing, not a departure now. By the stream's
      // sequence, not the clock: a server clock behind this one must not hide a real departure.
      if (shown || !before.stored) queue.push({ op: "delete", key, reason: entry.operation === "PURGE" ? "deregistered" : "expired" }, entry.key);
      return;
    }
    // Current state, not a change.
    const initial = before.stored || before.written;
    if (this.#stale(entry)) return;
    const value = entry.string();
    const changed = !initial && live.get(entry.key)?.value !== value;
    const seenAt = changed && tap !== undefined ? canonicalKvKey(entry.key) : undefined;
    if (seenAt !== undefined && tap!.take(entry.key, value)) {
      live.set(entry.key, { key: seenAt, created: entry.created.getTime(), value });
      const stored = { key: seenAt, value, revision: String(entry.revision), updatedAt: entry.created };
      // The entry's own bytes were the last mark published at its key (MarkTap): reported without
      // waiting for the stored mark, which is read once the report is on its way (promise
      // callbacks run before setImmediate's).
      queue.push({ op: "put", stored, initial, markSeen: true }, entry.key);
      setImmediate(() => void this.#confirmMarkSeen(entry.key, stored, tap!, live, queue));
      return;
    }
    // A change the reader will verify is read with its mark, asked for now: the request goes out
    // while the reader verifies the entry. A heartbeat (the same bytes again) needs none. It is
    // asked for at the key as delivered, before that key is decoded (a new key's decoding is the
    // slowest step here); a key in another spelling of the same address gets the mark of the
    // address's own key instead, below, so no writer can choose which mark judges an entry.
    const early = changed ? this.#getMarkAt(entry.key) : undefined;
    early?.catch(() => undefined);
    const key = canonicalKvKey(entry.key);
    if (key === undefined) return;
    const mark = early;
    live.set(entry.key, { key, created: entry.created.getTime(), value: value.length > MAX_REGISTRATION_CHARS ? undefined : value });
    // A heartbeat while the reader has yet to pull the last one of the key (the same bytes, with no
    // mark) moves that one on to this revision: a reader that is behind (a health watcher waiting on
    // a publish, say) gathered every node's every heartbeat, without bound, and would have skipped them.
    const pending = mark === undefined && !initial ? queue.pendingAt(entry.key) : undefined;
    if (pending?.op === "put" && !pending.initial && pending.mark === undefined && !pending.markSeen && !pending.recheck && pending.stored.value === value) {
      pending.stored.revision = String(entry.revision);
      pending.stored.updatedAt = entry.created;
      return;
    }
    queue.push({ op: "put", stored: { key, value, revision: String(entry.revision), updatedAt: entry.created }, initial, ...(mark === undefined ? {} : { mark }) }, entry.key);
  }

  /**
   * Reads the stored mark of an entry reported on its published mark. A stored mark other than
   * the entry's bytes sends the entry back to be checked against it (`recheck`), as long as the
   * key still holds those bytes (read then: a newer value comes through the watch and is judged
   * itself); from then on that key's entries are read first. A read that fails leaves the check
   * to the reader, which reads through the outage. The entry is read only when the mark differs:
   * read beside the mark for every such report, it doubled the requests each report cost this
   * process and the server.
   */
  async #confirmMarkSeen(k: string, stored: StoredValue, tap: MarkTap, live: Map<string, { value: string | undefined }>, queue: ChangeQueue<StoreChange>): Promise<void> {
    // With the stored mark as read (none: the read found none), or without, for the reader to read.
    const recheck = (mark?: Promise<StoredMark | undefined>) => {
      if (live.get(k)?.value === stored.value) queue.push({ op: "put", stored, initial: false, recheck: true, ...(mark === undefined ? {} : { mark }) }, k);
    };
    let storedMark: StoredMark | undefined;
    try {
      const mark = await this.#call(() => this.marks.get(k));
      storedMark = mark !== null && mark.operation === "PUT" ? { value: mark.string(), revision: String(mark.revision) } : undefined;
    } catch {
      tap.distrust(k);
      return recheck();
    }
    if (storedMark?.value === stored.value) return;
    tap.distrust(k);
    let entry: KvRecord | null;
    try {
      entry = await this.#call(() => this.entries.get(k));
    } catch {
      return recheck(Promise.resolve(storedMark));
    }
    // The same bytes at a later revision (a heartbeat's rewrite) are still this entry.
    if (entry === null || entry.operation !== "PUT" || entry.string() !== stored.value) return;
    recheck(Promise.resolve(storedMark));
  }

  /**
   * historyReset, confirmed with the bucket's first and last messages as its stream's leader has
   * them. Stream info can come from a replica's own store, which may lag the history the watch
   * read (one restarted, catching up): nats-server has a replica answer while the stream has no
   * leader, and the group's preferred replica for its first 10 s. A message get is the leader's
   * alone. Undefined while the leader cannot say: the watch asks again. A bucket on one replica
   * has no other to answer (and its readers may hold a grant for direct gets alone).
   */
  async #historyReset(seen: SeenHistory, info: StreamNow): Promise<string | undefined> {
    const verdict = historyReset(seen, info);
    if (verdict === undefined || this.oneServer || this.entries.direct) return verdict;
    const stream = `KV_${this.entries.name}`;
    const first = { seq: 1, next_by_subj: ">" } as unknown as MsgRequest;
    const [head, tail] = await Promise.all([this.jsm.streams.getMessage(stream, first), this.jsm.streams.getMessage(stream, { last_by_subj: ">" })]).catch(() => [undefined, undefined]);
    if (head === undefined || tail === undefined) return undefined;
    const state = head === null || tail === null ? { first_seq: info.state.last_seq + 1, last_seq: info.state.last_seq, first_ts: "0001-01-01T00:00:00Z" } : { first_seq: head.seq, last_seq: tail.seq, first_ts: head.timestamp };
    return historyReset(seen, { ...info, state });
  }

  /**
   * Whether the bucket's stream leader holds a write under `prefix` after revision `after`, at or
   * below `upTo` (a message get, which the leader alone answers). A bucket on one replica has no
   * replica to lag.
   */
  async #leaderHolds(prefix: StorePrefix, after: number, upTo: number): Promise<boolean> {
    if (after >= upTo || this.oneServer || this.entries.direct) return false;
    const query = { seq: after + 1, next_by_subj: `$KV.${this.entries.name}.${filterOf(prefix)}` } as unknown as MsgRequest;
    const next = await this.jsm.streams.getMessage(`KV_${this.entries.name}`, query);
    return next !== null && next.seq <= upTo;
  }

  /** A stalled watch (its consumer's node died) is noticed after two missed heartbeats: within a quarter of the TTL. */
  get #heartbeatMs(): number {
    return Math.min(5_000, Math.max(250, Math.floor(this.ttlMs / 10)));
  }

  #stale(entry: { created: Date }): boolean {
    return entry.created.getTime() + this.ttlMs <= Date.now();
  }

  /**
   * The server's refusal of a request for want of permission (nats.js's PermissionViolationError,
   * itself or as the cause), typed and named as etcd's refusals are (`details.permission`): a
   * missing grant is no outage, and watches and keepAlive tell the two apart by it.
   */
  #refused(cause: unknown): OnexError | undefined {
    const denied = permissionViolation(cause);
    if (denied === undefined) return undefined;
    const subjects = [`$KV.${this.entries.name}.>`, `$KV.${this.marks.name}.>`, "$JS.API.>"];
    // A watch answers flow control there (publish), and every answer comes to an inbox (subscribe).
    const flowControl = `$JS.FC.KV_${this.entries.name}.>`;
    return new OnexError(
      ErrorCode.RegistryUnavailable,
      `NATS KV request failed: ${denied.message}. The registry's NATS user needs publish and subscribe permission on ${subjects.join(", ")}, publish permission on ${flowControl} and subscribe permission on _INBOX.>; see docs/registry.md`,
      { permission: denied.operation, subject: denied.subject, subjects },
      { cause },
    );
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof OnexError) throw cause;
      throw this.#refused(cause) ?? this.#storageFull(cause) ?? new OnexError(ErrorCode.RegistryUnavailable, `NATS KV request failed: ${(cause as Error).message}`, {}, { cause });
    }
  }

  /**
   * A write refused because the account's (or the server's) JetStream storage is used up. The
   * buckets share it with the account's other streams, which a zone's members publish into: with
   * no size limits on those, their events fill it, and no retry gets a registration through until
   * space is freed, so the refusal says how (`details.quota`, as etcd's says its own).
   */
  #storageFull(cause: unknown): OnexError | undefined {
    const message = (cause as Error)?.message ?? "";
    if (!/resource limits exceeded for account|insufficient resources/.test(message)) return undefined;
    return new OnexError(
      ErrorCode.RegistryUnavailable,
      `NATS KV request failed: ${message}. The JetStream storage the registry's buckets share with the account's other streams is used up: no new registration is stored, and heartbeats may be refused too, until space is freed; give the other streams size limits that leave the registry room with ${LIMIT_STREAM_BYTES}; see docs/registry.md`,
      { quota: true },
      { cause },
    );
  }
}
