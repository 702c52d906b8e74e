/**
 * The registry's trust layer over any adapter's store. A node id derives from the node's
 * key, build and zone, so storing the identity record beside the signed entry makes every
 * stored entry self-certifying: a reader re-derives the id from the identity, checks the
 * address it asked for names that id, and verifies the entry's signature with the
 * identity's key. Whoever can write to the store can delete entries, but cannot forge or
 * alter one without that showing up as ONEX_E_ENTRY_TAMPERED.
 *
 * A valid entry signed earlier can still be written back (a replay), so every read also
 * checks freshness: an entry older than the newest this registry has seen at the address,
 * or than the address's high-water mark (the newest registration, kept by the store without
 * a TTL and verified like an entry), is ONEX_E_ENTRY_TAMPERED with cause ONEX_E_REPLAY.
 * `register` writes the mark before the entry (or with it), so a watcher that sees an entry
 * finds its mark already there, and an entry with no mark was not written by `register`.
 */
import { createHash } from "node:crypto";
import { retiredKeySet } from "../trust/retired-keys.js";
import { checkFunction, checkObject, checkPositive, checkSignal } from "../option-check.js";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { isKeyId, type PublicKey } from "../trust/keys.js";
import { PolicyMode } from "../trust/policy.js";
import type { NodeIdentityRecord, RegistryEntryRecord } from "../trust/records.js";
import { verifyRegistryEntryOfNode } from "../trust/registry-entry.js";
import { buildAddress, parseAddress, type CanonicalAddress } from "./address.js";
import { copyJson } from "./copy-json.js";
import { checkFilterValues, MAX_REGISTRATION_CHARS, matchesFilter, type Registry, type RegistryChange, type RegistryFilter, type RegistryOptions, type RegistryStore, type ResolvedEntry, type StoreChange, type StoredMark, type StoredValue, type WatchOptions } from "./registry.js";
import { RegistryView } from "./registry-view.js";
import { forgetOldest } from "../forget-oldest.js";
import { assertZoneId } from "../zone-id.js";

/** Default lifetime of an entry without a heartbeat. */
export const DEFAULT_TTL_MS = 10_000;

// Bumped if the stored form ever changes, so an old reader refuses rather than misreads.
const STORED_FORMAT = 1;
const CAS_ATTEMPTS = 5;

interface StoredRegistration {
  format: number;
  entry: RegistryEntryRecord;
  identity: NodeIdentityRecord;
}

/** The newest registration seen at an address. */
interface Newest {
  at: number;
  signature: string;
}

/** What verifying a stored registration proved, with copies of its entry and identity that are never handed out (see handOut). */
type VerifiedRegistration = Pick<ResolvedEntry, "address" | "parts" | "key" | "entry" | "identity">;

/** A registration verified at one revision of one slot (an address's entry or its mark). */
interface VerifiedSlot {
  revision: string;
  bytes: string;
  verified: VerifiedRegistration;
  /** When the registration there was signed: what a new registration must not be older than. */
  registeredAt: string;
  /**
   * An entry slot only: this revision was found fresh (no older than its mark and than what this
   * registry saw). Any later registration, and any replay, rewrites the entry at a new revision,
   * so while the revision stands its mark need not be read again.
   */
  fresh?: boolean;
}

type Slot = "entry" | "mark";

const HEARTBEAT_ATTEMPTS = 3;
const VERIFIED_CACHE = 4_096;
/**
 * Addresses whose newest registration is remembered, the least recently renewed forgotten first:
 * a store writer who mints identities would otherwise grow a long-lived reader without end (an
 * address forgotten is protected by its stored high-water mark alone, as for a new process).
 */
const NEWEST_KEPT = 100_000;
/** Marks a watch verified as they were published, waiting for their entries. */
const AHEAD_VERIFIED = 1_024;
/** Characters of the registrations a watch verified ahead, in all (each is also held parsed, twice). */
const AHEAD_CHARS = 1_024 * 1_024;

/** A Registry that verifies on the way in and on the way out, over an adapter's store. */
export class TrustedRegistry implements Registry {
  readonly #store: RegistryStore;
  readonly #options: RegistryOptions;
  /** Open watches, each with where `distrust` tells it of a key retired. */
  readonly #watches = new Map<AbortController, RetiredNotices>();
  readonly #closeController = new AbortController();
  #closed: Promise<void> | undefined;
  /** The newest verified registration seen per address, by any read or write of this registry. */
  readonly #newest = new Map<string, Newest>();
  /**
   * What was verified per slot (`entry <address>`, `mark <address>`), at which revision and
   * bytes: verifying is a pure function of the bytes (identity derivation, signature), and
   * readers present the same revision again and again. A new revision is verified again, even
   * with the same bytes; an entry-age limit depends on the clock, so with one nothing is kept.
   */
  readonly #verified = new Map<string, VerifiedSlot>();
  /**
   * What was refused per slot, at which revision and bytes (as a digest: a forged registration may
   * be 64 Ki characters): refusing is as pure a function of the bytes as verifying. Without it a
   * store writer's forged entries were verified again on every read, and a list of 500 of them
   * took 2 to 7 times a list of 500 genuine ones, on every call (a router listing for each task).
   */
  readonly #refusedSlots = new Map<string, { revision: string; digest: string; error: unknown }>();
  /** Refusals the default warning (no `onTampered`) has said, by address, stored revision and reason. */
  readonly #warned = new Map<string, true>();
  /** What this registry registered, per address: what a heartbeat keeps alive and repairs. */
  readonly #own = new Map<string, { entry: RegistryEntryRecord; identity: NodeIdentityRecord }>();

  /** Node keys refused whatever they sign: RegistryOptions.retiredKeys, and those `distrust` adds. */
  readonly #retired: Set<string>;

  constructor(store: RegistryStore, options: RegistryOptions = {}) {
    // openRegistry checked these before opening the store; a registry built on a store of one's own is held to them too.
    checkTrustOptions(options);
    this.#store = store;
    this.#options = options;
    this.#retired = new Set(retiredKeySet("openRegistry", options.retiredKeys));
  }

  get kind(): string {
    return this.#store.kind;
  }

  get ttlMs(): number {
    return this.#store.ttlMs;
  }

  register(entry: RegistryEntryRecord, identity: NodeIdentityRecord): Promise<ResolvedEntry> {
    return this.#whileOpen("register", () => this.#register(entry, identity));
  }

