/**
 * The streams a protocol implies: one stream per subject template (all versions share the
 * subject space, so v0.1 and v0.2 messages live in one stream) and the dead-letter stream.
 *
 * A zoned deployment (zones named, as `onex streams apply --identities` does) gives each
 * zone its own stream per template instead of the shared one, and its own dead-letter
 * stream: zone members touch the
 * JetStream API on their zone's streams only. A stream is the only unit NATS permissions
 * can confine that API to — consumer names are one namespace per stream, and `*` matches
 * whole tokens only — and the zone streams store what is published, rather than copy it
 * from a shared stream, because a copy (a stream source) re-checks a publisher's
 * `Nats-Expected-*` headers against the copy and stops at the first that fails
 * (nats-server 2.9), which would let one member stall its zone.
 *
 * `applyStreams` creates or updates them idempotently and reports what it changed.
 */
import { randomBytes } from "node:crypto";
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import type { ProtocolSdk, SubjectTemplate } from "../protocol-sdk.js";
import { encodeSubjectToken } from "../subject-token.js";
import { checkObject, checkWhole, describeValue } from "../option-check.js";
import { assertZoneId } from "../zone-id.js";
import { APPLY_ONE_REPLICA } from "./apply-advice.js";
import { jetStreamFailure, UNANSWERED, withRetry } from "./with-retry.js";

/** The dead-letter stream and its subjects; a zoned deployment has one per zone beside it (`ONEX_DLQ~<zone>`). */
export const DEAD_LETTER_STREAM = "ONEX_DLQ";
export const DEAD_LETTER_SUBJECTS = "onex.dlq.>";
/** The zone token of letters written by subscriptions that follow no single zone (never a token of an encoded zone). */
export const UNSCOPED_LETTER_ZONE = "~";

/** Limits of a stream; unset means the server default (unlimited). */
export interface StreamLimits {
  maxMessages?: number;
  maxBytes?: number;
  maxAgeMs?: number;
  /** What a full stream does with a new message: refuse it (`new`, the publisher gets ONEX_E_STREAM_FULL) or drop the oldest (`old`). */
  discard?: "old" | "new";
  replicas?: number;
  /** How long the server remembers message ids for de-duplication, from MIN_STREAM_AGE_MS to `maxAgeMs` (default 2 minutes, or `maxAgeMs` where that is shorter). */
  duplicateWindowMs?: number;
}

/** The configuration onex wants for one stream. */
export interface StreamPlan {
  name: string;
  subjects: string[];
  limits: StreamLimits;
}

/** The stream name of a subject template key: `event` -> `ONEX_EVENT`. */
export function streamNameOf(templateKey: string): string {
  return `ONEX_${templateKey.toUpperCase()}`;
}

/**
 * The stream of template `templateKey` that holds zone `zone`'s messages only:
 * `ONEX_EVENT~zone~2Etrusted~2Eorg`. (`~` never occurs in a template's stream name, so no
 * zone stream can share a name with another stream.)
 */
export function zoneStreamNameOf(templateKey: string, zone: string): string {
  return `${streamNameOf(templateKey)}~${encodeSubjectToken(zone, "zone")}`;
}

/** Whether a subject template carries the source zone (its generated `sourceParams` name a zone param), so it can have zone streams. */
export function hasZonePart(template: Pick<SubjectTemplate, "sourceParams">): boolean {
  return template.sourceParams.zone !== undefined;
}

/** The filter of a template's subjects of one zone, every other part a wildcard. */
export function zoneFilterOf(template: Pick<SubjectTemplate, "sourceParams" | "filter">, zone: string): string {
  return template.filter({ [template.sourceParams.zone!]: zone });
}

