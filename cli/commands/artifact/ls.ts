import { Flags } from "@oclif/core";
import { OnexCommand } from "../../base-command.js";
import { artifactFlags, withPeer } from "../../artifact-peer.js";
import { printableJson } from "../../terminal-text.js";
import { MAX_WAIT_MS, parseDuration } from "../../duration.js";

export default class ArtifactLs extends OnexCommand {
  static override summary = "List the artifacts announced in the zone, with the peers serving them.";
  static override description = "Reads the zone's announcements from the control plane for --wait, and lists every artifact whose descriptor the trust policy accepts (signed by a publisher granted its name). Two accepted descriptors of one NAME@VERSION are both listed, marked CONFLICT; fetch refuses that name.";
  static override examples = ["<%= config.bin %> artifact ls --key peer.key --trust publisher.pub --zone zone.trusted.org", "<%= config.bin %> artifact ls --json --key peer.key --trust publisher.pub --zone zone.trusted.org"];

  static override flags = {
    ...artifactFlags,
    wait: Flags.string({ description: "How long to read announcements.", default: "2s" }),
    json: Flags.boolean({ description: "One JSON object per artifact.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ArtifactLs);
    const waitMs = parseDuration(flags.wait, "wait", { min: 1, max: MAX_WAIT_MS }); // a bad --wait is refused before connecting
    await withPeer(flags, async (peer) => {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      const artifacts = peer.swarm.artifacts().sort((a, b) => `${a.descriptor.name}@${a.descriptor.version}`.localeCompare(`${b.descriptor.name}@${b.descriptor.version}`));
      for (const { descriptor, peers, conflictsWith } of artifacts) {
        const complete = peers.filter((p) => p.have?.complete).length;
        if (flags.json) {
          // Peer ids are chosen by peers: printableJson escapes the controls JSON.stringify leaves raw.
          this.log(printableJson({ name: descriptor.name, version: descriptor.version, size: descriptor.size, pieces: descriptor.pieces.length, root_hash: descriptor.root_hash, publisher: descriptor.publisher, published_at: descriptor.published_at, conflicts_with: conflictsWith, peers: peers.map((p) => ({ peer_id: p.peerId, endpoint: p.endpoint, have: p.have?.count ?? null })) }));
        } else {
          this.log(`${`${descriptor.name}@${descriptor.version}`.padEnd(32)} ${String(descriptor.size).padStart(12)} B  ${String(descriptor.pieces.length).padStart(6)} pieces  ${peers.length} peers (${complete} complete)  ${descriptor.root_hash}${conflictsWith.length > 0 ? `  CONFLICT with ${conflictsWith.join(", ")}` : ""}`);
        }
      }
      if (artifacts.length === 0 && !flags.json) this.logToStderr(`no artifacts announced in zone ${flags.zone}`);
    });
  }
}
