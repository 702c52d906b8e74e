/**
 * The task router: picks the node for a `signal.task.dispatch` by entity type, zone,
 * health and reputation (the trust ledger's score), and when the chosen node fails or does
 * not answer in time, dispatches to the next candidate with the proof of every earlier
 * attempt in the message's `fallback` list: which node, why (timeout, failed, unreachable),
 * and the node's signed failure attestation when it sent one.
 *
 * The transport is injected (`dispatch`): request/reply over NATS, the JetStream client, or
 * anything else that delivers a message to a node and reports how it went. So is the SDK
 * (`messages`): any generated version with `signal.task.dispatch`, whose envelope is laid out
 * as its generated layout says and whose payload names one target and an action, or a list of
 * targets and an operation.
 */
import { createHash, randomBytes } from "node:crypto";
import { ErrorCode, OnexError } from "../errors.js";
import { verifyAttestation } from "../trust/attestation.js";
import type { Envelope, EnvelopeSource } from "../trust/envelope.js";
import type { KeyPair } from "../trust/keys.js";
import type { ExecutionAttestationRecord } from "../trust/records.js";
import { MessageBuilder, type ServiceSdk, type TrustInit } from "../service-messages.js";
import { signMessage } from "../trust/sign-message.js";
import type { TrustLedger } from "../trust/trust-ledger.js";
import { after, type Timer } from "../timer.js";
import { parseAddress, type EntityType } from "./address.js";
import type { Registry, ResolvedEntry } from "./registry.js";
import { checkFunction, checkObject, checkPositive, checkWhole } from "../option-check.js";

/**
 * Characters of a failure's `detail` kept in its proof. The detail is what the node (or its
 * transport) said, and every later dispatch of the task carries it: a node answering with a
 * megabyte of detail made every later dispatch too large for NATS (1 MiB by default), so no
 * other candidate was ever reached.
 */
export const MAX_PROOF_DETAIL_CHARS = 1_024;

/** One earlier attempt, as carried in `payload.fallback`. */
export interface FallbackProof {
  node_id: string;
  reason: "timeout" | "failed" | "unreachable";
  detail?: string;
  attestation?: { [key: string]: unknown };
  at: string;
}

/** How a node answered a dispatch. */
export type DispatchOutcome = { ok: true; result?: unknown } | { ok: false; attestation?: ExecutionAttestationRecord; detail?: string };

/** Delivers a signed dispatch to a candidate and reports the outcome; should give up after `timeoutMs`. */
export type DispatchTransport = (candidate: ResolvedEntry, message: Envelope, options: { timeoutMs: number }) => Promise<DispatchOutcome>;

/** The SDK the router builds dispatches with: any generated version module with `signal.task.dispatch`. */
export type DispatchMessages = ServiceSdk;

/** How a router is wired. */
export interface RouterOptions {
  /**
   * Where candidates are listed, on every `route`: a registry, or a view of one
   * (`await registry.view(zone)`), which lists from memory rather than reading and verifying
   * the zone's every entry each time.
   */
  registry: Pick<Registry, "list">;
  /** The router's key: it signs every dispatch. */
  key: KeyPair;
  /** The router's canonical address: the source of its dispatches. */
  address: string;
  /** The SDK of the version dispatches are written in (`import * as v0_1 from "@onex/sdk/v0.1"`). */
  messages: DispatchMessages;
  dispatch: DispatchTransport;
  /** Reputation: higher scores are tried first. Without it, or among equal scores, in the router's own draw per task (see `candidates`). */
  ledger?: TrustLedger;
  /** How long one candidate has to answer (default 5 s). */
  timeoutMs?: number;
  /** Candidates tried at most (default: all). */
  maxAttempts?: number;
  /** `trust.level` of dispatches (default `verified`): a level of the SDK's version. */
  level?: string;
}

/** What to route. */
export interface RouteRequest {
  task_id: string;
  action: string;
  input?: { [key: string]: unknown };
  priority?: number;
  deadline?: string;
  /** Entity type of the candidates (default `node`). */
  entityType?: EntityType;
  /** Zone of the candidates (default: the router's zone; zone_match). */
  zone?: string;
  /** Only candidates declaring this capability. */
  capability?: string;
}

/** Where a task ran, and what it took. */
export interface RouteResult {
  node: ResolvedEntry;
  /** The signed dispatch the node accepted, with its `fallback` proof. */
  message: Envelope;
  result?: unknown;
  /** The attempts that failed before it. */
  fallback: FallbackProof[];
}