/** The streams the SDKs' subject templates imply, and the dead-letter stream; with `zones`, a zone stream per zone instead of each shared stream that carries the zone. */
export function planStreams(sdks: readonly ProtocolSdk[], limits: StreamLimits = {}, deadLetterLimits: StreamLimits = {}, zones: readonly string[] = []): StreamPlan[] {
  // A default parameter replaces undefined alone: null reached checkLimits as a raw TypeError.
  checkObject("planStreams", "limits", limits);
  checkObject("planStreams", "deadLetterLimits", deadLetterLimits);
  checkLimits(limits);
  checkLimits(deadLetterLimits);
  // From plain JavaScript, sdks or zones of 42 (or a single SDK module) were raw TypeErrors ("is not iterable"), as an SDK without subject templates was.
  const sdkList = listOf("sdks", sdks, "generated SDK modules (import * as sdk from \"@onex/sdk/<version>\"; one alone: [sdk])") as readonly ProtocolSdk[];
  sdkList.forEach(checkSdk);
  zones = listOf("zones", zones, "zone ids (one alone: [zone])") as readonly string[];
  // A zone no message can name would get streams nothing is ever published to.
  for (const zone of zones) assertZoneId(zone, "zone streams");
  const byName = new Map<string, StreamPlan>();
  const add = (name: string, subject: string) => {
    const plan = byName.get(name) ?? { name, subjects: [], limits };
    if (!plan.subjects.includes(subject)) plan.subjects.push(subject);
    byName.set(name, plan);
  };
  for (const sdk of sdkList) {
    for (const [key, template] of Object.entries(sdk.subjectTemplates)) {
      if (zones.length > 0 && hasZonePart(template)) for (const zone of zones) add(zoneStreamNameOf(key, zone), zoneFilterOf(template, zone));
      else add(streamNameOf(key), template.filter());
    }
  }
  if (zones.length === 0) {
    byName.set(DEAD_LETTER_STREAM, { name: DEAD_LETTER_STREAM, subjects: [DEAD_LETTER_SUBJECTS], limits: deadLetterLimits });
  } else {
    // Letters per zone too, so one zone's flood of letters cannot push out another's.
    byName.set(DEAD_LETTER_STREAM, { name: DEAD_LETTER_STREAM, subjects: [`onex.dlq.${UNSCOPED_LETTER_ZONE}.>`], limits: deadLetterLimits });
    for (const zone of zones) {
      const token = encodeSubjectToken(zone, "zone");
      byName.set(`${DEAD_LETTER_STREAM}~${token}`, { name: `${DEAD_LETTER_STREAM}~${token}`, subjects: [`onex.dlq.${token}.>`], limits: deadLetterLimits });
    }
  }
  // The dead-letter streams too: a template under `onex.dlq.` had its messages stored as letters.
  assertDisjoint([...byName.values()]);
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** `value` as an array, or ONEX_E_USAGE naming planStreams' argument `name` when it is no iterable (a string neither: its characters are none of `what`). */
function listOf(name: string, value: unknown, what: string): readonly unknown[] {
  if (value !== null && typeof value === "object" && typeof (value as Partial<Iterable<unknown>>)[Symbol.iterator] === "function") return [...(value as Iterable<unknown>)];
  throw new OnexError(ErrorCode.Usage, `planStreams: ${name} must be an array of ${what}, not ${describeValue(value)}`);
}

/** ONEX_E_USAGE for an SDK without the subject templates a generated SDK module has (each with its filter and source params). */
function checkSdk(sdk: unknown, index: number): void {
  const templates = (sdk as Partial<ProtocolSdk> | null | undefined)?.subjectTemplates as unknown;
  const usable =
    templates !== null &&
    typeof templates === "object" &&
    Object.values(templates).every((t: Partial<SubjectTemplate> | null) => typeof t?.filter === "function" && t.sourceParams !== null && typeof t.sourceParams === "object");
  if (!usable) throw new OnexError(ErrorCode.Usage, `planStreams: sdks[${index}] must be a generated SDK module (import * as sdk from "@onex/sdk/<version>"), not ${describeValue(sdk)}`);
}

/**
 * ONEX_E_STREAM_CONFIG, before anything is sent, when two planned streams would hold a common
 * subject: the server refuses the second ("subjects overlap") after the first is made, and a
 * message on such a subject would be stored by the wrong template's stream. This happens when
 * a version adds a subject template (under a new key) whose subjects another version's
 * template, another of its own, or the dead letters (`onex.dlq.>`) also match.
 */
function assertDisjoint(plans: readonly StreamPlan[]): void {
  for (const [i, a] of plans.entries()) {
    for (const b of plans.slice(i + 1)) {
      const shared = a.subjects.flatMap((x) => b.subjects.filter((y) => filtersIntersect(x, y)).map((y) => [x, y] as const))[0];
      if (shared !== undefined) {
        throw new OnexError(
          ErrorCode.StreamConfig,
          `streams ${a.name} and ${b.name} would both hold subjects such as ${shared[0]} / ${shared[1]}: two subject templates of the manifests (under different keys), or one and the dead letters' onex.dlq.>, match the same subjects; give the template a literal token the other lacks. Nothing was changed`,
          { streams: [a.name, b.name], subjects: [shared[0], shared[1]] },
        );
      }
    }
  }
}

/** Whether some subject matches both NATS filters (`*` one token, `>` the rest). */
function filtersIntersect(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === ">" || y[i] === ">") return x[i] !== undefined && y[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== "*" && y[i] !== "*" && x[i] !== y[i]) return false;
  }
  return true;
}

