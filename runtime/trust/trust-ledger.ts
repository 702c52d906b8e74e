/**
 * The trust ledger: a reputation per entity, moved by the `trust_delta` of verified
 * attestations. Scores stay within fixed bounds, memory stays within fixed bounds, and every
 * score can be explained from the history the ledger keeps.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { verifyAttestation } from "./attestation.js";
import { toMillis } from "./envelope.js";
import { isKeyId, type KeyResolver } from "./keys.js";
import type { ExecutionAttestationRecord } from "./records.js";
import { forgetOldest } from "../forget-oldest.js";
import { checkWhole } from "../option-check.js";

/** One change to an entity's score. */
export interface LedgerEntry {
  task_id: string;
  trace_hash: string;
  signer: string;
  /** The delta the attestation proposed. */
  proposed: number;
  /** The delta actually applied after clamping the score to its bounds. */
  applied: number;
  /** The score after this entry. */
  score: number;
  at: string;
}

/** Why an entity has the score it has: `initial + folded.applied + Σ entries.applied = score`. */
export interface ScoreExplanation {
  entity: string;
  score: number;
  initial: number;
  /** Older entries summarised once the history bound was reached. */
  folded: { count: number; applied: number };
  entries: LedgerEntry[];
}

/** Ledger bounds. */
export interface TrustLedgerOptions {
  /** Keys whose attestations are accepted. */
  keys: KeyResolver;
  /** Score of an entity the ledger has not seen (default 0.5). */
  initial?: number;
  /** Score bounds (default [0, 1]). */
  min?: number;
  max?: number;
  /** Entries kept per entity before the oldest are folded into a summary (default 100): a whole number of at least 1, Infinity to keep all. */
  maxHistory?: number;
  /** Entities kept; beyond this the least recently updated (a 64th of them) are forgotten (default 10 000): a whole number of at least 1, Infinity to keep all. */
  maxEntities?: number;
}

interface Account {
  score: number;
  folded: { count: number; applied: number };
  /** The fold per signer, so a distrusted signer's folded entries can be taken out too; no more signers than the key ring holds. */
  foldedBy: Map<string, { count: number; applied: number }>;
  entries: LedgerEntry[];
  /** trace hashes already applied, so one attestation counts once; bounded with the history. */
  seen: Set<string>;
}

/** Reputation per entity, driven by signed attestations. */
export class TrustLedger {
  readonly #accounts = new Map<string, Account>();
  readonly #keys: KeyResolver;
  readonly #initial: number;
  readonly #min: number;
  readonly #max: number;
  readonly #maxHistory: number;
  readonly #maxEntities: number;
  /** Signers whose attestations no longer count (`distrust`), whatever the key resolver says. */
  readonly #distrusted = new Set<string>();

