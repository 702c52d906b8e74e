/**
 * The one registry interface every adapter (NATS KV, etcd, Consul) offers, and the storage
 * contract an adapter implements underneath it. Adapters only move bytes and keep TTLs;
 * everything about trust (verification on register, re-verification on read, zones) lives
 * once in `trusted-registry.ts`, so no adapter can get it subtly wrong.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { describeValue } from "../option-check.js";
import type { PublicKey } from "../trust/keys.js";
import type { PolicyMode } from "../trust/policy.js";
import type { NodeIdentityRecord, RegistryEntryRecord } from "../trust/records.js";
import { EntityType, type CanonicalAddress } from "./address.js";
import type { RegistryView } from "./registry-view.js";

/** The `health.status` values of a registry entry. */
export const HealthStatus = {
  Passing: "passing",
  Warning: "warning",
  Critical: "critical",
} as const;
export type HealthStatus = (typeof HealthStatus)[keyof typeof HealthStatus];

/** An entry read back from the registry, verified against the node's identity. */
export interface ResolvedEntry {
  /** The canonical address the entry is stored under. */
  address: string;
  parts: CanonicalAddress;
  entry: RegistryEntryRecord;
  identity: NodeIdentityRecord;
  /** The node's public key: the key the entry's signature verified with. */
  key: PublicKey;
  /** The store's revision of the entry (NATS KV sequence, etcd mod revision, Consul ModifyIndex). */
  revision: string;
  /** When the store last saw a write or heartbeat of the entry, when the store tells. */
  heartbeatAt?: Date;
}

/** What `list` and `watch` select; every field narrows. */
export interface RegistryFilter {
  zone?: string;
  entityType?: EntityType;
  health?: HealthStatus;
  /** Only entries that declare this capability. */
  capability?: string;
}

/** Whether `resolved` is one `filter` selects. */
export function matchesFilter(resolved: ResolvedEntry, filter: RegistryFilter): boolean {
  if (filter.zone !== undefined && resolved.parts.zone !== filter.zone) return false;
  if (filter.entityType !== undefined && resolved.parts.entityType !== filter.entityType) return false;
  if (filter.health !== undefined && resolved.entry.health.status !== filter.health) return false;
  if (filter.capability !== undefined && !(resolved.entry.capabilities ?? []).includes(filter.capability)) return false;
  return true;
}

const ENTITY_TYPES: readonly unknown[] = Object.values(EntityType);
const HEALTH_STATUSES: readonly unknown[] = Object.values(HealthStatus);

/**
 * A filter's entity type and health, values an entry can have, and its capability, a string:
 * any other value (`"nodes"`, `health: "ok"`) matched no entry, so a list was empty and a watch
 * silent for good, as for a zone no message can name. ONEX_E_USAGE naming `operation`.
 */
export function checkFilterValues(operation: string, filter: RegistryFilter): void {
  checkOneOf(operation, "filter.entityType", filter.entityType, ENTITY_TYPES, "entity type");
  checkOneOf(operation, "filter.health", filter.health, HEALTH_STATUSES, "health status");
  if (filter.capability !== undefined && typeof filter.capability !== "string") {
    throw new OnexError(ErrorCode.Usage, `${operation}: filter.capability must be a string, not ${describeValue(filter.capability)}`);
  }
}

function checkOneOf(operation: string, name: string, value: unknown, allowed: readonly unknown[], what: string): void {
  if (value === undefined || allowed.includes(value)) return;
  throw new OnexError(ErrorCode.Usage, `${operation}: ${name} ${describeValue(value)} is no ${what} an entry can have (${allowed.join(", ")}): it would match no entry`, {
    [name.slice("filter.".length)]: typeof value === "string" ? value.slice(0, 80) : describeValue(value),
  });
}