  async #register(entry: RegistryEntryRecord, identity: NodeIdentityRecord): Promise<ResolvedEntry> {
    const value = JSON.stringify({ format: STORED_FORMAT, entry, identity } satisfies StoredRegistration);
    if (value.length > MAX_REGISTRATION_CHARS) throw tooLong(value);
    // What is verified is what is stored, byte for byte: objects can serialise otherwise than they read (toJSON, getters).
    const checked = this.#verifyToRegister(value);
    const { address, parts } = checked;
    if (this.#retired.has(checked.key.keyId)) throw retiredRegistration(address, checked.key.keyId);
    this.#checkZone(checked.entry.zone);
    const at = Date.parse(checked.entry.registered_at);
    const signature = checked.entry.signature;
    // A replayed registration must not roll an address back: refuse anything older than what this
    // registry saw there, than the stored mark, or than the stored entry.
    const seen = this.#newest.get(address);
    if (seen !== undefined && seen.at > at) throw this.#replay(address, new Date(seen.at).toISOString(), checked.entry.registered_at);
    // The first attempt writes against what this registry last verified there (nothing, for an address
    // it never saw), which is no newer than `seen`; the compare-and-set proves it is still what is
    // stored, so no read is needed. When it is not, read, check, and write against what was read.
    const knownEntry = this.#verified.get(`entry ${address}`);
    const knownMark = this.#verified.get(`mark ${address}`);
    for (const known of [knownMark, knownEntry]) {
      if (known !== undefined && Date.parse(known.registeredAt) > at) throw this.#replay(address, known.registeredAt, checked.entry.registered_at);
    }
    let expected = { revision: knownEntry?.revision ?? "", mark: knownMark?.revision ?? "" };
    // The mark holds the registration's bytes, as the entry does: the same bytes need no write.
    let writeMark = knownMark?.bytes !== value;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      if (attempt > 0) {
        const slot = await this.#store.read(parts);
        // A mark that does not verify is overwritten: it proves nothing, and the node must be able to repair it.
        const mark = slot.mark === undefined ? undefined : this.#tryVerifyMark(slot.mark, address);
        if (mark !== undefined && Date.parse(mark.registered_at) > at) throw this.#replay(address, mark.registered_at, checked.entry.registered_at);
        // A tampered entry is overwritten by a verified one rather than blocking the node forever.
        const previous = slot.stored === undefined ? undefined : this.#tryVerify(slot.stored);
        if (previous !== undefined && Date.parse(previous.entry.registered_at) > at) throw this.#replay(address, previous.entry.registered_at, checked.entry.registered_at);
        expected = { revision: slot.revision, mark: slot.mark?.revision ?? "" };
        writeMark = mark?.signature !== signature;
      }
      const written = await this.#store.write(parts, value, expected, writeMark);
      // distrust ran while the write was under way: refused as a register made after it is, and the
      // entry written taken out again, at its revision alone (one written since stays). Its mark stays:
      // a mark only ever refuses older entries.
      if (written !== undefined && this.#retired.has(checked.key.keyId)) throw await this.#retiredWhileWriting(parts, address, checked.key.keyId, written.revision);
      if (written !== undefined) {
        const verified = { address, parts: { ...parts }, key: checked.key, entry: copyJson(checked.entry), identity: copyJson(checked.identity) };
        this.#remember("entry", address, written.revision, value, verified, checked.entry.registered_at);
        if (written.markRevision !== undefined) this.#remember("mark", address, written.markRevision, value, verified, checked.entry.registered_at);
        this.#own.set(address, { entry, identity });
        this.#see(checked.entry);
        // The mark written (or found to be this registration) with it, in one compare-and-set sequence: fresh.
        this.#markFresh(address, written.revision);
        return { ...checked, revision: written.revision };
      }
    }
    throw new OnexError(ErrorCode.RegistryUnavailable, `the entry at ${address} kept changing while it was registered; try again`, { address });
  }