/** One stream's difference between the plan and the server. */
export interface StreamChange {
  name: string;
  action: "create" | "update" | "unchanged";
  /** Field -> [server, planned], for updates. */
  fields: Record<string, [unknown, unknown]>;
  /** The server's configuration before an update, which `revertStreams` puts back. */
  previous?: StreamConfig;
  /** The configuration this run sent, once sent: `revertStreams` undoes only a stream that still has it. */
  written?: Partial<StreamConfig>;
}

const NANOS_PER_MS = 1_000_000;
/** The longest age or window JetStream holds: nanoseconds in a signed 64-bit integer (about 292 years). */
export const MAX_STREAM_AGE_MS = Math.floor((2 ** 63 - 1) / NANOS_PER_MS);

/**
 * ONEX_E_USAGE for a limit the server would misread: 0 or NaN messages, bytes or age made an
 * unlimited stream, a negative count was taken, a fraction reached the server as invalid JSON
 * (and an unset limit, which is unlimited, is the way to say so).
 */
function checkLimits(l: StreamLimits): void {
  checkWhole("stream limits", "maxMessages", l.maxMessages);
  checkWhole("stream limits", "maxBytes", l.maxBytes);
  checkWhole("stream limits", "maxAgeMs", l.maxAgeMs, { max: MAX_STREAM_AGE_MS });
  checkWhole("stream limits", "replicas", l.replicas, { max: 5 });
  // JetStream refuses a window under its shortest age, and refused it only after the streams before this one were made.
  checkWhole("stream limits", "duplicateWindowMs", l.duplicateWindowMs, { min: MIN_STREAM_AGE_MS, max: MAX_STREAM_AGE_MS });
  // The server's own rules, said before anything is sent: it refuses a shorter age, and ids kept longer than their messages.
  if (l.maxAgeMs !== undefined && l.maxAgeMs < MIN_STREAM_AGE_MS) throw new OnexError(ErrorCode.Usage, `stream limits: maxAgeMs must be at least ${MIN_STREAM_AGE_MS} (JetStream's shortest), not ${l.maxAgeMs}`);
  if (l.maxAgeMs !== undefined && l.duplicateWindowMs !== undefined && l.duplicateWindowMs > l.maxAgeMs) {
    throw new OnexError(ErrorCode.Usage, `stream limits: duplicateWindowMs (${l.duplicateWindowMs}) cannot be longer than maxAgeMs (${l.maxAgeMs}): the server keeps no message id longer than its message`);
  }
}

/** JetStream's shortest message age. */
export const MIN_STREAM_AGE_MS = 100;
/** JetStream's default de-duplication window, shortened to the stream's age where that is shorter (the server refuses a longer one). */
const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

