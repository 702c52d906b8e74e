/**
 * The etcd registry adapter (`etcd3` client). Each entry is one key,
 * `<prefix><zone token>/<entity_type>/<id token>`, attached to its own lease whose TTL is
 * the registry TTL: a heartbeat is a lease keep-alive, and etcd itself deletes the key when
 * the lease lapses, so an expiry is exactly one delete event of exactly that key.
 *
 * etcd reports a lease expiry and a deliberate delete the same way, so a deregistration
 * writes a short-lived `#departed` marker beside the key in the same transaction; watchers
 * see the marker first and tell the two apart. (`#` never occurs in a token.) Any other
 * delete — a lapse, a revoked lease, `etcdctl del` — is an expiry.
 *
 * A key is alive only while it is attached to a lease granted for at most the registry TTL:
 * a store writer can put a key with no lease, or with a lease of a day, and neither must
 * keep a node alive. Such a key is skipped by reads and is an expiry to watchers. A lease's
 * granted TTL is remembered for one TTL: a writer can revoke a lease and grant its id again
 * for longer, and must gain no more by it than by granting a lease of the TTL. High-water
 * marks live under `<prefix without its last "/">#marks/`, outside the entries' prefix,
 * without a lease.
 *
 * On an etcd with authentication, the user therefore needs both prefixes: `read` on each to
 * resolve, list and watch, `readwrite` on each to register and heartbeat (docs/registry.md).
 * A role granted the entries' prefix alone has every request touching a mark refused; each
 * such refusal is an ONEX_E_REGISTRY_UNAVAILABLE naming the permission and both prefixes
 * (`details.permission`, `details.prefixes`), and the registry checks the grant as it opens.
 * A registry told its zones checks, and needs, only each zone's two prefixes: a role can be kept
 * to one zone's keys, and its nodes off every other zone's entries, marks and leases.
 * The marks stay where they are (no migration): a watch of a user granted the two prefixes
 * alone, who may not watch the one range over both, watches each prefix apart.
 *
 * etcd3 1.1.2 stalls every later watch of a client once etcd refuses one as it is created: the
 * watches of such a client start again on a new client of their own (see #giveUpWatchClient).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { readFileSync } from "node:fs";
import type { Etcd3, IKeyValue, IOptions, Range, Watcher } from "etcd3";
import { ErrorCode, OnexError } from "../errors.js";
import type { TlsFiles } from "../tls-files.js";
import type { CanonicalAddress } from "./address.js";
import { ChangeQueue } from "./change-queue.js";
import { dropAnswersForNoWatcher } from "./etcd-watch-answers.js";
import { parsePathKey, pathKeyOf, pathPrefixOf } from "./store-key.js";
import { MAX_REGISTRATION_CHARS, type RegistryStore, type StoreChange, StoredMark, StorePrefix, StoredSlot, StoredValue, WrittenRevisions } from "./registry.js";
import { forgetOldest } from "../forget-oldest.js";
import { warnUnawaited } from "./unawaited-warning.js";

/** Options of the etcd adapter. */
export interface EtcdStoreOptions {
  /** Client URLs (`http://host:2379`). */
  hosts: string[];
  /** Key prefix (default `/onex/registry/`). */
  prefix?: string;
  ttlMs: number;
  /** How long one call may take before the registry counts as unavailable (default 5 s). */
  callTimeoutMs?: number;
  /** Told once per key and lease of a key a read skips as not alive by the TTL rule (on no lease, or a lease granted for longer than the TTL), and when a watch loses its connection and has it back. */
  logger?: { warn(message: string, details?: Record<string, unknown>): void };
  /** A user and password, for an etcd with authentication enabled. */
  user?: string;
  pass?: string;
  /** PEM files for TLS (hosts `https://`): the CA of etcd's certificate, and a client certificate and key for an etcd that verifies clients. */
  tls?: TlsFiles;
  /**
   * The zones the registry serves (`openRegistry`'s `zones`): the check as it opens reads only
   * their keys, so that a role granted those zones' prefixes alone opens it (docs/registry.md).
   */
  zones?: readonly string[];
}

/**
 * etcd3's own retry (up to three attempts of an error it calls recoverable, on another host),
 * except for an answer too large, which comes back the same every time, and a request whose
 * deadline passed: it may have been applied, and a transaction sent again then fails its
 * compare, which `write` takes for a lost race, revoking the lease the entry just written hangs
 * on. Such a failure is the caller's to retry (register, heartbeat).
 */
const retryUnlessLate = {
  async execute<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt === 3 || !etcd.isRecoverableError(error as Error) || error instanceof etcd.GRPCDeadlineExceededError || error instanceof etcd.GRPCResourceExhastedError) throw error;
      }
    }
  },
} as unknown as NonNullable<IOptions["faultHandling"]>["global"];

/** What one etcd answer may hold (gRPC's default is 4 MiB); a prefix is read in pages below it. */
const MAX_ANSWER_BYTES = 64 << 20;
/** Keys a page of a prefix read asks for: a registry's entries are about a kilobyte each. */
const PAGE_KEYS = 1_000;
/** Keys a page asks for after one came back too large: 32 of etcd's largest values (1.5 MiB by default) fit an answer. */
const SMALL_PAGE_KEYS = 32;

/** Lease lookups a list has in flight at once. */
const LEASE_LOOKUPS = 32;

/** What an operation needs of the etcd user on the registry's prefixes. */
type Permission = "read" | "readwrite";

const DEPARTED = "#departed";
// Long enough for every watcher to see it, short enough not to pile up.
const DEPARTED_TTL_S = 30;

/**
 * The etcd client package, loaded when an etcd registry is first opened (loadEtcdClient), not as
 * this module is: a service that bundles the registry's entry point and reads a nats:// registry
 * alone neither installs etcd3 nor has a bundle that fails to start without it.
 */
let etcd: typeof import("etcd3");