/** Routes dispatches to healthy nodes, best reputation first, falling back with proof. */
export class Router {
  readonly #options: RouterOptions;
  readonly #source: EnvelopeSource;
  readonly #dispatch: MessageBuilder;
  /** Orders candidates of equal score (see `candidates`); never leaves the router. */
  readonly #drawKey = randomBytes(32);

  /** Throws ONEX_E_SDK_MISMATCH when `messages` has no `signal.task.dispatch`, ONEX_E_USAGE for options it cannot work with (no `dispatch` function, a registry without `list`). */
  constructor(options: RouterOptions) {
    checkObject("Router", "options", options, { required: true });
    // A timeout of 0 or NaN dispatched the task to every candidate (each may run it) and then
    // reported that all had failed; a maxAttempts of -1 skipped the last candidate.
    checkPositive("Router", "timeoutMs", options.timeoutMs);
    checkWhole("Router", "maxAttempts", options.maxAttempts, { infinity: true });
    this.#options = options;
    const self = parseAddress(options.address);
    this.#source = { zone: self.zone, entityType: self.entityType, entityId: self.id };
    this.#dispatch = new MessageBuilder(options.messages, "signal.task.dispatch", "the router");
    // Without them every route failed: a missing dispatch as every candidate "unreachable", a registry without list as a raw TypeError.
    checkFunction("Router", "dispatch", options.dispatch);
    checkFunction("Router", "registry.list", (options.registry as Partial<RouterOptions["registry"]> | undefined)?.list);
  }