  /** The refusal of a registration whose key distrust retired while it was written, once what was written is taken out (if it can be). */
  async #retiredWhileWriting(parts: CanonicalAddress, address: string, keyId: string, revision: string): Promise<OnexError> {
    let removed: boolean;
    try {
      removed = await this.#store.delete(parts, revision);
    } catch (error) {
      // Left for its TTL to end: no reader told of the key takes it, and the node is told it is not registered.
      this.#logger.warn(`onex registry: the entry at ${address}, written as distrust retired its key, could not be taken out (${(error as Error).message}); it lapses at its TTL`, { address, keyId });
      removed = false;
    }
    return retiredRegistration(address, keyId, removed);
  }

  /**
   * Verifies a registration's bytes for `register`. Bytes this registry verified at the address
   * they claim (a node registering the same entry again: keepAlive after a lapse, a heartbeat
   * repairing a replaced entry) take that verdict; others are verified, and so is everything
   * under an entry-age limit, whose verdict depends on the clock.
   */
  #verifyToRegister(value: string): Omit<ResolvedEntry, "revision"> {
    const registration = JSON.parse(value) as StoredRegistration;
    if (this.#options.maxEntryAgeMs === undefined) {
      const claimed = registration?.entry?.address;
      if (typeof claimed === "string") {
        const known = [this.#verified.get(`entry ${claimed}`), this.#verified.get(`mark ${claimed}`)].find((slot) => slot?.bytes === value);
        // The objects just parsed are fresh: a caller changing them changes nothing that was verified.
        if (known !== undefined) return { address: known.verified.address, parts: { ...known.verified.parts }, key: known.verified.key, entry: registration.entry, identity: registration.identity };
      }
    }
    return this.#verifyParsed(registration);
  }

  resolve(address: string): Promise<ResolvedEntry> {
    return this.#whileOpen("resolve", () => this.#resolve(address));
  }

  async #resolve(address: string): Promise<ResolvedEntry> {
    const parts = parseAddress(address);
    // An address whose entry was found fresh here: read the entry alone, and its mark only if the entry moved.
    if (this.#verified.get(`entry ${address}`)?.fresh) {
      const stored = await this.#store.get(parts);
      if (stored === undefined) throw new OnexError(ErrorCode.NotFound, `no live registry entry at ${address}`, { address });
      return this.#read(stored);
    }
    const slot = await this.#store.read(parts);
    if (slot.stored === undefined) throw new OnexError(ErrorCode.NotFound, `no live registry entry at ${address}`, { address });
    return this.#read(slot.stored, Promise.resolve(slot.mark));
  }

  list(filter: RegistryFilter = {}): Promise<ResolvedEntry[]> {
    return this.#whileOpen("list", () => this.#list(filter));
  }

  async #list(filter: RegistryFilter): Promise<ResolvedEntry[]> {
    checkFilter("list", filter);
    const stored = await this.#store.list({ ...(filter.zone ? { zone: filter.zone } : {}), ...(filter.entityType ? { entityType: filter.entityType } : {}) });
    const entries: ResolvedEntry[] = [];
    for (const value of stored) {
      const resolved = await this.#readOrReport(value, value.mark);
      if (resolved !== undefined && matchesFilter(resolved, filter)) entries.push(resolved);
    }
    // Each entry was read in turn: one read before distrust retired its key is not handed out after.
    for (let i = entries.length - 1; i >= 0; i--) {
      const { address, key, revision } = entries[i]!;
      if (!this.#retired.has(key.keyId)) continue;
      entries.splice(i, 1);
      this.#report(address, untrusted(address, retiredKey(key.keyId)), revision);
    }
    return entries.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  watch(filter: RegistryFilter = {}, options: WatchOptions = {}): AsyncIterableIterator<RegistryChange> {
    // From plain JavaScript a signal that is no AbortSignal read as "not aborted", then failed as a raw TypeError.
    checkFilter("watch", filter);
    checkObject("watch", "options", options);
    checkSignal("watch", "options.signal", options.signal);
    // Called once the watch has synced: anything else (`true`, a flag) ended the watch then with a raw TypeError.
    if (options.onSynced !== undefined) checkFunction("watch", "options.onSynced", options.onSynced);
    // A watch begun after close() is not one close() ended: on etcd it retried the closed client for ever.
    this.#checkOpen("watch");
    const controller = new AbortController();
    const retired = new RetiredNotices();
    this.#watches.set(controller, retired);
    const stop = () => {
      controller.abort();
      this.#watches.delete(controller);
    };
    if (options.signal?.aborted) stop();
    options.signal?.addEventListener("abort", stop, { once: true });
    // Start the store's watch now, not on the first next(): changes made after watch() returns belong to it.
    const prefix = { ...(filter.zone ? { zone: filter.zone } : {}), ...(filter.entityType ? { entityType: filter.entityType } : {}) };
    // Registrations verified as their marks were published, before their entries arrive (StoreChange `markSeen`).
    const ahead = new AheadSlots();
    let checkedThisTurn = false;
    const onMarkPublished = (key: CanonicalAddress, value: string) => {
      // One check a turn of the event loop: marks published by the thousand (which nothing stores
      // if their compare-and-sets fail) cost no more than the entries they would announce.
      if (checkedThisTurn) return;
      checkedThisTurn = true;
      setImmediate(() => (checkedThisTurn = false));
      this.#verifyAhead(key, value, ahead);
    };
    const changes = this.#changes(this.#store.watch(prefix, controller.signal, onMarkPublished), filter, options, controller.signal, ahead, retired);
    return {
      // A watch that failed ends its store watch too. `for await` calls no return() when next()
      // throws, so a caller that let the failure end its loop (a health watcher) left the store's
      // watch running for good: a consumer on the server, its timers keeping the process alive,
      // and one more with each watch begun anew.
      next: () =>
        changes.next().catch((error: unknown) => {
          stop();
          throw this.#closedFailure("watch", error);
        }),
      return: async (value?: unknown) => {
        stop();
        await changes.return(undefined);
        return { done: true, value: value as RegistryChange };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  async view(zone?: string): Promise<RegistryView> {
    checkFilterZone("view: zone", zone);
    // Its own name: the watch it opens said "registry watch: the registry is closed".
    return this.#whileOpen("view", () => RegistryView.open(this, zone, this.#options.maxEntryAgeMs, undefined, (keyId) => this.#retired.has(keyId)));
  }

  heartbeat(address: string): Promise<void> {
    return this.#whileOpen("heartbeat", () => this.#heartbeat(address));
  }

  async #heartbeat(address: string): Promise<void> {
    const parts = parseAddress(address);
    // This registry's own registration, its key retired: refused as register refuses it. It was read,
    // refused, logged as "not this node's; registering it again", and then refused by register.
    const registered = this.#own.get(address);
    if (registered !== undefined && this.#retired.has(registered.entry.key_id)) throw retiredRegistration(address, registered.entry.key_id);
    for (let attempt = 0; attempt < HEARTBEAT_ATTEMPTS; attempt++) {
      const { stored, mark } = await this.#store.read(parts);
      if (stored === undefined) {
        throw new OnexError(ErrorCode.NotFound, `no live registry entry at ${address} to heartbeat; its TTL lapsed or it was deregistered, so register again`, { address });
      }
      const own = this.#own.get(address);
      let resolved: ResolvedEntry;
      try {
        resolved = await this.#read(stored, Promise.resolve(mark));
      } catch (error) {
        if (!isOnexError(error, ErrorCode.EntryTampered)) throw error;
        // Refreshing it would keep a forged or replayed entry alive under this node's name.
        if (own === undefined) throw error;
        this.#logger.warn(`onex registry: the stored entry at ${address} is not this node's (${error.message}); registering it again`, { address });
        await this.#registerAgain(address, own);
        return;
      }
      if (own !== undefined && resolved.entry.signature !== own.entry.signature) {
        // Verified, fresh, and not ours: the node registered a newer entry elsewhere, which this one must not overwrite.
        throw new OnexError(ErrorCode.Replay, `the registry holds a newer entry for ${address} (registered ${resolved.entry.registered_at}) than the one this process registered (${own.entry.registered_at}); another instance of the node registered since`, {
          address,
        });
      }
      // Compared as bytes first (the mark holds the registration's bytes); bytes that differ are verified, as register compares marks.
      if (own !== undefined && mark?.value !== stored.value && (mark === undefined || this.#tryVerifyMark(mark, address)?.signature !== own.entry.signature)) {
        // The mark alone was replaced (a store writer; NATS KV writes marks and entries apart, and
        // cannot compare one while writing the other). An entry this registry verified does not
        // show it, but every reader that has not verified it yet refuses the entry as unmarked.
        this.#logger.warn(`onex registry: the high-water mark at ${address} is not this node's registration; writing it again`, { address });
        await this.#registerAgain(address, own);
        return;
      }
      // Only the revision just verified is refreshed: bytes written in between are read and verified again.
      if (!(await this.#store.heartbeat(parts, stored.revision, stored))) continue;
      // distrust ran while the renewal was under way: refused as a heartbeat made after it is, and the
      // entry it renewed taken out again, as register does with what it wrote.
      if (this.#retired.has(resolved.key.keyId)) throw await this.#retiredWhileBeating(parts, address, stored.value, resolved.key.keyId, own !== undefined);
      return;
    }
    throw new OnexError(ErrorCode.RegistryUnavailable, `the entry at ${address} kept changing while it was heart-beaten; try again`, { address });
  }

  /**
   * The refusal of a heartbeat whose key distrust retired while it renewed the entry, once the entry
   * is taken out (if it can be). The renewal may have rewritten it at a revision the store does not
   * return (NATS KV), so the entry is read again and removed at that revision only if it still holds
   * the bytes renewed: a registration written since stays.
   */
  async #retiredWhileBeating(parts: CanonicalAddress, address: string, bytes: string, keyId: string, own: boolean): Promise<OnexError> {
    let removed = false;
    try {
      const { stored } = await this.#store.read(parts);
      if (stored?.value === bytes) removed = await this.#store.delete(parts, stored.revision);
    } catch (error) {
      this.#logger.warn(`onex registry: the entry at ${address}, renewed as distrust retired its key, could not be taken out (${(error as Error).message}); it lapses at its TTL`, { address, keyId });
    }
    // As a heartbeat made after distrust fails: this registry's own registration as register refuses it, another's as a read does.
    return own ? retiredRegistration(address, keyId, removed) : untrusted(address, retiredKey(keyId));
  }

  /** Registers this node's own entry again, its mark included: register skips writing a mark it knows to hold the same bytes. */
  async #registerAgain(address: string, own: { entry: RegistryEntryRecord; identity: NodeIdentityRecord }): Promise<void> {
    this.#verified.delete(`mark ${address}`);
    await this.register(own.entry, own.identity);
  }

  deregister(address: string): Promise<boolean> {
    return this.#whileOpen("deregister", () => {
      this.#own.delete(address);
      return this.#store.delete(parseAddress(address));
    });
  }

  keyFor(address: string): Promise<PublicKey> {
    return this.#whileOpen("keyFor", async () => (await this.#resolve(address)).key);
  }

  distrust(keyId: string): boolean {
    this.#checkOpen("distrust");
    if (!isKeyId(keyId)) {
      throw new OnexError(ErrorCode.Usage, `distrust: ${JSON.stringify(keyId) ?? String(keyId)} is no key id (key- and 32 lower-case hex digits, as keyIdOf spells it)`);
    }
    if (this.#retired.has(keyId)) return false;
    // Reads check the set after any verdict they remember, so from here on nothing signed with the
    // key is handed out; each watch reports what it already showed of it (#changes).
    this.#retired.add(keyId);
    for (const notices of this.#watches.values()) notices.add(keyId);
    return true;
  }

  /** Aborted by close(): keepAlive ends with it rather than retrying a closed connection as an outage. */
  get closeSignal(): AbortSignal {
    return this.#closeController.signal;
  }

  /** Every call returns the first call's promise (a SIGTERM handler and the shutdown path may both close). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closeController.abort();
      for (const controller of this.#watches.keys()) controller.abort();
      this.#watches.clear();
      await this.#store.close();
    })();
    return this.#closed;
  }

  /**
   * ONEX_E_USAGE once close() was called: the closed connection's failure read as
   * ONEX_E_REGISTRY_UNAVAILABLE, an outage worth retrying, which it is not.
   */
  #checkOpen(operation: string): void {
    if (this.#closeController.signal.aborted) throw closedError(operation);
  }

  /**
   * `work`, as a call on an open registry: refused at once after close(), and a store failure
   * once close() was called (a call in flight as it closed the connection: etcd's "the client was
   * already closed", NATS KV's "connection closed") is the same ONEX_E_USAGE, with the store's
   * failure as its cause. As ONEX_E_REGISTRY_UNAVAILABLE it promised that a retry might succeed.
   */
  async #whileOpen<T>(operation: string, work: () => Promise<T>): Promise<T> {
    this.#checkOpen(operation);
    try {
      return await work();
    } catch (error) {
      throw this.#closedFailure(operation, error);
    }
  }

  /**
   * `error`, or the closed registry's ONEX_E_USAGE naming `operation` when close() was called and
   * it is a store failure (ONEX_E_REGISTRY_UNAVAILABLE) or the closed registry's refusal of a call
   * `operation` made (a view's watch, a heartbeat's register).
   */
  #closedFailure(operation: string, error: unknown): unknown {
    if (!this.#closeController.signal.aborted) return error;
    // Only the store's failures and the closed registry's own refusals: a fault of the code stays as it is.
    if (!isOnexError(error) || (error.code !== ErrorCode.RegistryUnavailable && !(error.code === ErrorCode.Usage && error.details.closed === true))) return error;
    return closedError(operation, error);
  }

  async *#changes(source: AsyncIterable<StoreChange>, filter: RegistryFilter, options: WatchOptions, signal: AbortSignal, ahead: AheadSlots, retired: RetiredNotices): AsyncGenerator<RegistryChange> {
    // The last verified entry per address (and its stored bytes): heartbeats that rewrite the same
    // bytes are not changes, and an expiry carries the entry that lapsed so a health watcher can
    // say which node died.
    const last = new Map<string, { resolved: ResolvedEntry; bytes: string }>();
    const removed = (key: CanonicalAddress, reason: "deregistered" | "expired"): RegistryChange | undefined => {
      const address = buildAddress(key);
      const previous = last.get(address)?.resolved;
      last.delete(address);
      if (previous === undefined && !sameScope(key, filter)) return undefined;
      if (previous !== undefined && !matchesFilter(previous, filter)) return undefined;
      return { kind: reason, address, ...(previous ? { last: previous } : {}) };
    };
    // The store's changes, and between them the keys distrust retires as they come: what the watch
    // showed of such a key is reported untrusted at once, not at that entry's next change, which
    // may never come.
    const fromStore = source[Symbol.asyncIterator]();
    let next: Promise<IteratorResult<StoreChange>> | undefined;
    try {
      for (;;) {
        for (let keyId = retired.take(); keyId !== undefined; keyId = retired.take()) {
          for (const [address, { resolved }] of last) {
            if (resolved.key.keyId !== keyId) continue;
            last.delete(address);
            const error = untrusted(address, retiredKey(keyId));
            this.#report(address, error, resolved.revision);
            if (matchesFilter(resolved, filter)) yield { kind: "tampered", address, error };
          }
        }
        next ??= fromStore.next();
        const step = await retired.waitFor(next);
        if (step === undefined) continue;
        next = undefined;
        if (step.done) return;
        const change = step.value;
        if (change.op === "synced") {
          options.onSynced?.();
          continue;
        }
        if (change.op === "delete") {
          const removal = removed(change.key, change.reason);
          if (removal !== undefined) yield removal;
          continue;
        }
        const address = buildAddress(change.stored.key);
        const known = last.get(address);
        // A recheck concerns an entry reported on its published mark; one refused then, or since replaced, needs none.
        if (change.recheck && known?.bytes !== change.stored.value) {
          change.mark?.catch(() => undefined);
          continue;
        }
        const early = change.markSeen ? ahead.take(address) : undefined;
        const verifiedAhead = early?.bytes === change.stored.value ? early : undefined;
        // Remembered at the entry's revision, as if verified there: #decode takes them.
        if (verifiedAhead !== undefined) this.#remember("entry", address, change.stored.revision, verifiedAhead.bytes, verifiedAhead.verified, verifiedAhead.registeredAt);
        const unchanged = known !== undefined && change.stored.value === known.bytes && !change.recheck;
        if (unchanged) change.mark?.catch(() => undefined);
        // An entry reported on its published mark has nothing to read: judged at once, with no
        // promise between it and its report (each is a wait on the watch's hot path). Any other is
        // read and verified while the adapter still finds out whether the value is alive (etcd: a
        // lease lookup of the snapshot's entries); nothing is reported before both are known.
        const judged = unchanged || !change.markSeen ? undefined : outcomeOf(() => this.#readMarkSeen(change.stored, address, verifiedAhead?.toReport));
        const reading =
          unchanged || judged !== undefined
            ? undefined
            : this.#readThroughOutages(change.stored, signal, change.mark, !change.recheck).then(
                (resolved) => ({ resolved }),
                (error: unknown) => ({ error }),
              );
        const live = change.live === undefined ? "alive" : await change.live;
        if (live !== "alive") {
          // Not waited for: a read retried through an outage must not hold back the removal.
          const removal = live === "expired" ? removed(change.stored.key, "expired") : undefined;
          if (removal !== undefined) yield removal;
          continue;
        }
        let outcome = judged ?? (await reading);
        if (outcome === undefined) continue;
        // Verified before distrust retired its key (the read waited for the mark, or the lease): not reported as registered after it.
        if ("resolved" in outcome && this.#retired.has(outcome.resolved.key.keyId)) outcome = { error: untrusted(address, retiredKey(outcome.resolved.key.keyId)) };
        if ("error" in outcome) {
          const { error } = outcome;
          if (!isOnexError(error, ErrorCode.EntryTampered)) throw error;
          // Superseded by a newer registration that passes every check (this registry's own next
          // one, say), not put back: that registration comes through the watch.
          if (error.details.cause === ErrorCode.Replay && (await this.#superseded(change.stored))) continue;
          last.delete(address);
          this.#report(address, error, change.stored.revision);
          yield { kind: "tampered", address, error };
          continue;
        }
        const { resolved } = outcome;
        last.set(address, { resolved, bytes: change.stored.value });
        if (known?.resolved.entry.signature === resolved.entry.signature) continue;
        if (!matchesFilter(resolved, filter)) continue;
        if (change.initial && options.updatesOnly) continue;
        yield { kind: "registered", address, entry: resolved, initial: change.initial };
      }
    } finally {
      await fromStore.return?.();
    }
  }

  /**
   * Verifies a mark's bytes as they were published, for the entry expected next at `key`
   * (StoreChange `markSeen`), while that entry is on its way. Bytes that fail are left to the
   * entry's own check.
   */
  #verifyAhead(key: CanonicalAddress, value: string, ahead: AheadSlots): void {
    // A registry that holds entries to an age judges each as it arrives: its age at the mark is not its age then.
    if (this.#options.maxEntryAgeMs !== undefined) return;
    let address: string;
    let resolved: Omit<ResolvedEntry, "revision">;
    try {
      address = buildAddress(key);
      if (ahead.get(address)?.bytes === value || value.length > MAX_REGISTRATION_CHARS) return;
      resolved = this.#verifyParsed(JSON.parse(value) as StoredRegistration);
    } catch {
      return;
    }
    if (resolved.address !== address) return;
    // Copied now, while the entry is on its way: the parsed objects go to the watch's one report
    // of the entry, the copies to the cache of verified revisions (#remember), which hands out
    // copies of them.
    const verified = { address, parts: { ...resolved.parts }, key: resolved.key, entry: copyJson(resolved.entry), identity: copyJson(resolved.identity) };
    ahead.set(address, { revision: "", bytes: value, verified, registeredAt: resolved.entry.registered_at, toReport: resolved });
  }

  #verify(entry: RegistryEntryRecord, identity: NodeIdentityRecord): Omit<ResolvedEntry, "revision"> {
    const key = verifyRegistryEntryOfNode(entry, identity, this.#options.maxEntryAgeMs !== undefined ? { maxAgeMs: this.#options.maxEntryAgeMs } : {});
    const parts = parseAddress(entry.address);
    // The address is signed inside the entry, but must also name the same node and zone, or a
    // node could register itself under another node's address.
    if (parts.id !== entry.node_id || parts.zone !== entry.zone) {
      throw new OnexError(ErrorCode.IdentityMismatch, `the entry's address ${entry.address} does not name node ${entry.node_id} in zone ${entry.zone}`, { instancePath: "/address" });
    }
    return { address: entry.address, parts, entry, identity, key };
  }

  #checkZone(zone: string): void {
    const zones = this.#options.zones;
    if (zones === undefined || zones.includes(zone)) return;
    const mode = this.#options.zoneMatch ?? PolicyMode.Strict;
    if (mode === PolicyMode.Off) return;
    const message = `this registry serves zones ${zones.join(", ")}, not ${zone}`;
    if (mode === PolicyMode.Strict) throw new OnexError(ErrorCode.ZoneMismatch, message, { zone, zones: [...zones], policy: "zone_match" });
    this.#logger.warn(`onex registry: zone_match (advisory) ${ErrorCode.ZoneMismatch}: ${message}`, { zone });
  }

  get #logger(): { warn(message: string, details?: Record<string, unknown>): void } {
    return this.#options.logger ?? console;
  }

  /**
   * Verifies a stored value and its freshness: the newest entry this registry saw at the
   * address and the address's high-water mark must not be newer. Anything that fails is
   * ONEX_E_ENTRY_TAMPERED, with the failing check as the cause (ONEX_E_REPLAY for a stale entry).
   * Without `bySeen`, only the mark judges freshness: a watch's recheck of an entry it reported
   * on its published mark, when this registry may have registered a newer one since (which the
   * watch reports in turn), asks only whether the store's mark refuses it.
   */
  async #read(stored: StoredValue, markRead?: Promise<StoredMark | undefined>, rereadOnce = true, bySeen = true): Promise<ResolvedEntry> {
    const storedAt = buildAddress(stored.key);
    const known = this.#verified.get(`entry ${storedAt}`);
    const fresh = known?.fresh === true && known.revision === stored.revision && known.bytes === stored.value;
    // The mark is asked for before the entry is verified, so the round trip and the verification overlap.
    const pendingMark = fresh ? Promise.resolve(undefined) : (markRead ?? this.#store.getMark(stored.key));
    // Clients send what was asked in a microtask (nats.js flushes its buffer so): step aside for it
    // once, or the request would wait for the verification it is meant to overlap.
    if (!fresh && markRead === undefined) await undefined;
    let resolved: ResolvedEntry;
    try {
      resolved = this.#decode(stored, storedAt);
    } catch (error) {
      pendingMark.catch(() => undefined);
      throw error;
    }
    const { address, entry } = resolved;
    const at = Date.parse(entry.registered_at);
    try {
      if (bySeen) this.#assertNotOlderThanSeen(resolved);
    } catch (error) {
      pendingMark.catch(() => undefined);
      throw error;
    }
    if (fresh) return resolved;
    const storedMark = await pendingMark;
    let mark = storedMark === undefined ? undefined : this.#tryVerifyMark(storedMark, address);
    if (mark === undefined && rereadOnce) {
      // A store that sends mark and entry together without a transaction (NATS KV on a cluster) can
      // store the entry first: look once more before calling it unmarked.
      const again = await this.#store.getMark(stored.key);
      mark = again === undefined ? undefined : this.#tryVerifyMark(again, address);
    }
    // Verified before the mark came: a key distrust retired meanwhile must not be handed out.
    if (this.#retired.has(resolved.key.keyId)) throw untrusted(address, retiredKey(resolved.key.keyId));
    if (mark === undefined) throw this.#stale(address, entry.registered_at, "the address has no high-water mark that verifies, so the entry was not stored by register");
    if (Date.parse(mark.registered_at) > at) {
      // register writes the mark first: the entry may be changing right now, so look once more.
      const again = rereadOnce ? await this.#store.read(resolved.parts) : undefined;
      if (again?.stored !== undefined && again.stored.revision !== stored.revision) return this.#read(again.stored, Promise.resolve(again.mark), false);
      throw this.#stale(address, entry.registered_at, `the address's high-water mark is an entry registered ${mark.registered_at}`);
    }
    this.#see(entry);
    this.#markFresh(address, stored.revision);
    return resolved;
  }

  /**
   * #read for an entry whose own bytes were published as its mark just before it (StoreChange
   * `markSeen`): that mark is no newer than the entry, so only what this registry saw can find it
   * stale. The adapter checks the stored mark after, and sends the entry again if it differs.
   * Not marked fresh: a later read of the revision still reads its mark.
   */
  #readMarkSeen(stored: StoredValue, address: string, verifiedAhead?: VerifiedRegistration): ResolvedEntry {
    const resolved = this.#decode(stored, address, verifiedAhead);
    this.#assertNotOlderThanSeen(resolved);
    this.#see(resolved.entry);
    return resolved;
  }

  /** Throws ONEX_E_ENTRY_TAMPERED (cause ONEX_E_REPLAY) when this registry saw a newer entry at the address. */
  #assertNotOlderThanSeen({ address, entry }: Omit<ResolvedEntry, "revision">): void {
    const seen = this.#newest.get(address);
    if (seen !== undefined && seen.at > Date.parse(entry.registered_at)) {
      throw this.#stale(address, entry.registered_at, `this registry already saw an entry there registered ${new Date(seen.at).toISOString()}`);
    }
  }

  /**
   * #read for a watch, which outlives server restarts and leader elections: a mark read that
   * fails for want of a server is tried again (250 ms, doubling up to 2 s) until the watch stops.
   */
  async #readThroughOutages(stored: StoredValue, signal: AbortSignal, mark?: Promise<StoredMark | undefined>, bySeen = true): Promise<ResolvedEntry> {
    // The mark the adapter had or asked for with the change, on the first try; every retry reads its own.
    let markRead = mark;
    for (let wait = 250; ; wait = Math.min(2 * wait, 2_000)) {
      try {
        return await this.#read(stored, markRead, true, bySeen);
      } catch (error) {
        // A refusal for want of permission (`details.permission`, etcd) is not an outage: retried, it
        // was refused every 2 s for as long as the watch ran, and the watch reported nothing.
        if (!isOnexError(error, ErrorCode.RegistryUnavailable) || error.details.permission !== undefined || signal.aborted) throw error;
      }
      markRead = undefined;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /**
   * Whether the store now holds, at `stored`'s key, a registration newer than `stored`'s that
   * passes every check a read makes; false when it holds `stored`, nothing, anything refused
   * (another entry put back), or cannot be read.
   */
  async #superseded(stored: StoredValue): Promise<boolean> {
    try {
      const slot = await this.#store.read(stored.key);
      if (slot.stored === undefined || slot.stored.value === stored.value) return false;
      const current = await this.#read(slot.stored, Promise.resolve(slot.mark), false);
      const refused = (JSON.parse(stored.value) as StoredRegistration).entry.registered_at;
      return Date.parse(current.entry.registered_at) > Date.parse(refused);
    } catch {
      return false;
    }
  }

  #markFresh(address: string, revision: string): void {
    const slot = this.#verified.get(`entry ${address}`);
    if (slot?.revision === revision) slot.fresh = true;
  }

  #tryVerifyMark(mark: StoredMark, address: string): RegistryEntryRecord | undefined {
    try {
      const verified = this.#verifyStored(mark.value, "mark", address, mark.revision);
      return verified.address === address ? verified.entry : undefined;
    } catch {
      return undefined;
    }
  }

  #see(entry: RegistryEntryRecord): void {
    const at = Date.parse(entry.registered_at);
    const seen = this.#newest.get(entry.address);
    if (seen !== undefined && seen.at >= at) return;
    // Set anew, so the order of the map is the order of renewal.
    this.#newest.delete(entry.address);
    this.#newest.set(entry.address, { at, signature: entry.signature ?? "" });
    if (this.#newest.size > NEWEST_KEPT) forgetOldest(this.#newest);
  }

  #replay(address: string, newer: string, offered: string): OnexError {
    return new OnexError(ErrorCode.Replay, `the registry holds a newer entry for ${address} (registered ${newer}) than this one (${offered})`, { address });
  }

  #stale(address: string, registeredAt: string, why: string): OnexError {
    return new OnexError(ErrorCode.EntryTampered, `the stored entry at ${address} (registered ${registeredAt}) is older than the newest registration there (${why}); a replayed entry is not trusted`, {
      address,
      cause: ErrorCode.Replay,
    });
  }

  /**
   * Parses and verifies a stored registration's JSON; throws what the failing check throws.
   * With a slot, a registration verified there at the same revision and bytes is not verified
   * again; nor are a mark's bytes that are its entry's (register stores the same bytes in both).
   */
  #verifyStored(text: string, slot?: Slot, address?: string, revision?: string): Omit<ResolvedEntry, "revision"> {
    // Not parsed at all: register takes no such registration, and parsing one costs what it would.
    if (text.length > MAX_REGISTRATION_CHARS) throw tooLong(text);
    if (slot === undefined || address === undefined || revision === undefined || this.#options.maxEntryAgeMs !== undefined) return this.#verifyParsed(JSON.parse(text) as StoredRegistration);
    const cached = this.#verified.get(`${slot} ${address}`);
    const twin = slot === "mark" ? this.#verified.get(`entry ${address}`) : undefined;
    const known = cached?.revision === revision && cached.bytes === text ? cached : twin?.bytes === text ? twin : undefined;
    if (known !== undefined) {
      if (known !== cached) this.#remember(slot, address, revision, text, known.verified, known.registeredAt);
      // Exactly the bytes verified before: copies of what they parsed to stand for parsing them again.
      return handOut(known.verified);
    }
    const key = `${slot} ${address}`;
    const refused = this.#refusedSlots.get(key);
    // The digest is taken only for a slot refused at this revision: genuine registrations pay nothing for it.
    if (refused?.revision === revision && refused.digest === digestOf(text)) throw refused.error;
    let resolved: Omit<ResolvedEntry, "revision">;
    try {
      resolved = this.#verifyParsed(JSON.parse(text) as StoredRegistration);
    } catch (error) {
      this.#refusedSlots.delete(key);
      if (this.#refusedSlots.size >= VERIFIED_CACHE) forgetOldest(this.#refusedSlots);
      this.#refusedSlots.set(key, { revision, digest: digestOf(text), error });
      throw error;
    }
    this.#remember(slot, address, revision, text, { address: resolved.address, parts: { ...resolved.parts }, key: resolved.key, entry: copyJson(resolved.entry), identity: copyJson(resolved.identity) }, resolved.entry.registered_at);
    return resolved;
  }

  /** Verifies a parsed stored registration (format, entry against identity, address); throws what the failing check throws. */
  #verifyParsed(registration: StoredRegistration): Omit<ResolvedEntry, "revision"> {
    if (registration?.format !== STORED_FORMAT) throw new OnexError(ErrorCode.ValidationFailed, `stored format ${String(registration?.format)} is not ${STORED_FORMAT}`);
    return this.#verify(registration.entry, registration.identity);
  }

  #remember(slot: Slot, address: string, revision: string, bytes: string, verified: VerifiedRegistration, registeredAt: string): void {
    if (this.#options.maxEntryAgeMs !== undefined) return;
    const key = `${slot} ${address}`;
    // Oldest first out; a slot written again moves to the back.
    this.#verified.delete(key);
    if (this.#verified.size >= VERIFIED_CACHE) forgetOldest(this.#verified);
    this.#verified.set(key, { revision, bytes, verified, registeredAt });
  }

  /** Re-verifies a stored value's signature, identity and key; anything that fails is ONEX_E_ENTRY_TAMPERED, with the failing check as the cause. */
  #decode(stored: StoredValue, address = buildAddress(stored.key), verifiedAhead?: VerifiedRegistration): ResolvedEntry {
    try {
      // Entry and identity objects verified from these very bytes, and parsed for this one report
      // (#verifyAhead), are handed out as they are.
      const resolved = verifiedAhead ?? this.#verifyStored(stored.value, "entry", address, stored.revision);
      // The store key must be the address the entry signs, or a valid entry was copied under another key.
      if (resolved.address !== address) throw new OnexError(ErrorCode.IdentityMismatch, `an entry for ${resolved.address} is stored under ${address}`);
      // After the verdict remembered by revision and bytes: a retired key's registration is refused however often it was verified.
      if (this.#retired.has(resolved.key.keyId)) throw retiredKey(resolved.key.keyId);
      return { ...resolved, revision: stored.revision, ...(stored.updatedAt ? { heartbeatAt: stored.updatedAt } : {}) };
    } catch (cause) {
      throw untrusted(address, cause);
    }
  }

  async #readOrReport(stored: StoredValue, mark?: Promise<StoredMark | undefined>): Promise<ResolvedEntry | undefined> {
    try {
      return await this.#read(stored, mark);
    } catch (error) {
      if (!isOnexError(error, ErrorCode.EntryTampered)) throw error;
      this.#report(buildAddress(stored.key), error, stored.revision);
      return undefined;
    }
  }

  #tryVerify(stored: StoredValue): ResolvedEntry | undefined {
    try {
      return this.#decode(stored);
    } catch {
      // A tampered entry is overwritten by a verified one rather than blocking the node forever.
      return undefined;
    }
  }

  #report(address: string, error: OnexError, revision: string): void {
    if (this.#options.onTampered) return this.#options.onTampered(address, error);
    // Said once per address and reason: a forged entry is refused again by every list (a router's,
    // for each task), and the default warning repeated it each time, a line per forgery per list.
    // Once per stored revision too: a forgery written again after the node repaired its entry is
    // new, and keyed by address and reason alone it went unsaid, like one never noticed.
    const said = `${address}\n${revision}\n${error.message}`;
    if (this.#warned.has(said)) return;
    if (this.#warned.size >= VERIFIED_CACHE) forgetOldest(this.#warned);
    this.#warned.set(said, true);
    console.warn(`onex registry: ${error.code}: ${error.message}`);
  }
}

/** Keys distrust retired, waiting for one watch to act on them. */
class RetiredNotices {
  readonly #keyIds: string[] = [];
  #wake: (() => void) | undefined;

  add(keyId: string): void {
    this.#keyIds.push(keyId);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The oldest key added and not yet taken. */
  take(): string | undefined {
    return this.#keyIds.shift();
  }

  /**
   * What `next` settles with, or undefined as soon as a key is added (`next` still pending, to be
   * waited for again). Not Promise.race with a promise kept for the next key: every change waited
   * for would add a reaction to it, held until a key is retired, which may be never.
   */
  waitFor<T>(next: Promise<T>): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      this.#wake = () => resolve(undefined);
      next.then(resolve, reject);
    });
  }
}

