import { Flags } from "@oclif/core";
import { ErrorCode, OnexError, assertZoneId, isOnexError, redactedAddress } from "@onex/runtime";
import { accountOf, MAX_STREAM_AGE_MS, MIN_STREAM_AGE_MS, zonesOf } from "@onex/runtime/jetstream";
import { applyStreams, planStreams, revertStreams, withUndo, type StreamChange, type StreamLimits, type StreamRevert } from "@onex/runtime/jetstream";
import { loadProjectSdks } from "../../sdk.js";
import { OnexCommand } from "../../base-command.js";
import { readIdentities } from "../../identities-file.js";
import { parseDuration } from "../../duration.js";
import { natsFlags, withJetStream } from "../../nats-flags.js";
import { sdkFlags } from "../../sdk-flags.js";
import { printable } from "../../terminal-text.js";
import { stopOnSignal, type SignalStop } from "../../stop-on-signal.js";
import { removePlantedConsumers } from "../../planted-consumers.js";

/**
 * What nats-server counts for a stored message beyond its headers and body: 30 bytes of record,
 * and its subject, which the server's default max_control_line bounds to 4 KiB.
 */
const STORED_MESSAGE_ROOM = 30 + 4096;

/** The ages JetStream keeps a stream's messages (and their ids) for, refused here under the flag's name. */
const STREAM_AGE = { min: MIN_STREAM_AGE_MS, max: MAX_STREAM_AGE_MS };

export default class StreamsApply extends OnexCommand {
  static override summary = "Create or update the JetStream streams the manifests imply, and the dead-letter stream.";
  static override description =
    "One stream per subject template (shared by all protocol versions) plus ONEX_DLQ, or, in a zoned deployment, one stream per zone in place of each shared stream that carries the zone, and one dead-letter stream per zone. With --identities (the file of `onex nats-auth`), each zone's streams are created in that zone's NATS account, connecting as one of its admins; --zone names zones for the account connected to. Idempotent: unchanged streams are left alone. In a zoned deployment it removes, and names, every ephemeral push consumer of the zone's streams that delivers outside a reply inbox (what zone members could make before they were held to durables; a server restart switches one on). --dry-run prints the difference against the server without changing it. A write the server refuses undoes this run's writes; so does SIGINT or SIGTERM, after the write in progress, saying on stderr which streams were written and undone (exit 130, 143; a second signal ends the run at once).";
  static override examples = [
    "<%= config.bin %> streams apply --server nats://127.0.0.1:4222",
    "<%= config.bin %> streams apply --identities identities.yaml",
    "<%= config.bin %> streams apply --max-age 7d --discard new --dry-run",
    "<%= config.bin %> streams apply --max-age 7d --duplicate-window 10m",
  ];