/** Loads the etcd client package; fails as its import fails (open-registry.ts names what to install). */
export async function loadEtcdClient(): Promise<void> {
  etcd ??= await import("etcd3");
}

/** Connects to etcd and checks it answers. */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<RegistryStore> {
  await loadEtcdClient();
  const callTimeoutMs = options.callTimeoutMs ?? 5_000;
  // Every request but the watch and the lease keep-alive streams answers within the timeout or
  // fails: without a deadline, an etcd that accepts connections and never answers held every
  // command forever.
  const clientOptions: IOptions = {
    hosts: options.hosts,
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: { global: retryUnlessLate },
    grpcOptions: { "grpc.max_receive_message_length": MAX_ANSWER_BYTES },
    ...(options.user !== undefined ? { auth: { username: options.user, password: options.pass ?? "" } } : {}),
    ...(options.tls !== undefined ? { credentials: tlsCredentials(options.tls) } : {}),
  };
  const client = dropAnswersForNoWatcher(new etcd.Etcd3(clientOptions));
  const store = new EtcdStore(client, options.prefix ?? "/onex/registry/", options.ttlMs, callTimeoutMs, options.logger, () => dropAnswersForNoWatcher(new etcd.Etcd3(clientOptions)), options.zones);
  try {
    await store.ping();
  } catch (cause) {
    client.close();
    if (cause instanceof etcd.EtcdPermissionDeniedError) throw store.unavailable(cause, "read", `etcd at ${options.hosts.join(", ")} refused the registry's first read`);
    throw new OnexError(ErrorCode.RegistryUnavailable, `cannot reach etcd at ${options.hosts.join(", ")}: ${(cause as Error).message}`, { hosts: options.hosts }, { cause });
  }
  return store;
}

/** Characters of the marks one watch holds (about 13,000 registrations' worth), beside the count of 10,000. */
const MARK_CHARS_HELD = 16 * 1_024 * 1_024;

class EtcdStore implements RegistryStore {
  readonly kind = "etcd";
  readonly #ttlSeconds: number;
  readonly #markPrefix: string;
  /** Granted TTL (seconds) per lease id, and when it was learnt (Date.now()). */
  readonly #grantedTtl = new Map<string, { seconds: number; at: number }>();
  readonly #logger: EtcdStoreOptions["logger"];
  /** Keys (with their lease) a read was told are not alive, so each is said once. */
  readonly #toldNotAlive = new Set<string>();
  /**
   * The client watches are made on: at first the one every request goes through (no second
   * connection), then, once etcd refused a watch as it was created on it, one of their own. etcd3
   * 1.1.2 creates a client's watches one after another, and one etcd refuses as it is created (its
   * answer both "created" and "canceled") is never taken off that queue: the client creates no
   * other watch for good (#giveUpWatchClient).
   */
  #watchClient: Etcd3 | undefined;
  /** What each start of a watch made on a watch client does when that client is given up. */
  readonly #onWatchClientLost = new Map<Etcd3, Set<() => void>>();
  readonly #newClient: () => Etcd3;
  /** The zones the registry serves, when it was told them: the keys the open check reads. */
  readonly #zones: readonly string[] | undefined;
  #closed = false;

  constructor(
    readonly client: Etcd3,
    readonly prefix: string,
    readonly ttlMs: number,
    readonly callTimeoutMs: number,
    logger: EtcdStoreOptions["logger"],
    newClient: () => Etcd3,
    zones?: readonly string[],
  ) {
    this.#logger = logger;
    this.#newClient = newClient;
    this.#zones = zones;
    this.#watchClient = client;
    // etcd leases count whole seconds; round up so a node is never expired early.
    this.#ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1_000));
    this.#markPrefix = `${prefix.replace(/\/$/, "")}#marks/`;
  }

  /**
   * One read of each prefix (a transaction is refused unless every read in it is allowed): a user
   * whose role lacks either is told as the registry opens, not by one operation after another.
   * A registry serving given zones reads each zone's two prefixes instead: a role granted those
   * alone runs its nodes, and is kept out of every other zone's keys.
   */
  async ping(): Promise<void> {
    for (const [entries, marks] of this.#checkedPrefixes()) {
      await this.client.kv.txn({ compare: [], success: [await this.client.get(entries).op(), await this.client.get(marks).op()], failure: [] });
    }
  }

  /** The entries' and the marks' prefix of each zone the registry serves, or the whole two. */
  #checkedPrefixes(): [string, string][] {
    // No zone at all still asks etcd once: the check is also whether it answers.
    if (this.#zones === undefined || this.#zones.length === 0) return [[this.prefix, this.#markPrefix]];
    return this.#zones.map((zone) => [pathPrefixOf(this.prefix, { zone }), pathPrefixOf(this.#markPrefix, { zone })]);
  }

  keyOf(key: CanonicalAddress): string {
    return pathKeyOf(this.prefix, key);
  }

  parseKey(raw: string): CanonicalAddress | undefined {
    return parsePathKey(this.prefix, raw);
  }