/** ONEX_E_SIGNER_UNKNOWN (reason `retired`) from register; `removed` when distrust came during the write and what it wrote was taken out again. */
function retiredRegistration(address: string, keyId: string, removed?: boolean): OnexError {
  const during = removed === undefined ? "" : removed ? " (retired while the entry was written; it was taken out again)" : " (retired while the entry was written; not taken out, as it changed since or the store did not answer: no reader told of the key takes it)";
  return new OnexError(ErrorCode.SignerUnknown, `${address} is registered with key ${keyId}, which this registry was told is retired (retiredKeys)${during}`, { address, keyId, reason: "retired", ...(removed === undefined ? {} : { removed }) });
}

function retiredKey(keyId: string): OnexError {
  return new OnexError(ErrorCode.SignerUnknown, `its key ${keyId} is retired (retiredKeys)`, { keyId, reason: "retired" });
}

/** ONEX_E_ENTRY_TAMPERED for the stored entry at `address`, with the check that failed (`cause`) as its cause. */
function untrusted(address: string, cause: unknown): OnexError {
  const code = isOnexError(cause) ? cause.code : ErrorCode.JsonSyntax;
  const why = code === ErrorCode.SignerUnknown ? "its node's key no longer speaks for it" : "it was changed inside the registry";
  return new OnexError(ErrorCode.EntryTampered, `the stored entry at ${address} does not verify (${code}: ${(cause as Error).message}); ${why} and is not trusted`, { address, cause: code }, { cause });
}

