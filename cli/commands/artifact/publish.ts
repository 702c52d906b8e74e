import { closeSync, openSync, statSync } from "node:fs";
import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { checkPieceSize } from "@onex/runtime/dataplane";
import { OnexCommand } from "../../base-command.js";
import { MAX_WAIT_MS, parseDuration } from "../../duration.js";
import { readFailure } from "../../file-errors.js";
import { artifactFlags, checkArtifactName, checkMediaType, checkPeerFlags, seedUntilStopped, stopSignals, withPeer } from "../../artifact-peer.js";

export default class ArtifactPublish extends OnexCommand {
  static override summary = "Describe a file as a signed artifact and seed it to the zone's swarm.";
  static override description =
    "Hashes FILE piece by piece, signs the descriptor with --key, announces it on the control plane and serves its pieces from a local piece server until interrupted (or for --seed-for). Prints the descriptor as JSON, and on stopping what it served (a line served {pieces, bytes} on stderr).";
  static override examples = ["<%= config.bin %> artifact publish model.bin --name models/llm --version 1.0.0 --key peer.key --zone zone.trusted.org"];

  static override args = {
    file: Args.string({ description: "The file to publish.", required: true }),
  };

  static override flags = {
    ...artifactFlags,
    name: Flags.string({ description: "Artifact name, e.g. models/llm.", required: true }),
    version: Flags.string({ description: "Artifact version.", required: true }),
    "media-type": Flags.string({ description: "Media type of the file.", default: "application/octet-stream" }),
    "piece-size": Flags.integer({ description: "Bytes per piece: a power of two from 16384 to 67108864.", default: 1 << 20 }),
    "seed-for": Flags.string({ description: "Seed this long (e.g. 10m), then exit; default: until interrupted." }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ArtifactPublish);
    // Calling mistakes are refused before anything connects, is hashed or announced (the descriptor
    // would be refused later as invalid, and a bad --seed-for was found only after announcing).
    try {
      checkPieceSize(flags["piece-size"]);
    } catch (error) {
      throw new OnexError(ErrorCode.Usage, `--piece-size: ${(error as Error).message}`);
    }
    checkArtifactName(flags.name, flags.version, { name: "--name", version: "--version" });
    checkMediaType(flags["media-type"]);
    const seedForMs = flags["seed-for"] === undefined ? undefined : parseDuration(flags["seed-for"], "seed-for", { max: MAX_WAIT_MS });
    // Every flag before FILE: a usage mistake (exit 2) is said before a file one (exit 3), as by every command.
    checkPeerFlags(flags);
    checkPublishable(args.file);
    await withPeer(flags, async (peer) => {
      const descriptor = await peer.publish(args.file, { name: flags.name, version: flags.version, mediaType: flags["media-type"], pieceSize: flags["piece-size"] });
      await this.print(JSON.stringify(descriptor));
      this.logToStderr(`seeding ${descriptor.name}@${descriptor.version} (${descriptor.pieces.length} pieces, ${descriptor.root_hash}) at ${peer.url}`);
      const stop = stopSignals();
      try {
        await seedUntilStopped(stop.signal, seedForMs);
      } finally {
        stop.release();
      }
      const { piecesServed, bytesSent } = peer.server.stats;
      this.logToStderr(`served ${JSON.stringify({ pieces: piecesServed, bytes: bytesSent })}`);
    });
  }
}

/**
 * FILE is a regular file this user may read, checked before anything connects: a misspelt FILE
 * was reported as the server it could not reach (ONEX_E_CONNECTION, exit 69: "try again") or
 * its missing streams, and only with both in order as ONEX_E_FILE_NOT_FOUND. The hashing checks
 * it again (it may change meanwhile); a FIFO is refused here by its type, never opened.
 */
function checkPublishable(file: string): void {
  let info;
  try {
    info = statSync(file);
  } catch (cause) {
    throw readFailure(cause, file, "file");
  }
  if (!info.isFile()) throw new OnexError(ErrorCode.FileUnreadable, `cannot read the file ${file}: ${info.isDirectory() ? "it is a folder (EISDIR)" : "it is not a regular file (a device, a pipe or a socket)"}`, { file });
  try {
    closeSync(openSync(file, "r"));
  } catch (cause) {
    throw readFailure(cause, file, "file");
  }
}