  /**
   * Healthy candidates for a request, best first: highest ledger score, and among equal scores
   * (all of them without a ledger) in an order this router draws per task: the same for every
   * route of one `task_id` by this router, unknown to anyone else. In address order, a zone member
   * who minted an identity whose id sorts first (a few hundred hashes for `node-00…`) was
   * offered every task before any other node of its score, and every new node has the same score.
   */
  async candidates(request: Pick<RouteRequest, "entityType" | "zone" | "capability"> & { task_id?: string }): Promise<ResolvedEntry[]> {
    const entries = await this.#options.registry.list({
      zone: request.zone ?? this.#source.zone,
      entityType: request.entityType ?? "node",
      health: "passing",
      ...(request.capability ? { capability: request.capability } : {}),
    });
    const ledger = this.#options.ledger;
    const task = request.task_id ?? "";
    const ranked = entries.map((entry) => ({ entry, score: ledger?.score(entry.entry.node_id) ?? 0, draw: this.#draw(task, entry.address) }));
    return ranked.sort((a, b) => b.score - a.score || (a.draw < b.draw ? -1 : a.draw > b.draw ? 1 : 0)).map((c) => c.entry);
  }

  /** The candidate's place among equals for a task: a keyed hash no node can aim its id at. */
  #draw(task: string, address: string): string {
    // JSON names the two parts unambiguously, whatever characters a task id holds.
    return createHash("sha256").update(this.#drawKey).update(JSON.stringify([task, address])).digest("hex");
  }

  /** Dispatches the task to the best candidate, falling back; ONEX_E_NO_ROUTE when none took it. */
  async route(request: RouteRequest): Promise<RouteResult> {
    checkObject("Router.route", "request", request, { required: true });
    const candidates = (await this.candidates(request)).slice(0, this.#options.maxAttempts ?? Infinity);
    const timeoutMs = this.#options.timeoutMs ?? 5_000;
    const fallback: FallbackProof[] = [];
    for (const candidate of candidates) {
      const common = {
        task_id: request.task_id,
        priority: request.priority ?? 5,
        ...(request.input ? { input: request.input } : {}),
        ...(request.deadline ? { deadline: request.deadline } : {}),
        ...(fallback.length > 0 ? { fallback: [...fallback] } : {}),
      };
      const { priority: _priority, ...unprioritised } = common;
      const target = candidate.entry.node_id;
      // One target and an action, or a list of targets and an operation; a version without priorities gets none.
      const payloads = [
        { ...common, target, action: request.action },
        { ...common, targets: [target], operation: request.action },
        { ...unprioritised, target, action: request.action },
        { ...unprioritised, targets: [target], operation: request.action },
      ];
      const message = signMessage(this.#dispatch.build(this.#source, this.#trust(), payloads), this.#options.key);
      const outcome = await this.#attempt(candidate, message, timeoutMs, request.task_id);
      if ("proof" in outcome) {
        fallback.push(outcome.proof);
        continue;
      }
      return { node: candidate, message, ...(outcome.result === undefined ? {} : { result: outcome.result }), fallback };
    }
    const why = candidates.length === 0 ? "no healthy candidate" : `all ${candidates.length} candidate(s) failed`;
    throw new OnexError(ErrorCode.NoRoute, `cannot route task ${request.task_id} (${request.entityType ?? "node"} in ${request.zone ?? this.#source.zone}${request.capability ? ` with ${request.capability}` : ""}): ${why}`, {
      taskId: request.task_id,
      fallback,
    });
  }

  async #attempt(candidate: ResolvedEntry, message: Envelope, timeoutMs: number, taskId: string): Promise<{ result?: unknown } | { proof: FallbackProof }> {
    const node_id = candidate.entry.node_id;
    let timer: Timer | undefined;
    const timedOut = Symbol("timeout");
    try {
      const outcome = await Promise.race([
        this.#options.dispatch(candidate, message, { timeoutMs }),
        new Promise<typeof timedOut>((resolve) => (timer = after(timeoutMs, () => resolve(timedOut)))),
      ]);
      if (outcome === timedOut) return { proof: { node_id, reason: "timeout", detail: `no answer within ${timeoutMs} ms`, at: now() } };
      if (outcome.ok) return outcome.result === undefined ? {} : { result: outcome.result };
      const proof: FallbackProof = { node_id, reason: "failed", at: now(), ...(outcome.detail ? { detail: bounded(String(outcome.detail)) } : {}) };
      if (outcome.attestation !== undefined) {
        try {
          checkFailureAttestation(outcome.attestation, candidate, taskId);
          proof.attestation = outcome.attestation as unknown as { [key: string]: unknown };
        } catch (error) {
          // The router's finding first: the node's own words may fill the bound.
          proof.detail = bounded(`attestation rejected: ${(error as Error).message}${proof.detail ? `; ${proof.detail}` : ""}`);
        }
      }
      return { proof };
    } catch (error) {
      const timeout = /timeout/i.test(String((error as { code?: unknown })?.code ?? "")) || /timeout|timed out/i.test((error as Error)?.message ?? "");
      return { proof: { node_id, reason: timeout ? "timeout" : "unreachable", detail: bounded(String((error as Error)?.message ?? error)), at: now() } };
    } finally {
      timer?.cancel();
    }
  }

  #trust(): TrustInit {
    return { signer: this.#options.key.keyId, level: this.#options.level ?? "verified", zone: this.#source.zone, expires_at: new Date(Date.now() + 300_000).toISOString() };
  }
}

/**
 * Throws unless `attestation` is the candidate's own signed account of not running this task.
 * Its signature alone let a node hand in any attestation it ever signed: one of another task
 * (with a task id of any length, carried in every later dispatch) or one saying it succeeded,
 * as the proof of a failure.
 */
function checkFailureAttestation(attestation: ExecutionAttestationRecord, candidate: ResolvedEntry, taskId: string): void {
  verifyAttestation(attestation, { keys: (id) => (id === candidate.key.keyId ? candidate.key : undefined), node: candidate.entry.node_id });
  if (attestation.task_id !== taskId) throw new OnexError(ErrorCode.TraceMismatch, `the attestation is for task ${bounded(attestation.task_id, 80)}, not ${taskId}`, { instancePath: "/task_id" });
  if (attestation.outcome === "succeeded") throw new OnexError(ErrorCode.TraceMismatch, "the attestation says the task succeeded, which is no proof of a failure", { instancePath: "/outcome" });
}

/**
 * `text` cut to `max` characters, saying so, with every lone surrogate (the node's own, or half a
 * pair the cut split) as U+FFFD: the proof goes into the next dispatch, which is signed as
 * canonical JSON, and one lone surrogate failed that signing and with it the whole route, so a
 * candidate could keep a task from every candidate after it.
 */
function bounded(text: string, max = MAX_PROOF_DETAIL_CHARS): string {
  const cut = text.length <= max ? text : `${text.slice(0, max - 30)}… (${text.length} characters)`;
  return (cut as string & { toWellFormed(): string }).toWellFormed();
}

function now(): string {
  return new Date().toISOString();
}