function desiredConfig(plan: StreamPlan): Partial<StreamConfig> {
  const l = plan.limits;
  return {
    name: plan.name,
    subjects: [...plan.subjects].sort(),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs: l.maxMessages ?? -1,
    max_bytes: l.maxBytes ?? -1,
    max_age: (l.maxAgeMs ?? 0) * NANOS_PER_MS,
    discard: l.discard === "new" ? DiscardPolicy.New : DiscardPolicy.Old,
    num_replicas: l.replicas ?? 1,
    duplicate_window: (l.duplicateWindowMs ?? Math.min(DEFAULT_DUPLICATE_WINDOW_MS, l.maxAgeMs ?? Infinity)) * NANOS_PER_MS,
    // No purge and no message delete through the API: JetStream sends a publish's
    // acknowledgement to whatever reply subject the publisher chose, with its own authority,
    // so a member could aim one at `$JS.API.STREAM.PURGE.<another zone's stream>`. Limits
    // (age, size) still remove messages: nats-server never lifts deny_purge, so an operator who
    // must empty a stream applies a small limit for a moment (docs/control-plane.md).
    deny_delete: true,
    deny_purge: true,
  };
}

/**
 * The description a run gives the streams it creates (`created by onex streams apply, run
 * 3f9a…`): nats-server 2.9 says neither who made a stream nor whether a create made it (it
 * answers `did_create` to a create of a stream that exists with the same configuration), so a
 * run tells its own streams by this mark. Another run's create of the same stream differs in
 * it, and the server refuses that create (the name is in use with another configuration)
 * rather than answer it as if it had made the stream. An update keeps the description.
 */
function creatorMark(): string {
  return `created by onex streams apply, run ${randomBytes(8).toString("hex")}`;
}

/**
 * Creates or updates the planned streams so the server matches the plan; with `dryRun`
 * only reports. Safe to run again and again: an unchanged stream is left alone.
 *
 * All or nothing, as far as the server lets it be: every stream is read, and what the server
 * would refuse and can tell in advance (the account's limits, a change it does not make in
 * place, subjects another stream holds) is ONEX_E_STREAM_CONFIG before anything is written,
 * in a dry run too. A write refused after that (a cluster without room for the replicas, a
 * standalone server asked for replicas) undoes what this run wrote: `revertStreams`.
 *
 * `signal` aborted (the operator stopped the run) ends it before its next write: the write in
 * progress finishes, what this run wrote is undone as after a refusal, and the error says which
 * streams were written and undone (`details.stopped`, `details.written`). `onWritten` hears of
 * each write as the server takes it.
 */
export async function applyStreams(
  jsm: JetStreamManager,
  plans: readonly StreamPlan[],
  options: { dryRun?: boolean; signal?: AbortSignal; onWritten?: (change: StreamChange) => void } = {},
): Promise<StreamChange[]> {
  const changes: StreamChange[] = [];
  const desiredOf = new Map<string, Partial<StreamConfig> & { name: string }>();
  const unclustered: string[] = [];
  for (const plan of plans) {
    const desired = desiredConfig(plan) as Partial<StreamConfig> & { name: string };
    desiredOf.set(plan.name, desired);
    const current = await withRetry(() => jsm.streams.info(plan.name)).then(
      (info) => {
        if (info.cluster === undefined) unclustered.push(plan.name);
        return info.config;
      },
      (error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw jetStreamFailure(error, `reading stream ${plan.name}`, { stream: plan.name });
      },
    );
    if (current === undefined) {
      changes.push({ name: plan.name, action: "create", fields: Object.fromEntries(Object.entries(desired).map(([k, v]) => [k, [undefined, v]])) });
      continue;
    }
    const fields: Record<string, [unknown, unknown]> = {};
    for (const [key, value] of Object.entries(desired)) {
      const have = (current as unknown as Record<string, unknown>)[key];
      if (!sameValue(key, have, value)) fields[key] = [key === "subjects" ? [...((have as string[] | undefined) ?? [])].sort() : have, value];
    }
    const changed = Object.keys(fields).length > 0;
    changes.push({ name: plan.name, action: changed ? "update" : "unchanged", fields, ...(changed ? { previous: current } : {}) });
  }
  await assertServerTakes(jsm, changes, desiredOf, unclustered);
  if (options.dryRun) return changes;
  const written: StreamChange[] = [];
  const mark = creatorMark();
  for (const change of changes) {
    if (change.action === "unchanged") continue;
    if (options.signal?.aborted) throw withUndo(stoppedBefore(change.name, written, options.signal), change.name, await revertStreams(jsm, written));
    const desired = desiredOf.get(change.name)!;
    try {
      if (change.action === "create") {
        const mine = { ...desired, description: mark };
        change.written = mine;
        if (!(await guard(change.name, () => jsm.streams.add(mine).then(() => true, (error: unknown) => refusedAsTaken(jsm, error, desired))))) {
          // Another run created it meanwhile, as this run would have: this run made no change to it, and has nothing of it to undo.
          Object.assign(change, { action: "unchanged", fields: {}, written: undefined });
          continue;
        }
      } else {
        change.written = { ...change.previous!, ...desired };
        await guard(change.name, () => jsm.streams.update(change.name, change.written!));
      }
    } catch (error) {
      // A create that went unanswered may still have been made: undo it too (an empty stream is deleted, and one that is absent is nothing to undo).
      const maybeWritten = error instanceof OnexError && error.code !== ErrorCode.StreamConfig ? [...written, change] : written;
      throw withUndo(error, change.name, await revertStreams(jsm, maybeWritten));
    }
    written.push(change);
    options.onWritten?.(change);
  }
  return changes;
}

