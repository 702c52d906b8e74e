import { Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { agreeOnVersion, buildOffer, type Agreement, type ProtocolBlock } from "@onex/runtime/negotiation";
import { negotiate } from "@onex/runtime/negotiation";
import { probe, type ProbeResult } from "@onex/runtime/negotiation";
import type { SchemaIndex } from "@onex/runtime/negotiation";
import { OnexCommand } from "../base-command.js";
import { MAX_WAIT_MS, parseDuration } from "../duration.js";
import { natsFlags, withNats } from "../nats-flags.js";
import { openProjectSdk } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";

export default class Negotiate extends OnexCommand {
  static override summary = "Probe a peer deployment and print the versions it speaks and the outcome of negotiating with it.";
  static override description =
    "--peer is a deployment name (probed on onex.schemas.<name> and handshaken on onex.negotiate.<name> over NATS), a schema index or schemas document file, or an http(s) URL of one (then the agreement is computed locally, without a handshake). Exit 0 when the peer is compatible, 1 when it is rejected (ONEX_E_INCOMPATIBLE_PEER, ONEX_E_SCHEMA_HASH_MISMATCH), 69 when it does not answer.";
  static override examples = [
    "<%= config.bin %> negotiate --peer zone-b --as v0.2",
    "<%= config.bin %> negotiate --peer ./peer-index.json",
    "<%= config.bin %> negotiate --peer https://zone-b.example.org/onex/v0.1/index.json --json",
  ];
  static override flags = {
    ...natsFlags,
    ...sdkFlags,
    peer: Flags.string({ description: "Deployment name, file or URL of the peer.", required: true }),
    as: Flags.string({ description: "The version this side runs (default: the newest of --schemas)." }),
    deployment: Flags.string({ description: "The name this side introduces itself with in the handshake.", default: "onex-cli" }),
    timeout: Flags.string({ description: "How long to wait for the peer (90s, 500ms...).", default: "2s" }),
    json: Flags.boolean({ description: "Print one JSON document.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Negotiate);
    const project = await openProjectSdk(flags);
    const known = await project.indexes();
    const { versionGraph } = await project.transforms();
    const version = flags.as !== undefined ? project.resolveVersion(flags.as) : project.versions.at(-1)!;
    const own = known.find((i) => i.version === version)!;
    const offer = buildOffer({ deployment: flags.deployment, protocol: protocolOf(own), indexes: known, graph: versionGraph });
    const timeoutMs = parseDuration(flags.timeout, "timeout", { min: 1, max: MAX_WAIT_MS });
    const overNats = !/^(https?:|file:)/i.test(flags.peer) && !/[\\/]/.test(flags.peer) && !flags.peer.endsWith(".json");

    let probed: ProbeResult;
    let agreement: Agreement | undefined;
    let failure: OnexError | undefined;
    if (overNats) {
      probed = await withNats(flags, async (nc) => {
        const result = await probe(flags.peer, { nc, known, timeoutMs });
        agreement = await negotiate(nc, offer, flags.peer, { timeoutMs }).catch((error: unknown) => {
          if (error instanceof OnexError && (error.code === ErrorCode.IncompatiblePeer || error.code === ErrorCode.SchemaHashMismatch)) failure = error;
          else throw error;
          return undefined;
        });
        return result;
      });
    } else {
      probed = await probe(flags.peer, { known, timeoutMs });
      try {
        agreement = agreeOnVersion(offer, peerOffer(probed, flags.peer));
      } catch (error) {
        if (error instanceof OnexError) failure = error;
        else throw error;
      }
    }

    if (flags.json) {
      this.log(JSON.stringify({ peer: flags.peer, as: version, probe: probed, agreement, rejection: failure && { code: failure.code, message: failure.message } }, null, 2));
    } else {
      this.log(`peer ${probed.deployment ?? flags.peer} (${probed.source})`);
      for (const v of probed.versions) {
        const state = !v.known ? "unknown here" : v.matches ? "matches" : `DIFFERS (${v.differingSchemas?.join(", ")})`;
        this.log(`  v${v.version}  ${v.content_hash}  ${state}`);
      }
      if (agreement) {
        const via = agreement.mode === "fallback" ? ` (converted by ${agreement.convertedBy.join(", ")})` : "";
        this.log(`agreed: ${agreement.mode} v${agreement.version}${via}; this side v${version}, peer v${agreement.peer.version}`);
      }
    }
    for (const v of probed.versions) if (v.flag) this.logToStderr(`warning ${v.flag.code}: ${v.flag.message}`);
    if (failure) throw failure;
  }
}

function protocolOf(index: SchemaIndex): ProtocolBlock {
  return { version: index.version, compatible_with: [...index.compatible_with], declared_by: index.declared_by, schema_manifest_url: index.schema_manifest_url };
}

/** The offer a peer published as a file or URL implies: its declared protocol (or the index's), speaking what it lists. */
function peerOffer(probed: ProbeResult, name: string) {
  const versionsListed = probed.versions.map((v) => v.version);
  const protocol = probed.protocol ?? { version: versionsListed[0]!, compatible_with: probed.versions[0]!.compatible_with, declared_by: "unknown", schema_manifest_url: "" };
  const speaks = probed.versions.filter((v) => v.version === protocol.version || protocol.compatible_with.includes(v.version));
  return {
    kind: "onex.offer/1" as const,
    deployment: probed.deployment ?? name,
    protocol,
    speaks: speaks.map((v) => ({ version: v.version, content_hash: v.content_hash })),
    // A published file says nothing about the peer's adapters: only ours can bridge.
    converts: [],
  };
}