  constructor(options: TrustLedgerOptions) {
    // NaN passed `Math.max(1, …)` and bounded nothing (`length > NaN` is never true): memory grew with every attestation.
    checkWhole("TrustLedger", "maxHistory", options.maxHistory, { infinity: true });
    checkWhole("TrustLedger", "maxEntities", options.maxEntities, { infinity: true });
    if (typeof options.keys !== "function") throw new OnexError(ErrorCode.Usage, "TrustLedger: keys must be a key resolver (keyRing([...]))");
    // A score of "0.5" (from a config file) passed the bounds check and was then concatenated with each delta: every score became NaN.
    for (const name of ["initial", "min", "max"] as const) {
      const value = options[name];
      if (value !== undefined && !(typeof value === "number" && Number.isFinite(value))) {
        throw new OnexError(ErrorCode.Usage, `TrustLedger: ${name} must be a finite number, not ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
      }
    }
    this.#keys = options.keys;
    this.#min = options.min ?? 0;
    this.#max = options.max ?? 1;
    this.#initial = options.initial ?? 0.5;
    this.#maxHistory = options.maxHistory ?? 100;
    this.#maxEntities = options.maxEntities ?? 10_000;
    if (!(this.#min <= this.#initial && this.#initial <= this.#max)) {
      throw new OnexError(ErrorCode.Usage, `the initial score ${this.#initial} is outside [${this.#min}, ${this.#max}]`);
    }
  }

  /**
   * Verifies an attestation and applies its delta to the attested node's score; returns the
   * entry, or undefined when this attestation (same trace hash and signer) was already applied.
   */
  apply(attestation: ExecutionAttestationRecord, at: Date = new Date()): LedgerEntry | undefined {
    // Read first: an invalid Date threw a RangeError after room was made for the entity, forgetting another's score.
    const stamp = new Date(toMillis(at, "the time an attestation is applied")).toISOString();
    verifyAttestation(attestation, { keys: this.#keys });
    if (this.#distrusted.has(attestation.signer)) {
      throw new OnexError(ErrorCode.SignerUnknown, `attestation signer ${attestation.signer} is distrusted in this ledger`, { signer: attestation.signer, reason: "distrusted" });
    }
    const entity = attestation.node;
    const account = this.#account(entity);
    const id = `${attestation.signer}\u0000${attestation.trace_hash}`;
    if (account.seen.has(id)) return undefined;
    const before = account.score;
    const after = this.#clamp(before + attestation.trust_delta);
    const entry: LedgerEntry = {
      task_id: attestation.task_id,
      trace_hash: attestation.trace_hash,
      signer: attestation.signer,
      proposed: attestation.trust_delta,
      applied: after - before,
      score: after,
      at: stamp,
    };
    account.score = after;
    account.entries.push(entry);
    account.seen.add(id);
    while (account.entries.length > this.#maxHistory) {
      const oldest = account.entries.shift() as LedgerEntry;
      account.folded.count++;
      account.folded.applied += oldest.applied;
      const bySigner = account.foldedBy.get(oldest.signer) ?? { count: 0, applied: 0 };
      bySigner.count++;
      bySigner.applied += oldest.applied;
      account.foldedBy.set(oldest.signer, bySigner);
      // Folded attestations may be counted again if replayed; the history bound is the price of bounded memory.
      account.seen.delete(`${oldest.signer}\u0000${oldest.trace_hash}`);
    }
    return entry;
  }

  /**
   * Stops counting `signer` (a stolen or retired attester key) and undoes what it counted: its
   * attestations are refused from now on (ONEX_E_SIGNER_UNKNOWN), even if the key resolver still
   * knows it, and its entries leave every history, each score replayed from the others' deltas
   * as if it had never signed. Its entries already folded are taken out as the sum they applied
   * then (exact unless a bound clamped them). Dropping a key from the resolver alone stops new
   * attestations but keeps every score the thief moved. Returns how many entries were undone.
   */
  distrust(signer: string): number {
    if (!isKeyId(signer)) throw new OnexError(ErrorCode.Usage, `TrustLedger.distrust: give a key id as keyIdOf spells it, not ${JSON.stringify(signer)}`);
    this.#distrusted.add(signer);
    let undone = 0;
    for (const account of this.#accounts.values()) {
      const folded = account.foldedBy.get(signer);
      const mine = account.entries.filter((e) => e.signer === signer).length;
      if (folded === undefined && mine === 0) continue;
      if (folded !== undefined) {
        account.foldedBy.delete(signer);
        account.folded.count -= folded.count;
        undone += folded.count;
      }
      undone += mine;
      account.entries = account.entries.filter((e) => e.signer !== signer);
      for (const key of account.seen) if (key.startsWith(`${signer}\u0000`)) account.seen.delete(key);
      // The fold summed anew from the signers left, not the clamped fold of an earlier distrust
      // less this signer's: that let a second distrust push a score out past a bound it had met.
      let foldedSum = 0;
      for (const part of account.foldedBy.values()) foldedSum += part.applied;
      // Replayed in order, each delta clamped again: without the thief's, another's may now apply in full.
      let score = this.#clamp(this.#initial + foldedSum);
      account.folded.applied = score - this.#initial;
      for (const entry of account.entries) {
        const after = this.#clamp(score + entry.proposed);
        entry.applied = after - score;
        entry.score = score = after;
      }
      account.score = score;
    }
    return undone;
  }

  /** The score of an entity (the initial score when unknown). */
  score(entity: string): number {
    return this.#accounts.get(entity)?.score ?? this.#initial;
  }

  /** The score of an entity with the history that produced it. */
  explain(entity: string): ScoreExplanation {
    const account = this.#accounts.get(entity);
    return {
      entity,
      score: account?.score ?? this.#initial,
      initial: this.#initial,
      folded: { ...(account?.folded ?? { count: 0, applied: 0 }) },
      entries: account ? account.entries.map((e) => ({ ...e })) : [],
    };
  }

  /** How many entities the ledger remembers. */
  get size(): number {
    return this.#accounts.size;
  }

  #clamp(score: number): number {
    return Math.min(this.#max, Math.max(this.#min, score));
  }

  #account(entity: string): Account {
    let account = this.#accounts.get(entity);
    if (account !== undefined) {
      // Re-insert so Map order is least-recently-updated first.
      this.#accounts.delete(entity);
    } else {
      account = { score: this.#initial, folded: { count: 0, applied: 0 }, foldedBy: new Map(), entries: [], seen: new Set() };
    }
    this.#accounts.set(entity, account);
    while (this.#accounts.size > this.#maxEntities) {
      forgetOldest(this.#accounts);
    }
    return account;
  }
}