  async read(key: CanonicalAddress): Promise<StoredSlot> {
    const k = this.keyOf(key);
    return this.#call("read", async () => {
      // One transaction of two reads: entry and mark in one round trip, at one revision.
      const txn = await this.client.kv.txn({ compare: [], success: [await this.client.get(k).op(), await this.client.get(this.#markKeyOf(key)).op()], failure: [] });
      const raw = txn.responses[0]?.response_range.kvs[0];
      const mark = txn.responses[1]?.response_range.kvs[0];
      return {
        ...(raw !== undefined && (await this.#alive(raw)) ? { stored: { key, value: raw.value.toString(), revision: raw.mod_revision } } : {}),
        revision: raw?.mod_revision ?? "",
        ...(mark !== undefined ? { mark: { value: mark.value.toString(), revision: mark.mod_revision } } : {}),
      };
    });
  }

  async write(key: CanonicalAddress, value: string, expected: { revision: string; mark: string }, writeMark: boolean): Promise<WrittenRevisions | undefined> {
    const k = this.keyOf(key);
    const markKey = this.#markKeyOf(key);
    return this.#call("readwrite", async () => {
      const granted = await this.client.leaseClient.leaseGrant({ TTL: this.#ttlSeconds, ID: 0 });
      // This store granted it, so its TTL is known: a read of the entry need not ask.
      this.#rememberGranted(granted.ID, Number(granted.TTL));
      // One transaction: both revisions compared (mod_revision 0 is etcd's "does not exist"), the
      // previous value read for its lease, then the mark and the entry written at one revision.
      const result = await this.client
        .if(k, "Mod", "==", expected.revision === "" ? 0 : expected.revision)
        .and(markKey, "Mod", "==", expected.mark === "" ? 0 : expected.mark)
        .then(this.client.get(k), ...(writeMark ? [this.client.put(markKey).value(value)] : []), this.client.put(k).value(value).lease(granted.ID))
        .commit();
      // The old lease only ever held this key; the new one holds it now (or, on a lost race, nothing).
      // Revoking is housekeeping, not part of the write: it is not waited for.
      const stale = result.succeeded ? result.responses[0]?.response_range.kvs[0]?.lease : granted.ID;
      if (stale !== undefined && stale !== "0") void this.client.leaseClient.leaseRevoke({ ID: stale }).catch(() => undefined);
      if (!result.succeeded) return undefined;
      const revision = result.header.revision;
      return { revision, ...(writeMark ? { markRevision: revision } : {}) };
    });
  }

  async get(key: CanonicalAddress): Promise<StoredValue | undefined> {
    return this.#call("read", async () => {
      const raw = await this.#raw(this.keyOf(key));
      return raw !== undefined && (await this.#alive(raw)) ? { key, value: raw.value.toString(), revision: raw.mod_revision } : undefined;
    });
  }

  async heartbeat(key: CanonicalAddress, revision: string): Promise<boolean> {
    // readwrite: a node that heartbeats registers again after a lapse.
    return this.#call("readwrite", async () => {
      const raw = await this.#raw(this.keyOf(key));
      if (raw === undefined || raw.mod_revision !== revision || !(await this.#alive(raw))) return false;
      const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + this.callTimeoutMs });
      try {
        const response = await new Promise<{ TTL: string }>((resolve, reject) => {
          stream.on("data", resolve);
          stream.on("error", reject);
          stream.write({ ID: raw.lease });
        });
        return Number(response.TTL) > 0;
      } finally {
        stream.end();
      }
    });
  }

  async getMark(key: CanonicalAddress): Promise<StoredMark | undefined> {
    const raw = await this.#call("read", () => this.#raw(this.#markKeyOf(key)));
    return raw === undefined ? undefined : { value: raw.value.toString(), revision: raw.mod_revision };
  }

  async delete(key: CanonicalAddress, revision?: string): Promise<boolean> {
    const k = this.keyOf(key);
    return this.#call("readwrite", async () => {
      const raw = await this.#raw(k);
      if (raw === undefined || (revision !== undefined && raw.mod_revision !== revision)) return false;
      const { ID: markerLease } = await this.client.leaseClient.leaseGrant({ TTL: DEPARTED_TTL_S, ID: 0 });
      // Marker first, then the delete, in one transaction: watchers see both at one revision, in this order.
      const result = await this.client
        .if(k, "Mod", "==", raw.mod_revision)
        .then(this.client.put(k + DEPARTED).value("").lease(markerLease), this.client.delete().key(k))
        .commit();
      // A lost compare wrote no marker: its lease is revoked rather than left to run out. The entry's
      // lease only once the entry was deleted: a value written since may hold that lease still.
      const revoke = result.succeeded ? raw.lease : markerLease;
      if (revoke !== "0") await this.client.leaseClient.leaseRevoke({ ID: revoke }).catch(() => undefined);
      return result.succeeded;
    });
  }

  async list(prefix: StorePrefix): Promise<(StoredValue & { mark: Promise<StoredMark | undefined> })[]> {
    return this.#call("read", async () => {
      const { kvs } = await this.#readPrefix(this.#scope(prefix));
      const listed: { kv: IKeyValue; key: CanonicalAddress }[] = [];
      for (const kv of kvs) {
        const key = this.parseKey(kv.key.toString());
        if (key !== undefined && this.#inScope(key, prefix)) listed.push({ kv, key });
      }
      // The marks with the entries, a transaction of gets at a time: the reader read them one
      // request per entry, one after another (10,000 entries: 10,000 round trips).
      const marks = await this.#marksOf(listed.map(({ key }) => key));
      // Leases have no batched lookup: LEASE_LOOKUPS at once, where one at a time left the list
      // waiting on 10,000 round trips in turn.
      const alive = await inTurns(listed, LEASE_LOOKUPS, ({ kv }) => this.#alive(kv));
      // A key whose lease is gone may have been registered again since the range was read: register
      // revokes the old lease as it writes the new one, and the node, alive, was left out of the
      // list (a list of 10,000 nodes reads for seconds). Such a key is read again, with its mark.
      const again = await inTurns(
        listed.filter((_, i) => !alive[i]),
        LEASE_LOOKUPS,
        async ({ kv, key }) => {
          const slot = await this.read(key);
          return slot.stored !== undefined && slot.stored.revision !== kv.mod_revision ? { ...slot.stored, mark: Promise.resolve(slot.mark) } : undefined;
        },
      );
      const values: (StoredValue & { mark: Promise<StoredMark | undefined> })[] = [];
      for (const [i, { kv, key }] of listed.entries()) {
        if (alive[i]) values.push({ key, value: kv.value.toString(), revision: kv.mod_revision, mark: Promise.resolve(marks[i]) });
      }
      for (const value of again) if (value !== undefined) values.push(value);
      return values;
    });
  }

  /**
   * The marks of `keys`, read after their entries (a mark as of then or later), SMALL_PAGE_KEYS
   * gets a transaction: within etcd's 128 operations a transaction, and an answer within
   * MAX_ANSWER_BYTES however large a store writer made the marks.
   */
  async #marksOf(keys: CanonicalAddress[]): Promise<(StoredMark | undefined)[]> {
    const marks: (StoredMark | undefined)[] = [];
    for (let i = 0; i < keys.length; i += SMALL_PAGE_KEYS) {
      const gets = await Promise.all(keys.slice(i, i + SMALL_PAGE_KEYS).map((key) => this.client.get(this.#markKeyOf(key)).op()));
      const txn = await this.client.kv.txn({ compare: [], success: gets, failure: [] });
      for (const response of txn.responses) {
        const raw = response.response_range.kvs[0];
        marks.push(raw === undefined ? undefined : { value: raw.value.toString(), revision: raw.mod_revision });
      }
    }
    return marks;
  }

  watch(prefix: StorePrefix, signal: AbortSignal): AsyncIterable<StoreChange> {
    const queue = new ChangeQueue<StoreChange>(signal);
    const scope = this.#scope(prefix);
    const markScope = pathPrefixOf(this.#markPrefix, prefix);
    // The keys a `#departed` marker was put beside at `departedAt`: a deregistration puts its marker
    // and deletes its key in one transaction, at one revision, so only a delete at that revision
    // is one. (A marker a writer puts alone, ahead of a node's lapse, must not make it a departure.)
    let departed = new Set<string>();
    let departedAt = "";
    // Keys reported alive, at the revision reported, so that one losing its lease (or put without
    // one) is an expiry exactly once.
    const alive = new Map<string, string>();
    // The marks in scope written since the watch began, by entry key. One watch covers entries and
    // marks, and etcd sends one watch's events in revision order (a register transaction's mark ahead
    // of its entry), so the mark held here when an entry arrives is the mark at the entry's revision:
    // no read. A mark not held here (written before the watch, or dropped) is read by the reader.
    const marks = new Map<string, StoredMark>();
    // Characters of the marks held: a store writer's marks of a megabyte, ten thousand of them, were held whole.
    let markChars = 0;
    const forgetMark = (entryKey: string) => {
      const held = marks.get(entryKey);
      if (held === undefined) return;
      marks.delete(entryKey);
      markChars -= held.value.length;
    };
    // Whether entries and marks are watched apart (see `start`): their events then come in no one
    // order, and a mark held is the mark at an entry's revision only when it is at least as new.
    let split = false;
    // Whether the first snapshot's end was told (`synced`).
    let synced = false;
    // Whether a snapshot was handed to the reader (a start made again restates the next one).
    let shown = false;
    // Changes are pushed in the order etcd sent them; the snapshot's each wait for the liveness of the one before.
    let chain = Promise.resolve();
    // Whether the logger was told the watch lost etcd, and not yet that it has it back: said once
    // each way, a watch has nothing to print while etcd is away, and a watching service fell
    // silent through an outage, which its owner could not tell from a quiet registry. Whatever
    // the watch was doing when etcd went: streaming, reading a snapshot, or waiting for etcd to
    // confirm a watcher it asked for (which waits through an outage).
    let lost = false;
    const sayLost = (error: unknown) => {
      if (lost || signal.aborted) return;
      lost = true;
      if (this.#logger) warnUnawaited(this.#logger, `onex registry: the watch lost its connection to etcd (${(error as Error)?.message ?? String(error)}); reconnecting, it resumes after the last change it read`);
    };
    const sayBack = () => {
      if (!lost || signal.aborted) return;
      lost = false;
      if (this.#logger) warnUnawaited(this.#logger, "onex registry: the watch is connected to etcd again; resuming");
    };
    // `initial`: a value of the first snapshot; `restated`: of a snapshot read again after the watch
    // lost history (a change where it differs); both wait for their lease to be looked up.
    const onPut = (kv: IKeyValue, initial: boolean, restated = false) => {
      const raw = kv.key.toString();
      const key = this.parseKey(raw);
      if (key === undefined || !this.#inScope(key, prefix)) return;
      const held = marks.get(raw);
      // Split, an older mark may be the one before a newer one still on its way (register writes
      // the mark with its entry, at one revision): the reader reads it instead.
      const mark = held !== undefined && (!split || BigInt(held.revision) >= BigInt(kv.mod_revision)) ? held : undefined;
      const put = { op: "put" as const, stored: { key, value: kv.value.toString(), revision: kv.mod_revision }, initial, ...(mark === undefined ? {} : { mark: Promise.resolve(mark) }) };
      const known = this.#knownLiveness(kv);
      // A cached "alive" is not taken for good either: a writer can revoke a lease and grant its id again for a day.
      if (known === true || (!initial && !restated && known === undefined)) {
        // A put on a lease this process has not seen: reported alive as it arrives, with its lease
        // looked up meanwhile. etcd takes no put on a lease that does not exist, so the key is alive
        // now; a lease granted for longer than the TTL only must not keep it alive, and such a key is
        // reported expired once the lookup answers. A writer able to put it could as well put it on
        // a lease of the TTL, alive for a whole TTL: waiting for the lookup (one round trip, the most
        // of a watch's latency) would keep out nothing a writer cannot do otherwise.
        chain = chain.then(() => {
          alive.set(raw, kv.mod_revision);
          queue.push(put);
          // Asked from the loop's next turn, once the reader has verified the entry: the client's
          // work to send a request would otherwise come first.
          setImmediate(() =>
            void this.#confirmLease(kv.lease, signal).then((verdict) => {
              // A lease gone (revoked, lapsed) takes its key with it: that delete is the change, with its reason.
              if (verdict !== "too long" || alive.get(raw) !== kv.mod_revision) return;
              alive.delete(raw);
              queue.push({ op: "delete", key, reason: "expired" });
            }),
          );
        });
        return;
      }
      // The snapshot's leases are asked one at a time, as its entries are handed over, not thousands at once.
      chain = chain.then(async () => {
        const ok = known ?? (await this.#confirmLease(kv.lease, signal)) === "alive";
        const live = ok ? (alive.set(raw, kv.mod_revision), "alive") : alive.delete(raw) ? "expired" : "gone";
        queue.push({ ...put, live: Promise.resolve(live) });
      });
    };
    const onMark = (kv: IKeyValue, put: boolean) => {
      const key = parsePathKey(this.#markPrefix, kv.key.toString());
      if (key === undefined || (prefix.zone !== undefined && key.zone !== prefix.zone) || !this.#inScope(key, prefix)) return;
      const entryKey = this.keyOf(key);
      forgetMark(entryKey);
      // A mark longer than a registration may be is not held: the reader reads it, and refuses it.
      if (!put || kv.value.length > 3 * MAX_REGISTRATION_CHARS) return;
      const value = kv.value.toString();
      if (value.length > MAX_REGISTRATION_CHARS) return;
      // Bounded: a watch that runs for months sees a mark per registration; one dropped is read instead.
      while (marks.size > 0 && (marks.size >= 10_000 || markChars + value.length > MARK_CHARS_HELD)) {
        for (const [, forgotten] of forgetOldest(marks)) markChars -= forgotten.value.length;
      }
      marks.set(entryKey, { value, revision: kv.mod_revision });
      markChars += value.length;
    };
    // `again`: the watch is started over after etcd cancelled it (below), its snapshot read as changes.
    const start = async (again = false) => {
      // Snapshot, then watch from the next revision: nothing between the two is missed.
      const snapshot = await this.#readPrefix(scope);
      // A start made again after one that handed its snapshot over and then failed to make its
      // watch (etcd gone in between) compares, too: read as a first state, a key the first
      // snapshot showed and this one lacks was shown alive for good.
      if (again || shown) restate(snapshot.kvs);
      else for (const kv of snapshot.kvs) onPut(kv, true);
      shown = true;
      const from = String(Number(snapshot.revision) + 1);
      // One range over the entries and the marks in scope (whatever else lies between them is
      // skipped), so that etcd sends their events in one revision order. A role granted the two
      // prefixes alone may not watch what lies between them, and etcd refuses that range: the
      // prefixes are then watched apart, for good (`split`), rather than not at all.
      const [entries, markRange] = [etcd.Range.prefix(scope), etcd.Range.prefix(markScope)];
      const union = new etcd.Range(Buffer.compare(entries.start, markRange.start) < 0 ? entries.start : markRange.start, Buffer.compare(entries.end, markRange.end) > 0 ? entries.end : markRange.end);
      let cancelled = false;
      const watchers: Watcher[] = [];
      const client = this.#watchClientNow();
      // This start's watchers, on a client given up because a watch was refused as it was created
      // (its queue of watches to create stalled for good: every watch on it would fall silent), are
      // made again on a new one, from a new snapshot compared with what the watch showed.
      const moveOff = () => {
        if (signal.aborted || cancelled) return;
        cancelled = true;
        stop();
        signal.removeEventListener("abort", stop);
        marks.clear();
        markChars = 0;
        void establish(true);
      };
      const release = this.#whenWatchClientLost(client, moveOff);
      const cancel = () => watchers.forEach((w) => void w.cancel().catch(() => undefined));
      const stop = () => {
        cancel();
        release();
      };
      // Each watcher is listened to for its connection as soon as it is made, before etcd confirms it:
      // etcd3 tells a watcher still waiting for its creation that the connection went, and one
      // whose creation waited through an outage (the snapshot already printed) said nothing of it.
      // etcd3's watch manager reconnects and resumes from the last revision it saw; marks held from
      // before a break are dropped all the same, in case the resumed watch skipped any.
      // Stopped with this start from then on: etcd3 retries a watcher waiting for its creation for
      // ever, even on a closed client, so one left behind kept a stopped watch's process running.
      const made = (watcher: Watcher) => {
        watchers.push(watcher);
        // Made after the start was stopped or cancelled (a split start makes its second once its
        // first is confirmed, which the stop waits for): the stop has run, so it is cancelled here.
        if (signal.aborted || cancelled) void watcher.cancel().catch(() => undefined);
        watcher.on("disconnected", (error: Error) => {
          // A watcher of a start that is over may still be told, as its cancellation waits for an answer.
          if (cancelled) return;
          marks.clear();
          markChars = 0;
          sayLost(error);
        });
        watcher.on("connected", () => {
          if (!cancelled) sayBack();
        });
      };
      // Each watcher is listened to for changes as it is created: one created ahead of the next sends its events meanwhile.
      const listen = (watcher: Watcher) => {
        // The snapshot's changes are all on the chain, ahead of any the watch sends (the entries' watcher is the first).
        // Once: a start whose second watcher failed to be created is made again, its first with it.
        if (!synced) {
          synced = true;
          chain = chain.then(() => queue.push({ op: "synced" }));
        }
        watcher.on("put", (kv: IKeyValue) => {
          const raw = kv.key.toString();
          if (raw.startsWith(markScope)) return onMark(kv, true);
          if (!raw.startsWith(scope)) return;
          if (raw.endsWith(DEPARTED)) {
            if (kv.mod_revision !== departedAt) [departed, departedAt] = [new Set(), kv.mod_revision];
            departed.add(raw.slice(0, -DEPARTED.length));
            return;
          }
          onPut(kv, false);
        });
        watcher.on("delete", (kv: IKeyValue) => {
          const raw = kv.key.toString();
          if (raw.startsWith(markScope)) return onMark(kv, false);
          const key = this.parseKey(raw);
          if (key === undefined || !this.#inScope(key, prefix)) return;
          chain = chain.then(() => {
            const wasAlive = alive.delete(raw);
            const reason = kv.mod_revision === departedAt && departed.delete(raw) ? "deregistered" : "expired";
            // A key that was never alive here (put without a lease) leaves no one to tell.
            if (wasAlive) queue.push({ op: "delete", key, reason });
          });
        });
        // etcd cancels a watch it cannot go on with: above all one resumed at a revision compacted
        // away (ErrCompacted, after an outage that outlasted the history kept), whose changes since
        // can no longer be read. etcd3 then emits "error" and drops the watch, which before had no
        // listener here: the watch reported nothing more, without a word. It is started over from
        // a new snapshot, compared with what the watch showed.
        // A cancellation for want of permission (a role revoked during an outage: the resumed watch
        // is refused) ends the watch with a typed error: read again, it would be refused for ever.
        watcher.on("error", (error: Error) => {
          // Split, both watchers are cancelled at a compaction: the watch starts over once, and the other is stopped.
          if (signal.aborted || cancelled) return;
          cancelled = true;
          stop();
          // This start is over: its watchers are no longer the watch's to stop (each start made anew added one more listener).
          signal.removeEventListener("abort", stop);
          // Refused as it was created (no id yet): etcd3 creates a watch's watchers again after a
          // reconnect, without the read that goes ahead of a creation here, and one refused so (a
          // grant revoked while the connection was down) stalled every other watch of the client.
          if (watcher.id === null) this.#giveUpWatchClient(client, error);
          if (refusal(error)) return queue.fail(this.unavailable(error, "read", "etcd refused the watch"));
          marks.clear();
          markChars = 0;
          if (this.#logger) warnUnawaited(this.#logger, `onex registry: etcd cancelled the watch (${error?.message ?? String(error)}), as it does one resumed at a revision it compacted away; reading the keys again, and reporting what changed meanwhile`);
          void establish(true);
        });
      };
      // A creation refused: the client is given up before the error goes on (this start, over, is not moved).
      const refusedAtCreation = (error: unknown) => {
        release();
        this.#giveUpWatchClient(client, error);
      };
      signal.addEventListener("abort", stop, { once: true });
      try {
        // The entries' range first: its watcher is the one the snapshot's `synced` waits for.
        if (split) await this.#watchAll(client, [entries, markRange], from, { made, listen, refusedAtCreation });
        else {
          try {
            await this.#watchAll(client, [union], from, { made, listen, refusedAtCreation });
          } catch (error) {
            if (!(error instanceof etcd.EtcdPermissionDeniedError) || this.#watchClient !== client) throw error;
            split = true;
            await this.#watchAll(client, [entries, markRange], from, { made, listen, refusedAtCreation });
          }
        }
      } catch (error) {
        signal.removeEventListener("abort", stop);
        release();
        // Moved to a new client meanwhile (its creation waited behind a refused one): the start made there goes on alone.
        if (cancelled) return;
        throw error;
      }
      // Stopped or cancelled while its watchers were made (a watcher failed while the next was made): none of this start is left running.
      if (signal.aborted || cancelled) stop();
    };
    // A snapshot read again: each value as a change where it differs from what the watch showed
    // (the reader passes over the same bytes), and each key shown alive that it no longer holds
    // reported gone: deregistered when its `#departed` marker is still there, expired otherwise.
    const restate = (kvs: IKeyValue[]) => {
      const held = new Set(kvs.map((kv) => kv.key.toString()));
      for (const kv of kvs) onPut(kv, false, true);
      chain = chain.then(() => {
        for (const raw of [...alive.keys()]) {
          if (held.has(raw)) continue;
          const key = this.parseKey(raw);
          alive.delete(raw);
          if (key !== undefined) queue.push({ op: "delete", key, reason: held.has(raw + DEPARTED) ? "deregistered" : "expired" });
        }
      });
    };
    // Until the first snapshot succeeds, keep trying: a watch may start while etcd restarts.
    const establish = async (again = false) => {
      while (!signal.aborted) {
        try {
          await start(again);
          return;
        } catch (error) {
          // Refused, not unreachable: trying again would be refused every 250 ms, without a word.
          if (refusal(error)) return queue.fail(error instanceof OnexError ? error : this.unavailable(error, "read", "etcd refused the watch"));
          sayLost(error);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    };
    void establish();
    return queue;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#watchClient !== this.client) this.#watchClient?.close();
    this.client.close();
  }

  #watchClientNow(): Etcd3 {
    // A watch start that read its snapshot as the store closed must not open a connection no one closes.
    if (this.#closed) throw new OnexError(ErrorCode.RegistryUnavailable, "the etcd registry is closed");
    return (this.#watchClient ??= this.#newClient());
  }

  /** Registers what a start of a watch on `client` does if that client is given up; returns what takes it off again. */
  #whenWatchClientLost(client: Etcd3, moveOff: () => void): () => void {
    let starts = this.#onWatchClientLost.get(client);
    if (starts === undefined) this.#onWatchClientLost.set(client, (starts = new Set()));
    starts.add(moveOff);
    return () => {
      starts.delete(moveOff);
      if (starts.size === 0 && this.#onWatchClientLost.get(client) === starts) this.#onWatchClientLost.delete(client);
    };
  }

  /**
   * A watch on `client` was refused as it was created: etcd3 creates none of the client's later
   * watches (nor those waiting behind it as a reconnect makes them again), which fell silent for
   * good, reporting nothing and no error. The other watches on it start again on a new client of
   * their own, and it is closed (the client of every other request only stops being used for
   * watches). The refused one itself ends as before (with the refusal, typed).
   */
  #giveUpWatchClient(client: Etcd3, cause: unknown): void {
    if (this.#watchClient !== client) return;
    this.#watchClient = undefined;
    const moving = [...(this.#onWatchClientLost.get(client) ?? [])];
    this.#onWatchClientLost.delete(client);
    if (this.#logger) warnUnawaited(this.#logger, `onex registry: etcd refused a watch as it was created (${(cause as Error)?.message ?? String(cause)}); etcd3 creates no other watch on that connection, so ${moving.length} other watch start${moving.length === 1 ? "s" : ""} again on a new one`);
    for (const moveOff of moving) moveOff();
    if (client !== this.client) client.close();
  }

  /**
   * Watchers of `ranges` from revision `from` on `client`, each created once the one before is and
   * handed to `listen` at once; none left running when one is refused. Each range is read first
   * (one key name): etcd refuses a watch as it would a read of its range, and a watch it refuses as
   * it is created stalls etcd3's queue of watches to create (1.1.2 waits for that one's creation
   * for ever), so that every later watch of this client waited without a word. One refused all the
   * same (a grant revoked between the read and the creation) is told to `refusedAtCreation`.
   * Each watcher is handed to `made` as soon as it is made, before etcd confirms it.
   */
  async #watchAll(client: Etcd3, ranges: Range[], from: string, hooks: { made: (watcher: Watcher) => void; listen: (watcher: Watcher) => void; refusedAtCreation: (error: unknown) => void }): Promise<void> {
    const watchers: Watcher[] = [];
    try {
      for (const range of ranges) {
        await client.getAll().inRange(range).limit(1).keys();
        // What etcd3's create() does, with the watcher in hand while it waits: watcher() makes it
        // and asks etcd for it; create() hands it over only once etcd confirmed it.
        const watcher = client.watch().inRange(range).startRevision(from).watcher();
        hooks.made(watcher);
        try {
          await created(watcher, () => {
            watchers.push(watcher);
            hooks.listen(watcher);
          });
        } catch (error) {
          // Rejected only when etcd refused the watch as it was created (a grant revoked since the read).
          hooks.refusedAtCreation(error);
          throw error;
        }
      }
    } catch (error) {
      for (const w of watchers) void w.cancel().catch(() => undefined);
      throw error;
    }
  }

  /** Whether the key hangs on a lease granted for at most the registry TTL (etcd deletes it when that lapses). */
  async #alive(kv: IKeyValue): Promise<boolean> {
    const alive = this.#knownLiveness(kv) ?? (await this.#lookUpLease(kv.lease)) === "alive";
    if (!alive) this.#tellNotAlive(kv);
    return alive;
  }

  /**
   * Says why a read skips a key whose lease did not just lapse: a key on no lease, or on a lease
   * granted for longer than this registry's TTL. Both are a store writer's doing (the TTL rule
   * keeps them from holding a node alive), or a registry opened with a shorter `?ttl=` than its
   * nodes register with, which would otherwise see no entry at all without a word.
   */
  #tellNotAlive(kv: IKeyValue): void {
    const granted = this.#grantedTtl.get(kv.lease)?.seconds;
    const leased = kv.lease !== "0" && kv.lease !== "";
    if (this.#logger === undefined || (leased && !(granted !== undefined && granted > this.#ttlSeconds))) return;
    const raw = kv.key.toString();
    const told = `${raw} ${kv.lease}`;
    if (this.#toldNotAlive.has(told)) return;
    if (this.#toldNotAlive.size >= 10_000) this.#toldNotAlive.clear();
    this.#toldNotAlive.add(told);
    const why = leased ? `its lease was granted for ${granted} s, longer than this registry's TTL of ${this.#ttlSeconds} s` : "it is on no lease";
    this.#logger.warn(`onex registry: ${raw} is not alive by the TTL rule, as ${why}: reads skip it. A registry opened with a shorter ?ttl= than its nodes register with sees none of them; open it with theirs.`, { key: raw, lease: kv.lease, ...(granted === undefined ? {} : { grantedSeconds: granted }), ttlSeconds: this.#ttlSeconds });
  }

  /** Whether the key is alive, when that is known without asking etcd: no lease, or a lease looked up within the last TTL. */
  #knownLiveness(kv: IKeyValue): boolean | undefined {
    if (kv.lease === "0" || kv.lease === "") return false;
    const granted = this.#grantedTtl.get(kv.lease);
    if (granted === undefined || granted.at + this.ttlMs <= Date.now()) return undefined;
    return granted.seconds > 0 && granted.seconds <= this.#ttlSeconds;
  }

  async #lookUpLease(lease: string): Promise<"alive" | "too long" | "gone"> {
    const answer = await this.client.leaseClient.leaseTimeToLive({ ID: lease, keys: false });
    // TTL -1: the lease is gone, and etcd is about to delete the key (or a writer reused a dead id).
    if (Number(answer.TTL) < 0) return "gone";
    const granted = Number(answer.grantedTTL);
    this.#rememberGranted(lease, granted);
    return granted > 0 && granted <= this.#ttlSeconds ? "alive" : "too long";
  }

  /**
   * A watched key's lease, looked up until etcd answers (a watch outlives leader elections and
   * restarts); undefined once the watch stops. A lookup that failed once must not hide a live
   * node from the watch for good, nor leave a long lease standing as alive.
   */
  async #confirmLease(lease: string, signal: AbortSignal): Promise<"alive" | "too long" | "gone" | undefined> {
    for (let wait = 250; !signal.aborted; wait = Math.min(2 * wait, 2_000)) {
      try {
        return await this.#lookUpLease(lease);
      } catch {
        await sleep(wait, undefined, { signal }).catch(() => undefined);
      }
    }
    return undefined;
  }

  #rememberGranted(lease: string, ttlSeconds: number): void {
    // Bounded: a long-lived watcher sees a new lease per registration.
    if (this.#grantedTtl.size >= 10_000) this.#grantedTtl.clear();
    this.#grantedTtl.set(lease, { seconds: ttlSeconds, at: Date.now() });
  }

  #markKeyOf(key: CanonicalAddress): string {
    return pathKeyOf(this.#markPrefix, key);
  }

  async #raw(k: string): Promise<IKeyValue | undefined> {
    const response = await this.client.get(k).exec();
    return response.kvs[0];
  }

  #scope(prefix: StorePrefix): string {
    return pathPrefixOf(this.prefix, prefix);
  }

  #inScope(key: CanonicalAddress, prefix: StorePrefix): boolean {
    return prefix.entityType === undefined || key.entityType === prefix.entityType;
  }

  /**
   * Every key under `scope` at one revision, a page at a time: each page is one request within
   * the call timeout and one answer within MAX_ANSWER_BYTES, however much the prefix holds (a
   * large registry, or a store writer's large values). After a page too large, the rest of the
   * read asks for small pages: one failure, where halving again and again would open etcd3's
   * circuit breaker (three failures running) and refuse every request for 5 s.
   */
  async #readPrefix(scope: string): Promise<{ kvs: IKeyValue[]; revision: string }> {
    const range = etcd.Range.prefix(scope);
    const kvs: IKeyValue[] = [];
    let revision: string | undefined;
    let from = range.start;
    let pageKeys = PAGE_KEYS;
    for (;;) {
      const read = this.client.getAll().inRange(new etcd.Range(from, range.end)).sort("Key", "Ascend").limit(pageKeys);
      let page;
      try {
        page = await (revision === undefined ? read : read.revision(revision)).exec();
      } catch (error) {
        if (!(error instanceof etcd.GRPCResourceExhastedError) || pageKeys === SMALL_PAGE_KEYS) throw error;
        pageKeys = SMALL_PAGE_KEYS;
        continue;
      }
      revision ??= page.header.revision;
      kvs.push(...page.kvs);
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) return { kvs, revision };
      // The next key after the last one read.
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  /** `need`: the permission the operation needs on both prefixes, named when etcd refuses it. */
  async #call<T>(need: Permission, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof OnexError) throw cause;
      throw this.unavailable(cause, need, "etcd request failed");
    }
  }

  /**
   * A failed request as ONEX_E_REGISTRY_UNAVAILABLE. A refusal for want of permission names the
   * grant that lets it through, in `details` too: before, a role granted the entries' prefix
   * alone read as an outage, and a watch retried it without a word for as long as it ran.
   */
  unavailable(cause: unknown, need: Permission, what: string): OnexError {
    const message = `${what}: ${(cause as Error).message}`;
    // etcd's space quota is the whole cluster's, and any user who may write can use it up: every
    // write of every prefix is then refused until an operator frees space, which no retry does.
    if (/database space exceeded/.test(message)) {
      return new OnexError(
        ErrorCode.RegistryUnavailable,
        `${message}. etcd's space quota is used up (its NOSPACE alarm is raised): it takes no registration or deregistration, from any user, until an operator frees space (compact, defragment, then \`etcdctl alarm disarm\`); heartbeats and reads go on; see docs/registry.md`,
        { quota: true },
        { cause },
      );
    }
    if (!(cause instanceof etcd.EtcdPermissionDeniedError)) return new OnexError(ErrorCode.RegistryUnavailable, message, {}, { cause });
    const prefixes = [this.prefix, this.#markPrefix];
    const grant = (p: string) => `etcdctl role grant-permission <role> --prefix=true ${need} '${p}'`;
    const grants = prefixes.map(grant).join(" and ");
    // A registry serving given zones was checked on their prefixes alone, which is all its nodes need.
    const zonePrefixes = this.#zones === undefined || this.#zones.length === 0 ? undefined : this.#checkedPrefixes().flat();
    const zoned = zonePrefixes === undefined ? "" : `; a registry opened with \`zones\`, reading and writing only those zones, needs it only on each zone's two prefixes, as \`${zonePrefixes.map(grant).join(" and ")}\` grant`;
    return new OnexError(
      ErrorCode.RegistryUnavailable,
      `${message}. The registry's etcd user needs ${need} permission on the prefix ${prefixes[0]} (entries) and on the prefix ${prefixes[1]} (high-water marks), as \`${grants}\` grant (read to resolve, list and watch; readwrite to register, heartbeat and deregister)${zoned}; see docs/registry.md`,
      { permission: need, prefixes, ...(zonePrefixes === undefined ? {} : { zonePrefixes }) },
      { cause },
    );
  }
}

/** etcd3's TLS credentials from PEM files; its client needs the CA named. */
function tlsCredentials(tls: TlsFiles): { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } {
  if (tls.caFile === undefined) throw new OnexError(ErrorCode.RegistryUrl, "an etcd reached over TLS needs the CA of its certificate (tls_ca=)");
  return {
    rootCertificate: readFileSync(tls.caFile),
    ...(tls.keyFile === undefined ? {} : { privateKey: readFileSync(tls.keyFile) }),
    ...(tls.certFile === undefined ? {} : { certChain: readFileSync(tls.certFile) }),
  };
}

/** `fn` of each item, at most `limit` at a time, the results in the items' order. */
async function inTurns<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Whether etcd refused a request for want of permission or credentials (directly, or as an OnexError's cause). */
function refusal(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof etcd.EtcdPermissionDeniedError || e instanceof etcd.EtcdAuthenticationFailedError || e instanceof etcd.EtcdRoleNotGrantedError) return true;
  }
  return false;
}

/**
 * Resolves once etcd confirmed `watcher` (its "connected"), calling `confirmed` as it is told,
 * in the same turn: etcd may cancel a watch right after confirming it (one resumed at a revision
 * compacted away), and an "error" in the gap before a listener of it was on was thrown as an
 * unhandled event (etcd3's create() left a listener on that dropped it instead). Rejects with
 * the error when etcd refused the watch as it was created.
 */
function created(watcher: Watcher, confirmed: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onConnected = () => {
      watcher.off("error", onError);
      confirmed();
      resolve();
    };
    const onError = (error: Error) => {
      watcher.off("connected", onConnected);
      reject(error);
    };
    watcher.once("connected", onConnected);
    watcher.once("error", onError);
  });
}