/** One change seen by `watch`. Heartbeats are not changes. */
export type RegistryChange =
  | { kind: "registered"; address: string; entry: ResolvedEntry; initial: boolean }
  | { kind: "deregistered"; address: string; last?: ResolvedEntry }
  /** The entry stopped being alive without a deregistration (TTL lapsed, removed or stripped of its TTL inside the store): the node is presumed dead. */
  | { kind: "expired"; address: string; last?: ResolvedEntry }
  /** A stored entry no longer verifies, or is older than one already seen there (a replay); it is not trusted and not listed. */
  | { kind: "tampered"; address: string; error: OnexError };

/** Options of `watch`. */
export interface WatchOptions {
  /** Skip the entries present when the watch starts (default false: they come first, `initial: true`). */
  updatesOnly?: boolean;
  /** Ends the watch. `return()` on the iterator ends it too. */
  signal?: AbortSignal;
  /** Called once every entry present when the watch began has been reported (or, with `updatesOnly`, passed over). */
  onSynced?: () => void;
}

/** The registry: canonical address resolution, health, trust-zone assignment and signature-key verification. */
export interface Registry {
  /** The adapter's URL scheme: `nats`, `etcd` or `consul`. */
  readonly kind: string;
  /** How long an entry lives without a heartbeat. */
  readonly ttlMs: number;
  /**
   * Verifies a signed entry against the node's identity (signature, id derivation, zone,
   * address) and stores it with a fresh TTL; returns it as `resolve` would.
   */
  register(entry: RegistryEntryRecord, identity: NodeIdentityRecord): Promise<ResolvedEntry>;
  /** Reads and re-verifies the entry at a canonical address, freshness included; ONEX_E_NOT_FOUND or ONEX_E_ENTRY_TAMPERED. */
  resolve(address: string): Promise<ResolvedEntry>;
  /** Live, verified entries matching the filter, sorted by address; tampered ones are reported, not returned. */
  list(filter?: RegistryFilter): Promise<ResolvedEntry[]>;
  /** Changes matching the filter, as an async iterator; resumes across server restarts. */
  watch(filter?: RegistryFilter, options?: WatchOptions): AsyncIterableIterator<RegistryChange>;
  /**
   * A live view of `zone`'s entries (every zone's without one), kept by one watch: its `list`
   * answers as this one does, from memory (registry-view.ts). For whatever lists often.
   */
  view(zone?: string): Promise<RegistryView>;
  /**
   * Renews the entry's TTL after verifying the stored entry, as every read does. When the
   * stored entry is not the one this registry registered (tampered, replayed, another
   * writer's), registers that one again; without such a registration it throws
   * ONEX_E_ENTRY_TAMPERED. ONEX_E_NOT_FOUND when the entry already lapsed (register again).
   */
  heartbeat(address: string): Promise<void>;
  /** Removes the entry; false when there was none. */
  deregister(address: string): Promise<boolean>;
  /** The verified public key of the entity at an address: what its signatures must verify with. */
  keyFor(address: string): Promise<PublicKey>;
  /**
   * Retires a node key while the registry is open, as `retiredKeys` does at open: `register`
   * refuses it, every read refuses what it signed, and every open watch (and so every view)
   * reports each entry it holds signed with it as `tampered`, at once. For a key stolen while
   * services run. False when it was retired already; ONEX_E_USAGE for what is no key id.
   */
  distrust(keyId: string): boolean;
  /**
   * Closes the connection; iterators from `watch` end, and `keepAlive` loops on this registry
   * resolve. Every call returns the same promise. Calls after it fail with ONEX_E_USAGE.
   */
  close(): Promise<void>;
  /** Aborted when close() is called (keepAlive ends with it); optional for other implementations. */
  readonly closeSignal?: AbortSignal;
}

