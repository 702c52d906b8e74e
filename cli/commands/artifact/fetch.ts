import { Args, Flags } from "@oclif/core";
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { ErrorCode, OnexError } from "@onex/runtime";
import { OnexCommand } from "../../base-command.js";
import { MAX_WAIT_MS, parseDuration } from "../../duration.js";
import { writeFailure } from "../../file-errors.js";
import { printableField, printableJson } from "../../terminal-text.js";
import { artifactFlags, explainNothingAnnounced, formatRate, parseArtifactRef, progressBar, seedUntilStopped, stopSignals, withPeer } from "../../artifact-peer.js";

export default class ArtifactFetch extends OnexCommand {
  static override summary = "Fetch an artifact from the zone's swarm into a file.";
  static override description =
    "Finds NAME@VERSION among the swarm's announcements, checks the descriptor against the trust policy (its publisher must be granted the name with --publisher; peers given with --trust may serve pieces, not publish), refuses conflicting descriptors of one NAME@VERSION (naming both root hashes), downloads pieces from several peers at once (verifying each), and renames the file into place once its root hash checks out. Serves what it has while it fetches. Run it again after an interruption to resume. A progress bar (pieces, peers, throughput) is shown on a terminal.";
  static override examples = ["<%= config.bin %> artifact fetch models/llm@1.0.0 --out model.bin --key peer.key --trust publisher.pub --zone zone.trusted.org"];

  static override args = {
    ref: Args.string({ description: "NAME@VERSION of the artifact.", required: true }),
  };

  static override flags = {
    ...artifactFlags,
    out: Flags.string({ description: "Where the finished file goes (written as OUT.partial until verified).", required: true }),
    "max-in-flight": Flags.integer({ description: "Piece requests in flight overall.", default: 16, min: 1, max: Number.MAX_SAFE_INTEGER }),
    "per-peer": Flags.integer({ description: "Piece requests in flight per peer.", default: 4, min: 1, max: Number.MAX_SAFE_INTEGER }),
    timeout: Flags.string({ description: "How long to wait for an announcement of the artifact.", default: "10s" }),
    stall: Flags.string({ description: "Give up after this long without a new piece (resumable).", default: "60s" }),
    "seed-for": Flags.string({ description: "Keep seeding this long after the fetch completes (e.g. 5m)." }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ArtifactFetch);
    const ref = parseArtifactRef(args.ref);
    const out = resolve(flags.out);
    // Every flag is checked before anything connects or is written: a bad --seed-for found only
    // after the download left a finished file and a success line behind an exit of 2.
    // --timeout and --stall are compared with the clock, not set as timers: any length works.
    // A wait of none would give up before the announcement, or before the first piece.
    const descriptorTimeoutMs = parseDuration(flags.timeout, "timeout", { min: 1 });
    const stallTimeoutMs = parseDuration(flags.stall, "stall", { min: 1 });
    const seedForMs = flags["seed-for"] === undefined ? undefined : parseDuration(flags["seed-for"], "seed-for", { max: MAX_WAIT_MS });
    // The store refuses such an --out too (as docs/data-plane.md says), but only once the descriptor is in.
    // So is an --out that cannot be made: a missing folder, a loop of links (ONEX_E_CONNECTION
    // with the server away, and found only after the announcement with it there).
    const existing = await stat(out).catch((cause: NodeJS.ErrnoException) => {
      if (cause.code === "ENOENT") return undefined;
      throw writeFailure(cause, out);
    });
    if (existing !== undefined && !existing.isFile()) throw new OnexError(ErrorCode.WriteFailed, `cannot write ${out}: it exists and is not a regular file`, { file: out });
    if (existing === undefined) {
      const folder = await stat(dirname(out)).catch((cause: unknown) => Promise.reject(writeFailure(cause, out)));
      if (!folder.isDirectory()) throw writeFailure(Object.assign(new Error("not a folder"), { code: "ENOTDIR" }), out);
    }
    // OUT.partial and its record are made beside OUT: a folder this user cannot write (or a read-only mount) fails them all.
    await access(dirname(out), constants.W_OK).catch((cause: unknown) => Promise.reject(writeFailure(cause, out)));
    await withPeer(flags, async (peer, client) => {
      const bar = progressBar();
      // Ctrl-C or a kill stops the fetch as an interruption (ONEX_E_ARTIFACT_INCOMPLETE, resumable),
      // with its message; once the file is in place, it stops the seeding.
      const stop = stopSignals();
      try {
        try {
          const { descriptor, result } = await peer.fetch(ref, out, {
            signal: stop.signal,
            maxInFlight: flags["max-in-flight"],
            maxInFlightPerPeer: flags["per-peer"],
            descriptorTimeoutMs,
            stallTimeoutMs,
            onProgress: (p) => bar.update(p),
            // Peer ids and endpoints are what peers announced: printed with their controls escaped.
            onCorruptPeer: (r) => this.logToStderr(`dropped peer ${printableField(r.peerId)} (${printableField(r.endpoint)}): piece ${r.piece} was corrupt`),
          });
          bar.done();
          const seconds = Math.max(0.001, result.elapsedMs / 1000);
          // Peer ids (the keys of bytes_by_peer) are chosen by peers: C1 controls and bidi overrides, which JSON leaves raw, escaped too.
          this.log(
            printableJson({
              name: descriptor.name,
              version: descriptor.version,
              root_hash: descriptor.root_hash,
              out,
              size: descriptor.size,
              pieces: descriptor.pieces.length,
              fetched_pieces: result.fetchedPieces,
              resumed_pieces: result.resumedPieces,
              bytes_by_peer: result.bytesByPeer,
              corrupt_peers: result.corruptPeers.map((r) => r.peerId),
              seconds: Number(seconds.toFixed(3)),
              throughput: formatRate(result.bytesFetched / seconds),
            }),
          );
        } catch (error) {
          bar.done();
          throw await explainNothingAnnounced(error, peer, client, ref, flags.zone);
        }
        if (seedForMs !== undefined) await seedUntilStopped(stop.signal, seedForMs);
      } finally {
        stop.release();
      }
    });
  }
}