/**
 * A watch's registrations verified as their marks were published, by address, oldest first out: a
 * mark whose entry never comes (its compare-and-set lost) is not kept for long. Bounded in number
 * and in characters: anyone can mint identities and publish signed marks that are never stored.
 */
class AheadSlots {
  readonly #slots = new Map<string, AheadSlot>();
  #chars = 0;

  get(address: string): AheadSlot | undefined {
    return this.#slots.get(address);
  }

  /** The slot at `address`, no longer kept: each is reported at most once. */
  take(address: string): AheadSlot | undefined {
    const slot = this.#slots.get(address);
    if (slot === undefined) return undefined;
    this.#slots.delete(address);
    this.#chars -= slot.bytes.length;
    return slot;
  }

  set(address: string, slot: AheadSlot): void {
    this.take(address);
    while (this.#slots.size > 0 && (this.#slots.size >= AHEAD_VERIFIED || this.#chars + slot.bytes.length > AHEAD_CHARS)) {
      for (const [, forgotten] of forgetOldest(this.#slots)) this.#chars -= forgotten.bytes.length;
    }
    this.#slots.set(address, slot);
    this.#chars += slot.bytes.length;
  }
}

/** A registration a watch verified as its mark was published: `verified` for the cache, `toReport` (the same, parsed apart) for the watch's report of the entry. */
interface AheadSlot extends VerifiedSlot {
  toReport: VerifiedRegistration;
}

/** What `judge` returns, or what it throws, as a watch's read settles. */
function outcomeOf<T>(judge: () => T): { resolved: T } | { error: unknown } {
  try {
    return { resolved: judge() };
  } catch (error) {
    return { error };
  }
}

/** A digest of stored bytes, to know them again without holding them. */
function digestOf(text: string): string {
  return createHash("sha256").update(text).digest("base64");
}

/** ONEX_E_VALIDATION for a registration longer than MAX_REGISTRATION_CHARS. */
function tooLong(value: string): OnexError {
  return new OnexError(ErrorCode.ValidationFailed, `the registration is ${value.length} characters of JSON, more than a registry takes (${MAX_REGISTRATION_CHARS})`, { length: value.length, limit: MAX_REGISTRATION_CHARS });
}

/** A cached verification as a read hands it out: fresh objects every time, so a caller changing what it was handed changes neither what was verified nor what the next caller gets. */
function handOut(verified: VerifiedRegistration): Omit<ResolvedEntry, "revision"> {
  return { address: verified.address, parts: { ...verified.parts }, key: verified.key, entry: copyJson(verified.entry), identity: copyJson(verified.identity) };
}

function sameScope(key: CanonicalAddress, filter: RegistryFilter): boolean {
  return (filter.zone === undefined || key.zone === filter.zone) && (filter.entityType === undefined || key.entityType === filter.entityType);
}

/**
 * A zone to read is a zone id: any other (`Zone.A`) names no entry, so a list was empty and a
 * watch (a health watcher's, a router's view) silent for good, and `""` read as no zone at all,
 * listing every zone's entries. Checked as the call is made, not per entry read.
 */
function checkFilterZone(where: string, zone: string | undefined): void {
  if (zone !== undefined) assertZoneId(zone, where);
}

/** A `list` or `watch` filter: an object, whose zone is a zone id, and whose other values an entry can have (checkFilterValues). */
function checkFilter(operation: string, filter: RegistryFilter): void {
  checkObject(operation, "filter", filter);
  checkFilterZone(`${operation}: filter.zone`, filter.zone);
  checkFilterValues(operation, filter);
}

/** ONEX_E_USAGE for a call on a closed registry (`cause`: the store's failure of a call in flight as it closed). */
function closedError(operation: string, cause?: unknown): OnexError {
  return new OnexError(ErrorCode.Usage, `registry ${operation}: the registry is closed`, { operation, closed: true }, cause === undefined ? undefined : { cause });
}

/**
 * The options that decide which entries are trusted, checked before anything opens (by
 * openRegistry) and as a TrustedRegistry is made: each used to fail open or refuse everything.
 * `zones: "zone.a"` (a string) matched by substring, so zone "a" passed; a zone no message can
 * name (`Zone.A`, or `*`, which is no pattern: without `zones` every zone is served) matched no
 * entry, so it served nothing (alone, strict `zone_match` refused every registration); a `zoneMatch` of
 * "STRICT" or a typo was advisory; a `maxEntryAgeMs` of NaN or "1m" let any age through.
 */
export function checkTrustOptions(options: RegistryOptions): void {
  if (options.zones !== undefined && !(Array.isArray(options.zones) && options.zones.every((zone) => typeof zone === "string"))) {
    throw new OnexError(ErrorCode.Usage, `openRegistry: zones must be an array of zone names, not ${JSON.stringify(options.zones)}`);
  }
  for (const [index, zone] of (options.zones ?? []).entries()) {
    assertZoneId(zone, `openRegistry: zones[${index}]${zone === "*" ? " (to serve every zone, leave zones out)" : ""}`);
  }
  const modes: readonly unknown[] = Object.values(PolicyMode);
  if (options.zoneMatch !== undefined && !modes.includes(options.zoneMatch)) {
    throw new OnexError(ErrorCode.PolicyInvalid, `openRegistry: zoneMatch must be ${modes.join(", ")}, not ${JSON.stringify(options.zoneMatch)}`, { policy: "zone_match" });
  }
  checkPositive("openRegistry", "maxEntryAgeMs", options.maxEntryAgeMs, { finite: true });
  retiredKeySet("openRegistry", options.retiredKeys);
}