/** How a registry checks what it stores. */
export interface RegistryOptions {
  /** Lifetime of an entry without a heartbeat (default 10 s, or the URL's `ttl`, which wins). Given, an existing NATS KV bucket with another max age is refused (ONEX_E_REGISTRY_URL); left out, the bucket's applies. */
  ttlMs?: number;
  /** Zones this registry accepts entries for, each a zone id (no pattern: `*` is refused, ONEX_E_USAGE); any zone when absent. */
  zones?: readonly string[];
  /** How an entry outside `zones` is treated (`zone_match`); strict by default. */
  zoneMatch?: PolicyMode;
  /** Entries signed longer ago than this are refused and, when read, treated as tampered. */
  maxEntryAgeMs?: number;
  /**
   * Key ids of node keys that no longer speak for their nodes (stolen, or rotated away), as the
   * registry opens; `distrust` adds one to a registry already open. `register` refuses a registration whose identity holds one
   * (ONEX_E_SIGNER_UNKNOWN), and every read treats one found in the store as untrusted
   * (ONEX_E_ENTRY_TAMPERED, cause ONEX_E_SIGNER_UNKNOWN): a registration is self-certifying, so
   * without this whoever holds an old key can register its old node again, for ever.
   */
  retiredKeys?: readonly string[] | ReadonlySet<string>;
  /** Told about every stored entry that fails re-verification or freshness (default: console.warn, once per address and reason). */
  onTampered?: (address: string, error: OnexError) => void;
  /** Where advisory zone failures, heartbeat repairs, entries a read skips as not alive by the TTL rule (etcd: on no lease, or a longer one) and a watch losing and regaining its connection (NATS KV, etcd) are logged (default: console). */
  logger?: { warn(message: string, details?: Record<string, unknown>): void };
}

/**
 * The longest registration (its stored JSON: entry and identity) a registry takes or reads, in
 * characters. One is about 1,200; a registration is held several times over by every long-lived
 * reader (a view holds each entry parsed and as bytes, and its verification is remembered), so
 * registrations of a megabyte at a few thousand addresses, which anyone may mint, would exhaust
 * every such reader's memory.
 */
export const MAX_REGISTRATION_CHARS = 65_536;

/** A stored value as an adapter returns it. */
export interface StoredValue {
  key: CanonicalAddress;
  value: string;
  revision: string;
  updatedAt?: Date;
}

/** A change at the storage level. */
export type StoreChange =
  /**
   * `mark`, when set, is the address's high-water mark as of the change or later (undefined:
   * there was none; rejected: it could not be read), which the adapter knows or asked for as
   * the change arrived, so the reader verifies the entry while it comes; absent, the reader
   * reads it. `live`, when set, is whether the value is alive, still being found out (etcd: a
   * lease lookup) while the reader verifies: `expired` when the key was alive before and is not
   * now, `gone` when it is not and was not; absent, it is alive.
   *
   * `markSeen`: these exact bytes were published as the address's mark after the watch began and
   * before the entry, with no other mark since (NATS KV on one server: the marks' publishes reach
   * the watch's connection ahead of the entries stored after them). The reader may report the
   * entry without the stored mark; the adapter reads it anyway and, unless it holds these bytes,
   * sends the entry again with `recheck` (and the mark it read as `mark`, when it could read it),
   * which the reader checks as any other change, reporting nothing when it passes.
   */
  | { op: "put"; stored: StoredValue; initial: boolean; mark?: Promise<StoredMark | undefined>; live?: Promise<"alive" | "expired" | "gone">; markSeen?: true; recheck?: true }
  | { op: "delete"; key: CanonicalAddress; reason: "deregistered" | "expired" }
  /** Every value present when the watch began has been handed over (once per watch). */
  | { op: "synced" };

/** Called with each mark as it is published, ahead of its entry (StoreChange `markSeen`): the reader may verify its bytes before the entry arrives. */
export type MarkPublished = (key: CanonicalAddress, value: string) => void;

/** Which keys `list` and `watch` cover at the storage level. */
export interface StorePrefix {
  zone?: string;
  entityType?: EntityType;
}

/** The address's high-water mark as stored: the newest registration ever accepted there. */
export interface StoredMark {
  value: string;
  revision: string;
}

/** What is stored at an address, read together: what `register` checks before its compare-and-set. */
export interface StoredSlot {
  /** The live entry, if any. */
  stored?: StoredValue;
  /** The key's revision whatever it holds (a lapsed entry, a deletion marker, a value that is not alive); "" when it holds nothing. */
  revision: string;
  mark?: StoredMark;
}