/**
 * For a create the server refused: false when the stream exists by now with the configuration
 * planned (another run created it since this run read the server, its description aside),
 * else the refusal again. One that exists configured otherwise is ONEX_E_STREAM_CONFIG, said so.
 */
async function refusedAsTaken(jsm: JetStreamManager, error: unknown, desired: Partial<StreamConfig> & { name: string }): Promise<false> {
  if (!/already in use/i.test((error as Error)?.message ?? "")) throw error;
  const now = (await jsm.streams.info(desired.name)).config;
  const differ = Object.keys(desired).filter((key) => !sameValue(key, (now as unknown as Record<string, unknown>)[key], (desired as Record<string, unknown>)[key]));
  if (differ.length === 0) return false;
  throw new OnexError(
    ErrorCode.StreamConfig,
    `stream ${desired.name} was created by another run (another onex streams apply, or an operator) after this run read the server, configured otherwise (${differ.join(", ")}), so this run left it as it is; run onex streams apply (in code: applyStreams) again once the other run has ended`,
    { stream: desired.name, fields: differ },
    { cause: error },
  );
}

/** Whether a stream's configuration field holds `want` (its subjects in any order). */
function sameValue(key: string, have: unknown, want: unknown): boolean {
  const sorted = (v: unknown) => (key === "subjects" ? [...((v as string[] | undefined) ?? [])].sort() : v);
  return JSON.stringify(sorted(have)) === JSON.stringify(sorted(want));
}

/** The error of a run stopped through `signal` before it wrote `next`, naming what it had written. */
function stoppedBefore(next: string, written: readonly StreamChange[], signal: AbortSignal): OnexError {
  const why = signal.reason instanceof Error ? signal.reason.message : "stopped";
  const done = written.length > 0 ? `it had ${written.map((c) => `${c.action}d ${c.name}`).join(", ")}` : "it had written no stream";
  return new OnexError(ErrorCode.StreamConfig, `${why} before stream ${next} was written: ${done}`, { stream: next, stopped: true, written: written.map((c) => c.name) });
}

/** What `revertStreams` put back and what it could not. */
export interface StreamRevert {
  /** Streams deleted (this run created them) or restored to their previous configuration. */
  undone: string[];
  /** Streams left as the run made them, each with why. */
  left: { stream: string; reason: string }[];
}

/**
 * Undoes applied changes, last first: a created stream is deleted while it holds no message
 * and no consumer (otherwise a publisher or subscriber raced in, and deleting would lose what
 * it stored, or end its subscription: it is left, and said); an updated stream gets its
 * previous configuration back. Never throws: what could not be undone is in `left`.
 */
