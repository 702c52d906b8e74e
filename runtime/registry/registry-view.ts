/**
 * A live view of a registry's verified entries in a zone, kept by one watch: `list` answers from
 * memory. A registry's own `list` reads every entry of the zone from the store and verifies each
 * one it has not verified at that revision (14 µs a node, 57 µs past the 2,048 addresses its
 * cache holds), so whatever lists often should keep a view: a router choosing a node for each
 * task, a fetcher's peer directory every 250 ms.
 *
 * It holds what the watch reported, from its first state on: registered entries, verified as
 * they came, gone again when deregistered, expired or tampered with. It is as fresh as the watch
 * (a change arrives about a round trip after it is stored), and an entry's `heartbeatAt` is that
 * of the registration reported (heartbeats are not changes). An entry-age limit is applied as
 * `list` is called, as the registry applies it to what it reads. A view whose watch failed
 * rejects every `list` with that failure: it does not answer from a memory it can no longer keep.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { checkObject, checkPositive } from "../option-check.js";
import { after, type Timer } from "../timer.js";
import { parseRfc3339 } from "../trust/rfc3339-time.js";
import { assertZoneId } from "../zone-id.js";
import type { Registry, RegistryChange, RegistryFilter, ResolvedEntry } from "./registry.js";
import { checkFilterValues, matchesFilter } from "./registry.js";

/** How long opening a view may wait for its watch's first state (an unreachable store: a registry call fails sooner). */
const OPEN_TIMEOUT_MS = 15_000;
/**
 * Zones a view's `list` found to be zone ids, kept so the check is made once per zone: made on
 * every call, it cost a third of a whole `list` of a view of a few entries for a short zone, and
 * four such lists for one of 251 characters; a zone found here costs a twentieth. Bounded, as the
 * zones asked for may come from anywhere.
 */
const ZONES_CHECKED = 64;

export class RegistryView {
  readonly #zone: string | undefined;
  readonly #maxEntryAgeMs: number | undefined;
  /** Whether a node key was retired (Registry.distrust) since its entries were reported: those are listed no more, at once. */
  readonly #retired: (keyId: string) => boolean;
  readonly #changes: AsyncIterableIterator<RegistryChange>;
  readonly #entries = new Map<string, ResolvedEntry>();
  readonly #zonesChecked = new Set<string>();
  /** The entries by address, built again on the first `list` after a change. */
  #sorted: ResolvedEntry[] | undefined;
  #failure: OnexError | undefined;
  readonly #following: Promise<void>;
  /** Stops listening for the registry's close (see open). */
  #unlisten: () => void = () => {};

  private constructor(zone: string | undefined, maxEntryAgeMs: number | undefined, changes: AsyncIterableIterator<RegistryChange>, retired: (keyId: string) => boolean) {
    this.#zone = zone;
    this.#retired = retired;
    this.#maxEntryAgeMs = maxEntryAgeMs;
    this.#changes = changes;
    this.#following = this.#follow();
  }