/** The revisions a `write` left behind. */
export interface WrittenRevisions {
  revision: string;
  /** Set when the mark was written. */
  markRevision?: string;
}

/**
 * What an adapter implements: keyed storage with TTLs and change feeds, nothing about trust.
 *
 * Liveness is the adapter's: an entry is alive only while the TTL the adapter attached to it
 * runs (a NATS KV write's server timestamp, an etcd lease of at most the TTL, a Consul
 * session). A value a store writer put without that (an etcd key with no lease or a longer
 * one, a Consul key held by no session) is not alive: `get` and `list` skip it and `watch`
 * treats it as gone (etcd: a put on a lease not yet looked up is alive as it arrives, and a
 * longer lease is an expiry once the lookup answers).
 */
export interface RegistryStore {
  readonly kind: string;
  readonly ttlMs: number;
  /** The live value at `key`, if any. */
  get(key: CanonicalAddress): Promise<StoredValue | undefined>;
  /** The live value, the key's revision whatever it holds, and the high-water mark, in one round trip where the store allows it. */
  read(key: CanonicalAddress): Promise<StoredSlot>;
  /**
   * Writes the high-water mark (when `writeMark`) and then the entry with a fresh TTL, each a
   * compare-and-set on `expected` ("" = must not exist): in one transaction where the store
   * has them (etcd compares both revisions even when the mark is left as it is), otherwise
   * mark first (NATS KV: sent ahead of the entry in the same round trip), so a reader that finds
   * the entry finds its mark. Undefined when a revision moved.
   */
  write(key: CanonicalAddress, value: string, expected: { revision: string; mark: string }, writeMark: boolean): Promise<WrittenRevisions | undefined>;
  /**
   * Renews the TTL of exactly the value stored at `revision`; false when the key is gone or holds
   * another revision. `read`, when given, is that value as the caller read it, which an adapter that
   * renews by rewriting (NATS KV) writes back without reading it again.
   */
  heartbeat(key: CanonicalAddress, revision: string, read?: StoredValue): Promise<boolean>;
  /**
   * Deletes the key as a deregistration (watchers see `deregistered`); false when there was none.
   * Any other removal is `expired`. With `revision`, only the value stored at that revision is
   * deleted (a compare-and-set): one written since, a newer registration, stays, and the answer is false.
   */
  delete(key: CanonicalAddress, revision?: string): Promise<boolean>;
  /** Live values under the prefix. */
  /**
   * The live values under `prefix`. An adapter that reads the marks with them (etcd: a
   * transaction of gets per 32 keys) sets `mark`: the address's high-water mark as of the list
   * or later, as a watch's change carries it; without it the reader asks `getMark` for each.
   */
  list(prefix: StorePrefix): Promise<(StoredValue & { mark?: Promise<StoredMark | undefined> })[]>;
  /**
   * Current values (`initial: true`), then changes, until `signal` aborts; survives reconnects.
   * An adapter that sees marks as they are published (NATS KV on one server) hands each to
   * `onMarkPublished` as it arrives, synchronously.
   */
  watch(prefix: StorePrefix, signal: AbortSignal, onMarkPublished?: MarkPublished): AsyncIterable<StoreChange>;
  /** The address's high-water mark: kept without a TTL, beside the entries, so it outlives lapses and deregistrations. */
  getMark(key: CanonicalAddress): Promise<StoredMark | undefined>;
  close(): Promise<void>;
}

/**
 * The longest registry TTL: 24 h, the most every adapter keeps. Consul refuses a session TTL
 * above 24h, etcd a lease above its MaxLeaseTTL (9e9 s) and NATS a max age beyond int64
 * nanoseconds (~292 years); past those the server's refusal came back as ONEX_E_REGISTRY_UNAVAILABLE,
 * which promises a retry may help. Heartbeats every TTL/3 also stay within setTimeout's 2^31 ms.
 */
export const MAX_TTL_MS = 86_400_000;
/** The shortest TTL every adapter can keep (1 s). */
export const MIN_TTL_MS = 1_000;