export async function revertStreams(jsm: JetStreamManager, changes: readonly StreamChange[]): Promise<StreamRevert> {
  const result: StreamRevert = { undone: [], left: [] };
  for (const change of [...changes].reverse()) {
    try {
      if (change.action === "create") {
        const info = await withRetry(() => jsm.streams.info(change.name)).catch((error: unknown) => {
          if (isNotFound(error)) return undefined;
          throw error;
        });
        if (info === undefined) continue;
        // Another run's stream of the same name (its create refused this run's), never this run's to delete.
        if (change.written !== undefined && info.config.description !== change.written.description) {
          result.left.push({ stream: change.name, reason: `created by another run (its description: ${JSON.stringify(info.config.description ?? "")}), so this run did not delete it` });
          continue;
        }
        if (info.state.messages > 0 || info.state.consumer_count > 0) {
          result.left.push({ stream: change.name, reason: `created by this run, and holds ${info.state.messages} message(s) and ${info.state.consumer_count} consumer(s) since, so it was not deleted` });
          continue;
        }
        await withRetry(() => jsm.streams.delete(change.name));
        result.undone.push(change.name);
      } else if (change.action === "update" && change.previous !== undefined) {
        // Changed again since (another run, an operator): putting back the configuration before this run would undo that change too.
        const now = change.written === undefined ? undefined : (await withRetry(() => jsm.streams.info(change.name))).config;
        const field = (key: string) => (now as unknown as Record<string, unknown>)[key];
        const changed = now === undefined ? [] : Object.keys(change.fields).filter((key) => !sameValue(key, field(key), (change.written as Record<string, unknown>)[key]));
        // An update that went unanswered and was never made: the stream is as it was.
        if (changed.length > 0 && changed.every((key) => sameValue(key, field(key), (change.previous as unknown as Record<string, unknown>)[key]))) {
          result.undone.push(change.name);
          continue;
        }
        if (changed.length > 0) {
          result.left.push({ stream: change.name, reason: `updated by this run, and changed again since (${changed.join(", ")}), so it was not put back` });
          continue;
        }
        await withRetry(() => jsm.streams.update(change.name, change.previous!));
        result.undone.push(change.name);
      }
    } catch (error) {
      result.left.push({ stream: change.name, reason: `${change.action === "create" ? "created" : "updated"} by this run, and could not be undone: ${(error as Error)?.message ?? String(error)}` });
    }
  }
  return result;
}

/**
 * `error` (a write refused or unanswered) with what was undone after it said, in its message and
 * details (`undone`, `left`). Given an error it made already, it adds `revert` to what that said.
 */
export function withUndo(error: unknown, stream: string, revert: StreamRevert): OnexError {
  if (error instanceof OnexError && Array.isArray(error.details.undone) && error.cause instanceof OnexError) {
    const before = error.details as { undone: string[]; left: StreamRevert["left"] };
    return withUndo(error.cause, stream, { undone: [...before.undone, ...revert.undone], left: [...before.left, ...revert.left] });
  }
  const e = error instanceof OnexError ? error : new OnexError(ErrorCode.StreamConfig, `configuring stream ${stream} failed: ${(error as Error)?.message ?? String(error)}`, { stream }, { cause: error });
  const undone = revert.undone.length > 0 ? `; undone: ${revert.undone.join(", ")}` : "";
  const left = revert.left.length > 0 ? `; NOT undone: ${revert.left.map((l) => `${l.stream} (${l.reason})`).join("; ")}` : "";
  const tail = revert.left.length === 0 ? `${undone}; the streams are as they were before this run` : `${undone}${left}`;
  // The error without the tail is the cause, so a later undo (other zones') can be added to it.
  return new OnexError(e.code, `${e.message}${tail}`, { ...e.details, undone: revert.undone, left: revert.left }, { cause: e });
}

/** The account's JetStream limits as `$JS.API.INFO` reports them (-1 or 0: none). */
interface AccountLimits {
  max_streams?: number;
  max_storage?: number;
  storage_max_stream_bytes?: number;
  max_bytes_required?: boolean;
}

/**
 * ONEX_E_STREAM_CONFIG, before anything is written, for what the server would refuse and
 * says in advance: a change it does not make in place (nats-server 2.9 refuses to change a
 * stream's storage type or retention policy), replicas above 1 on a server in no cluster
 * (`unclustered`: the streams read whose info has no cluster), subjects a stream outside the plan holds, and
 * the account's limits on streams and stored bytes. A user not permitted to list streams or
 * read the account (a narrowly granted `--zone` user) skips the last two; the undo covers them.
 */