  /**
   * Opens a view of `zone` (every zone without one) and resolves once its watch has reported
   * every entry stored when it began. The view is the watch's own first state, not a `list` read
   * beside it: a list read at another revision than the watch's (or judging an etcd lease
   * otherwise) keeps entries the watch never reports gone, and misses those it reports as first
   * state. ONEX_E_REGISTRY_UNAVAILABLE when that first state takes longer than `timeoutMs`
   * (more than 0, Infinity for no limit; anything else is ONEX_E_USAGE before the watch begins).
   * Used by a registry's `view`, which knows its entry-age limit and its retired keys (`retired`:
   * the watch reports a key's entries tampered a few turns after `distrust` returns, and a
   * router listing in between was offered the thief's node).
   */
  static async open(
    registry: Pick<Registry, "watch" | "closeSignal">,
    zone: string | undefined,
    maxEntryAgeMs: number | undefined,
    timeoutMs = OPEN_TIMEOUT_MS,
    retired: (keyId: string) => boolean = () => false,
  ): Promise<RegistryView> {
    checkPositive("RegistryView.open", "timeoutMs", timeoutMs);
    let synced!: () => void;
    const ready = new Promise<void>((resolve) => (synced = resolve));
    const view = new RegistryView(zone, maxEntryAgeMs, registry.watch(zone === undefined ? {} : { zone }, { onSynced: () => synced() }), retired);
    // Refused from the registry's close() on, as its watch's end is: on etcd that end came a while
    // after close() had returned, and until then `list` answered from the memory of a closed registry.
    const closed = registry.closeSignal;
    if (closed !== undefined) {
      const onClose = () => view.#closedWith(closedRegistry());
      if (closed.aborted) onClose();
      else {
        closed.addEventListener("abort", onClose, { once: true });
        view.#unlisten = () => closed.removeEventListener("abort", onClose);
      }
    }
    // `after`, not setTimeout: a Node timer fires Infinity (or anything past 24.8 days) at once, and the view failed before its watch could report.
    let timer: Timer | undefined;
    const late = new Promise<void>((resolve) => (timer = after(timeoutMs, resolve)));
    const outcome = await Promise.race([ready.then(() => "synced" as const), view.#following, late]);
    timer?.cancel();
    if (outcome !== "synced" || view.#failure !== undefined) {
      const failure = view.#failure ?? new OnexError(ErrorCode.RegistryUnavailable, `the registry's watch did not report ${zone ?? "every zone"}'s entries within ${timeoutMs} ms`, { zone, timeoutMs });
      await view.close();
      throw failure;
    }
    return view;
  }

  /**
   * The live, verified entries matching `filter`, sorted by address, as the registry's `list`
   * would give them (they are shared between calls, and frozen). A filter naming another zone
   * than the view's is ONEX_E_ZONE_MISMATCH; a view whose watch failed, or that was closed,
   * rejects with why.
   */
  async list(filter: RegistryFilter = {}): Promise<ResolvedEntry[]> {
    // From plain JavaScript, null reached `filter.zone` as a raw TypeError.
    checkObject("RegistryView.list", "filter", filter);
    checkFilterValues("RegistryView.list", filter);
    if (filter.zone !== undefined) this.#checkZone(filter.zone);
    if (this.#failure !== undefined) throw this.#failure;
    if (filter.zone !== undefined && this.#zone !== undefined && filter.zone !== this.#zone) {
      throw new OnexError(ErrorCode.ZoneMismatch, `this registry view holds zone ${this.#zone}, not ${filter.zone}`, { zone: filter.zone, zones: [this.#zone] });
    }
    this.#sorted ??= [...this.#entries.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    const now = Date.now();
    const maxAge = this.#maxEntryAgeMs;
    return this.#sorted.filter(
      (entry) => matchesFilter(entry, filter) && !this.#retired(entry.key.keyId) && (maxAge === undefined || now - parseRfc3339(entry.entry.registered_at) <= maxAge),
    );
  }

  /**
   * ONEX_E_USAGE for a zone no message can name, as the registry's `list` refuses it: such a zone
   * listed nothing, for good, and `""` nothing either (on a view of one zone, a zone mismatch).
   */
  #checkZone(zone: string): void {
    if (this.#zonesChecked.has(zone)) return;
    assertZoneId(zone, "RegistryView.list: filter.zone");
    if (this.#zonesChecked.size >= ZONES_CHECKED) this.#zonesChecked.clear();
    this.#zonesChecked.add(zone);
  }

  /** Ends the view's watch; `list` rejects from then on. */
  async close(): Promise<void> {
    this.#unlisten();
    this.#failure ??= new OnexError(ErrorCode.RegistryUnavailable, "this registry view was closed");
    await this.#changes.return?.();
    await this.#following;
  }

  /** Its registry was closed: `list` rejects with `failure` from now on, and the watch is ended. */
  #closedWith(failure: OnexError): void {
    this.#unlisten();
    this.#failure ??= failure;
    void Promise.resolve(this.#changes.return?.()).catch(() => undefined);
  }

  async #follow(): Promise<void> {
    try {
      for await (const change of this.#changes) {
        if (change.kind === "registered") this.#entries.set(change.address, freeze(change.entry));
        else this.#entries.delete(change.address);
        this.#sorted = undefined;
      }
      this.#failure ??= closedRegistry();
    } catch (error) {
      this.#failure ??=
        error instanceof OnexError ? error : new OnexError(ErrorCode.RegistryUnavailable, `the registry view's watch failed: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
      // A failed watch's store watch (a consumer on the server, timers) ends with it.
      await this.#changes.return?.().catch(() => undefined);
    }
  }
}

/** What a view whose registry was closed rejects `list` with. */
function closedRegistry(): OnexError {
  return new OnexError(ErrorCode.RegistryUnavailable, "the registry view's watch ended: its registry was closed");
}

/** `entry` with its records frozen, so no caller can change what the next one is handed. */
function freeze(entry: ResolvedEntry): ResolvedEntry {
  deepFreeze(entry.entry);
  deepFreeze(entry.identity);
  Object.freeze(entry.parts);
  return Object.freeze(entry);
}

function deepFreeze(value: unknown): void {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
}