  static override flags = {
    ...natsFlags,
    ...sdkFlags,
    "dry-run": Flags.boolean({ description: "Show what would change; change nothing.", default: false }),
    "max-msgs": Flags.integer({ description: "Messages kept per stream at most.", min: 1, max: Number.MAX_SAFE_INTEGER }),
    "max-bytes": Flags.integer({ description: "Bytes kept per stream at most.", min: 1, max: Number.MAX_SAFE_INTEGER }),
    "max-age": Flags.string({ description: "Age after which messages are removed (e.g. 7d)." }),
    "duplicate-window": Flags.string({
      description:
        "How long each event stream remembers a message's id, to store a second publish of it only once (e.g. 10m; from 100ms, JetStream's shortest, to --max-age; default JetStream's 2m, or --max-age where that is shorter). A longer window catches a retry that comes later, and holds every id published in it in the server's memory.",
    }),
    discard: Flags.string({ description: "When full: drop the oldest (old) or refuse new messages (new).", options: ["old", "new"] }),
    replicas: Flags.integer({ description: "Replicas per stream (clustered servers).", min: 1, max: 5 }),
    "dlq-max-age": Flags.string({ description: "Age after which dead letters are removed.", default: "30d" }),
    "dlq-max-bytes": Flags.integer({ description: "Bytes of dead letters kept per dead-letter stream at most; when full, the oldest letters go (unbounded by default).", min: 1, max: Number.MAX_SAFE_INTEGER }),
    zone: Flags.string({ description: "A zone whose streams to create in the account connected to (repeatable).", multiple: true }),
    identities: Flags.string({ description: "The identities file of `onex nats-auth`: each zone's streams are created in its account, connecting as the zone's admin.", exclusive: ["zone"] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(StreamsApply);
    for (const zone of flags.zone ?? []) assertZoneId(zone, "--zone");
    const maxAgeMs = flags["max-age"] !== undefined ? parseDuration(flags["max-age"], "max-age", STREAM_AGE) : undefined;
    const duplicateWindowMs = flags["duplicate-window"] !== undefined ? parseDuration(flags["duplicate-window"], "duplicate-window", STREAM_AGE) : undefined;
    // The server's rule, said in the flags' terms (planStreams says it in the SDK options').
    if (duplicateWindowMs !== undefined && maxAgeMs !== undefined && duplicateWindowMs > maxAgeMs) {
      throw new OnexError(ErrorCode.Usage, `--duplicate-window ${flags["duplicate-window"]} is longer than --max-age ${flags["max-age"]}: the server keeps no message id longer than its message`);
    }
    const limits: StreamLimits = {
      ...(flags["max-msgs"] !== undefined ? { maxMessages: flags["max-msgs"] } : {}),
      ...(flags["max-bytes"] !== undefined ? { maxBytes: flags["max-bytes"] } : {}),
      ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
      ...(duplicateWindowMs !== undefined ? { duplicateWindowMs } : {}),
      ...(flags.discard !== undefined ? { discard: flags.discard as "old" | "new" } : {}),
      ...(flags.replicas !== undefined ? { replicas: flags.replicas } : {}),
    };
    const sdks = await loadProjectSdks(flags);
    // A dead-letter stream that is full drops its oldest letters: refusing new ones would stop
    // every subscription that has one to write (it keeps the message unacknowledged meanwhile).
    const deadLetterLimits: StreamLimits = {
      maxAgeMs: parseDuration(flags["dlq-max-age"], "dlq-max-age", STREAM_AGE),
      ...(flags["dlq-max-bytes"] !== undefined ? { maxBytes: flags["dlq-max-bytes"], discard: "old" } : {}),
      ...(flags.replicas !== undefined ? { replicas: flags.replicas } : {}),
    };
    if (flags.identities === undefined) {
      // One account: the shared streams, or the streams of the zones named.
      const plan = planStreams(sdks, limits, deadLetterLimits, flags.zone ?? []);
      if (flags["dry-run"]) {
        this.report(
          await withJetStream(flags, async (_js, jsm, nc) => {
            this.warnIfTooSmall(limits, deadLetterLimits, nc.info?.max_payload);
            return applyStreams(jsm, plan, { dryRun: true });
          }),
          true,
        );
        return;
      }
      const changes = await this.stoppable((stop, onWritten) =>
        withJetStreamUnlessStopped(flags, stop.signal, async (_js, jsm, nc) => {
          this.warnIfTooSmall(limits, deadLetterLimits, nc.info?.max_payload);
          return applyStreams(jsm, plan, { signal: stop.signal, onWritten });
        }),
      );
      if (changes === undefined) return;
      this.report(changes, false);
      if (flags.zone !== undefined) this.reportPlanted(await withJetStream(flags, async (_js, jsm) => removePlantedConsumers(jsm, plan.map((p) => p.name))));
      return;
    }
    // One account per zone, each reached as one of the zone's admins.
    const identities = await readIdentities(flags.identities);
    const zones = zonesOf(identities).map((zone) => {
      const admin = identities.find((i) => i.zone === zone && i.role === "admin");
      if (admin === undefined) throw new OnexError(ErrorCode.Usage, `zone ${zone} has no admin in ${flags.identities}: its streams are created as one of its admins`, { zone });
      if (admin.password.startsWith("$2")) {
        throw new OnexError(ErrorCode.Usage, `the admin of zone ${zone} has a bcrypt-hashed password in ${flags.identities}; run \`NATS_PASSWORD=… onex streams apply --zone ${zone} --user ${admin.user}\` for that zone (the password in NATS_PASSWORD, not on the command line, where every user of the machine can read it)`, { zone });
      }
      return { zone, admin, plan: planStreams(sdks, limits, deadLetterLimits, [zone]), as: { ...flags, user: admin.user, password: admin.password } };
    });
    // Every zone is read and checked before any is written, so a refusal the server says in
    // advance in the last zone leaves the first ones untouched too.
    const readZones = async (signal?: AbortSignal) => {
      const planned = [];
      for (const [i, z] of zones.entries()) {
        planned.push(
          await withJetStreamUnlessStopped(z.as, signal, async (_js, jsm, nc) => {
            if (i === 0) this.warnIfTooSmall(limits, deadLetterLimits, nc.info?.max_payload);
            return applyStreams(jsm, z.plan, { dryRun: true });
          }).catch((error: unknown) => {
            throw refusedAdmin(error, z.zone, z.admin.user, flags.identities!);
          }),
        );
      }
      return planned;
    };
    if (flags["dry-run"]) {
      const planned = await readZones();
      for (const [i, z] of zones.entries()) this.zoneReport(z.zone, z.admin.user, planned[i]!, true);
      return;
    }
    // Stoppable from the reads on, as the one-account run is: a signal while the zones are read ends the run before its first write, said.
    const applied = await this.stoppable(async (stop, onWritten) => {
      await readZones(stop.signal);
      const applied: StreamChange[][] = [];
      for (const z of zones) {
        try {
          applied.push(await withJetStreamUnlessStopped(z.as, stop.signal, async (_js, jsm) => applyStreams(jsm, z.plan, { signal: stop.signal, onWritten: (change) => onWritten({ ...change, name: inZone(change.name, z.zone) }) })));
        } catch (error) {
          // This zone undid its own writes; the zones before it were applied whole, and go back too.
          const undone: string[] = [];
          const left: StreamRevert["left"] = [];
          for (const [i, done] of applied.entries()) {
            const revert = await withJetStream(zones[i]!.as, async (_js, jsm) => revertStreams(jsm, done)).catch((e: unknown) => ({ undone: [], left: done.filter((c) => c.action !== "unchanged").map((c) => ({ stream: c.name, reason: `applied by this run, and could not be undone: ${(e as Error)?.message ?? String(e)}` })) }));
            undone.push(...revert.undone.map((name) => inZone(name, zones[i]!.zone)));
            left.push(...revert.left.map((l) => ({ ...l, stream: inZone(l.stream, zones[i]!.zone) })));
          }
          throw withUndo(undoneInZone(error, z.zone), z.zone, { undone, left });
        }
      }
      return applied;
    });
    if (applied === undefined) return;
    for (const [i, z] of zones.entries()) this.zoneReport(z.zone, z.admin.user, applied[i]!, false);
    for (const z of zones) this.reportPlanted(await withJetStream(z.as, async (_js, jsm) => removePlantedConsumers(jsm, z.plan.map((p) => p.name))));
  }

  /** Says which consumers removePlantedConsumers removed, and why. */
  private reportPlanted(removed: string[]): void {
    for (const consumer of removed) this.logToStderr(printable(`removed ${consumer}: an ephemeral push consumer delivering outside a reply inbox, which a restart of the server would switch on (zone members may make durable consumers only)`));
  }

  /**
   * Runs `apply` so that SIGINT, SIGTERM, SIGHUP or SIGQUIT stop it between two stream writes,
   * not in the middle of them with nothing said: the write in progress finishes, what the run
   * wrote is undone (as after a refusal), and stderr says what was written, what was undone and
   * what was not; the exit status is the signal's (130, 143, 129, 131), and undefined is returned
   * (a signal during the last write stops nothing: the run's result is returned, with that status).
   * A second signal ends the run at once, before the undo ends, naming what it had written.
   */
  private async stoppable<T>(apply: (stop: SignalStop, onWritten: (change: StreamChange) => void) => Promise<T>): Promise<T | undefined> {
    const written: StreamChange[] = [];
    const wrote = () => (written.length > 0 ? written.map((c) => `${c.action}d ${c.name}`).join(", ") : "written no stream");
    const stop = stopOnSignal(
      (name) => this.logToStderr(`stopping (${name}): the stream write in progress finishes, then what this run wrote is undone; a second signal ends the run at once, without the undo`),
      (name) =>
        this.logToStderr(
          written.length === 0
            ? `stopped by ${name} again: this run had written no stream; the streams are as they were before this run`
            : `stopped by ${name} again, during the undo: this run had ${wrote()}; the undo did not finish, so some of these may be left as this run wrote them (onex streams apply --dry-run shows the difference from the plan)`,
        ),
    );
    try {
      const done = await apply(stop, (change) => written.push(change));
      // The signal came during the last write: nothing was left to stop, and nothing is undone; the exit status still says the run was stopped, as generate's does when it finishes its renames.
      const status = stop.status();
      if (status !== undefined) {
        const reason = (stop.signal.reason as Error).message;
        this.logToStderr(written.length === 0 ? `${reason}: the streams were as planned already, and nothing was written` : `${reason} during the last stream write: the run had applied the whole plan (${wrote()}), and nothing is undone`);
        process.exitCode = status;
      }
      return done;
    } catch (error) {
      const status = stop.status();
      if (status === undefined || !isOnexError(error) || error.details.stopped !== true) throw error;
      const undone = (error.details.undone as string[] | undefined) ?? [];
      const left = (error.details.left as StreamRevert["left"] | undefined) ?? [];
      const after = left.length > 0 ? `; NOT undone: ${left.map((l) => `${l.stream} (${l.reason})`).join("; ")}; a run again applies the rest of the plan` : `; the streams are as they were before this run, and a run again applies the whole plan`;
      this.logToStderr(printable(`${(stop.signal.reason as Error).message} before all streams were written: this run had ${wrote()}${undone.length > 0 ? `; undone: ${undone.join(", ")}` : ""}${after}`));
      process.exitCode = status;
      return undefined;
    } finally {
      stop.release();
    }
  }

  /**
   * A stream whose size limit is below the largest message the server takes, with its subject:
   * nats-server stores such a message, acknowledges it, and drops it at once to keep the limit
   * (discard old, and always for dead letters), so the publisher, or the subscription that wrote
   * the letter and then acknowledged the message, believes it kept. A subscription that may read
   * the dead-letter stream's limits cuts its letters to fit them; a zone's member may not, and
   * its letters are cut to max_payload only. Said, not refused: a deployment whose messages are
   * all small loses nothing.
   */
  private warnIfTooSmall(limits: StreamLimits, deadLetterLimits: StreamLimits, maxPayload: number | undefined): void {
    if (maxPayload === undefined) return;
    const least = maxPayload + STORED_MESSAGE_ROOM;
    if (limits.maxBytes !== undefined && limits.maxBytes < least && limits.discard !== "new") {
      this.logToStderr(`warning: --max-bytes ${limits.maxBytes} is less than the largest message the server takes (max_payload ${maxPayload}, and up to ${STORED_MESSAGE_ROOM} bytes of subject and record): an event stream acknowledges a larger message and drops it at once. Give --max-bytes ${least} or more, or lower max_payload in the server's config`);
    }
    if (deadLetterLimits.maxBytes !== undefined && deadLetterLimits.maxBytes < least) {
      this.logToStderr(`warning: --dlq-max-bytes ${deadLetterLimits.maxBytes} is less than the largest letter (cut to fit max_payload ${maxPayload}, and up to ${STORED_MESSAGE_ROOM} bytes of subject and record): a subscription that may read the dead-letter stream cuts its letters to fit it, but a zone member's may not: a dead-letter stream acknowledges such a larger letter and drops it at once, and the message it was written for is gone without a trace. Give --dlq-max-bytes ${least} or more, or lower max_payload in the server's config`);
    }
  }

  private zoneReport(zone: string, user: string, changes: StreamChange[], dryRun: boolean): void {
    this.log(`zone ${zone} (account ${accountOf(zone)}, as ${user})`);
    this.report(changes, dryRun);
  }

  private report(changes: StreamChange[], dryRun: boolean): void {
    for (const change of changes) {
      const verb = dryRun && change.action !== "unchanged" ? `would ${change.action}` : change.action === "unchanged" ? "unchanged" : `${change.action}d`;
      this.log(`${verb.padEnd(14)} ${change.name}`);
      if (change.action === "update" || (dryRun && change.action === "create")) {
        for (const [field, [from, to]] of Object.entries(change.fields)) this.log(`    ${field}: ${JSON.stringify(from)} -> ${JSON.stringify(to)}`);
      }
    }
  }
}

/**
 * `withJetStream`, given up when `signal` aborts while the connection is being made: nothing was
 * sent to that server yet, so there is nothing of it to finish or undo. A server that did not
 * answer (an address whose packets are dropped) kept a stopped run waiting out the connect's
 * time-out, then ended it as a connection failure (exit 69) rather than as stopped. The stop is
 * the error `applyStreams` gives for one before its next write (`details.stopped`), so the
 * streams written before it (an earlier zone's) are undone as after any stop.
 */
function withJetStreamUnlessStopped<T>(flags: Parameters<typeof withJetStream>[0], signal: AbortSignal | undefined, fn: Parameters<typeof withJetStream<T>>[1]): Promise<T> {
  if (signal === undefined) return withJetStream(flags, fn);
  let state: "connecting" | "connected" | "given up" = "connecting";
  const stopped = () => new OnexError(ErrorCode.StreamConfig, `${(signal.reason as Error)?.message ?? "stopped"} while connecting to ${redactedAddress(flags.server)}`, { stopped: true, written: [] });
  // Stopped before this connect began (while an earlier zone was read): no "abort" comes any more,
  // and the connect would be waited out, a server that does not answer ending the run as a
  // connection failure (exit 69).
  if (signal.aborted) return Promise.reject(stopped());
  const run = withJetStream(flags, async (js, jsm, nc) => {
    // Connected after all, once the run was given up: it writes nothing.
    if (state === "given up") throw stopped();
    state = "connected";
    return fn(js, jsm, nc);
  });
  return new Promise<T>((resolve, reject) => {
    const giveUp = () => {
      if (state !== "connecting") return;
      state = "given up";
      reject(stopped());
    };
    signal.addEventListener("abort", giveUp, { once: true });
    run.then(resolve, reject).finally(() => signal.removeEventListener("abort", giveUp));
  });
}

/**
 * A stream as a run across zones names it: every zone's account has its own ONEX_DLQ, so
 * "created ONEX_DLQ" twice said nothing of which zone's to look at.
 */
function inZone(stream: string, zone: string): string {
  return `${stream} (zone ${zone})`;
}

/** `error`, as `applyStreams` in `zone`'s account undid its writes after it, with the streams it undid (or not) named with the zone. */
function undoneInZone(error: unknown, zone: string): unknown {
  if (!(error instanceof OnexError) || !Array.isArray(error.details.undone) || !(error.cause instanceof OnexError)) return error;
  const { undone, left } = error.details as { undone: string[]; left: StreamRevert["left"] };
  return withUndo(error.cause, zone, { undone: undone.map((name) => inZone(name, zone)), left: left.map((l) => ({ ...l, stream: inZone(l.stream, zone) })) });
}

/**
 * A zone's admin the server does not let in, said with the zone and user: a zone or admin added
 * to the identities file (or a password changed) without the server's config regenerated and
 * reloaded. It said only "cannot connect: Authorization Violation", naming neither.
 */
function refusedAdmin(error: unknown, zone: string, user: string, identities: string): unknown {
  if (!isOnexError(error, ErrorCode.ConnectionFailed) || !/authorization violation/i.test(error.message)) return error;
  return new OnexError(
    error.code,
    `zone ${zone}: the server does not let in its admin ${user} (${error.message}); nothing was changed. Is it running the config \`onex nats-auth ${identities}\` writes, reloaded since the identities last changed (nats-server --signal reload)?`,
    { ...error.details, zone, user },
    { cause: error },
  );
}