async function assertServerTakes(jsm: JetStreamManager, changes: readonly StreamChange[], desiredOf: Map<string, Partial<StreamConfig> & { name: string }>, unclustered: readonly string[]): Promise<void> {
  const refuse = (stream: string, why: string, extra: Record<string, unknown> = {}): never => {
    throw new OnexError(ErrorCode.StreamConfig, `stream ${stream} cannot be applied: ${why}. Nothing was changed`, { stream, ...extra });
  };
  for (const change of changes) {
    if (change.action !== "update") continue;
    for (const field of ["storage", "retention"] as const) {
      if (change.fields[field] !== undefined) refuse(change.name, `nats-server does not change a stream's ${field} in place (${JSON.stringify(change.fields[field][0])} -> ${JSON.stringify(change.fields[field][1])}); delete the stream (its messages go with it) and apply again`, { field });
    }
  }
  // A stream the server reports without cluster information, if any: the server is in no cluster.
  let alone = unclustered[0];
  const existing = await readOrSkip(
    () =>
      withRetry(async () => {
        const all: StreamConfig[] = [];
        for await (const info of jsm.streams.list()) {
          all.push(info.config);
          if (info.cluster === undefined) alone ??= info.config.name;
        }
        return all;
      }),
    "listing streams",
  );
  // nats-server 2.9 in no cluster refuses replicas above 1 when a stream is created, but takes
  // them in an update, and then, at its next start, loads no stream so configured: the stream
  // and every message it holds were gone from the server after an apply that said "updated".
  const replicated = changes.find((c) => c.action !== "unchanged" && (desiredOf.get(c.name)!.num_replicas ?? 1) > 1);
  let sign = alone === undefined ? undefined : `it reports stream ${alone} without one`;
  // No stream to read (a fresh server): the server is asked. Without this, a dry run said "would
  // create" where the apply was refused on its first create and undone.
  if (sign === undefined && replicated !== undefined && changes.every((c) => c.action === "create") && (existing ?? []).length === 0 && (await inNoCluster(jsm))) {
    sign = "it answers that its JetStream runs without clustering";
  }
  if (sign !== undefined && replicated !== undefined) {
    refuse(replicated.name, `the server is in no cluster (${sign}) and keeps one copy of a stream; with ${desiredOf.get(replicated.name)!.num_replicas} replicas nats-server would not load the stream at its next start; ${APPLY_ONE_REPLICA}, or apply to a cluster`, { field: "num_replicas" });
  }
  if (existing !== undefined) {
    for (const other of existing.filter((o) => !desiredOf.has(o.name))) {
      for (const desired of desiredOf.values()) {
        const shared = desired.subjects!.flatMap((x) => (other.subjects ?? []).filter((y) => filtersIntersect(x, y)).map((y) => [x, y] as const))[0];
        if (shared !== undefined) refuse(desired.name, `stream ${other.name}, which onex does not plan, holds subjects such as ${shared[1]}, which overlap its ${shared[0]} (the server refuses two streams for one subject); delete or narrow ${other.name}`, { streams: [desired.name, other.name], subjects: [shared[0], shared[1]] });
      }
    }
  }
  const account = await readOrSkip(() => withRetry(() => jsm.getAccountInfo()), "reading the account's JetStream limits");
  if (account === undefined || existing === undefined) return;
  const limits = account.limits as unknown as AccountLimits;
  const creates = changes.filter((c) => c.action === "create").length;
  if ((limits.max_streams ?? -1) > 0 && existing.length + creates > limits.max_streams!) {
    refuse(changes.find((c) => c.action === "create")!.name, `the account may hold ${limits.max_streams} streams, has ${existing.length}, and this would create ${creates} more`, { limit: "max_streams" });
  }
  for (const change of changes) {
    if (change.action === "unchanged") continue;
    const bytes = desiredOf.get(change.name)!.max_bytes ?? -1;
    if (limits.max_bytes_required && bytes <= 0) refuse(change.name, `the account requires every stream to have a size limit (--max-bytes, and --dlq-max-bytes for the dead letters); in code, planStreams(sdks, { maxBytes }, { maxBytes })`, { limit: "max_bytes_required" });
    if ((limits.storage_max_stream_bytes ?? -1) > 0 && bytes > limits.storage_max_stream_bytes!) refuse(change.name, `max_bytes ${bytes} is more than the account's ${limits.storage_max_stream_bytes} per stream`, { limit: "storage_max_stream_bytes" });
  }
  // The server reserves each file stream's max_bytes times its replicas against the account's storage.
  const reserved = (c: Partial<StreamConfig>) => (c.storage === StorageType.File && (c.max_bytes ?? -1) > 0 ? c.max_bytes! * (c.num_replicas ?? 1) : 0);
  if ((limits.max_storage ?? -1) > 0) {
    const after = existing.map((o) => reserved(desiredOf.get(o.name) ?? o)).reduce((a, b) => a + b, 0) + changes.filter((c) => c.action === "create").map((c) => reserved(desiredOf.get(c.name)!)).reduce((a, b) => a + b, 0);
    if (after > limits.max_storage!) refuse(changes.find((c) => c.action !== "unchanged" && reserved(desiredOf.get(c.name)!) > 0)?.name ?? changes[0]!.name, `the streams' size limits (max_bytes times replicas) would reserve ${after} bytes, more than the account's ${limits.max_storage} of file storage`, { limit: "max_storage" });
  }
}

/**
 * Whether the server's JetStream runs without clustering, asked without a stream to read: a
 * stream leader step-down names a stream that cannot exist (a random name), so nothing steps
 * down; a server in no cluster answers "JetStream clustering support required" (10010) before
 * it looks for the stream, a cluster "stream not found" (10059). The server's INFO is no sign:
 * a leaf node with a JetStream of its own names its own name there as its cluster's, and a
 * server configured with a cluster name and no cluster port names that. False when the answer
 * says neither (a user not permitted the request, no answer): the write then tells.
 */
async function inNoCluster(jsm: JetStreamManager): Promise<boolean> {
  // nats.js keeps the manager's connection, and its API prefix (the JetStream domain's), with it.
  const nc = (jsm as Partial<{ getConnection(): NatsConnection }>).getConnection?.();
  const prefix = jsm.getOptions().apiPrefix;
  if (nc === undefined || prefix === undefined) return false;
  try {
    const answer = await nc.request(`${prefix}.STREAM.LEADER.STEPDOWN.ONEX_NO_STREAM_${randomBytes(8).toString("hex").toUpperCase()}`, undefined, { timeout: jsm.getOptions().timeout ?? 5_000 });
    return (answer.json() as { error?: { err_code?: number } }).error?.err_code === CLUSTERING_REQUIRED;
  } catch {
    return false;
  }
}

/** nats-server's error code for a request that needs JetStream clustering, on a server in no cluster. */
const CLUSTERING_REQUIRED = 10010;

/** A read for the pre-checks; undefined where the user may not make it. */
async function readOrSkip<T>(read: () => Promise<T>, doing: string): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (/permission/i.test((error as Error)?.message ?? "")) return undefined;
    throw jetStreamFailure(error, doing, {});
  }
}

function isNotFound(error: unknown): boolean {
  return /stream not found/i.test((error as Error)?.message ?? "");
}

/**
 * A stream's creation or update, retried through an election (the same configuration sent
 * again is taken as it was). What the server refuses is ONEX_E_STREAM_CONFIG; a request not
 * permitted or never answered is jetStreamFailure's.
 */
async function guard<T>(stream: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withRetry(fn);
  } catch (error) {
    if (isOnexError(error)) throw error;
    const text = (error as Error)?.message ?? "";
    if (/permission/i.test(text) || UNANSWERED.test(text)) throw jetStreamFailure(error, `configuring stream ${stream}`, { stream });
    throw new OnexError(ErrorCode.StreamConfig, `the server refused the configuration of stream ${stream}: ${(error as Error).message}`, { stream }, { cause: error });
  }
}
