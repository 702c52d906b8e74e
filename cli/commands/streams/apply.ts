import { Flags } from "@oclif/core";
import { zonesOf } from "../../../runtime/jetstream/authorization.js";
import { applyStreams, planStreams, type StreamLimits } from "../../../runtime/jetstream/streams.js";
import { loadAllSdks } from "../../all-sdks.js";
import { OnexCommand } from "../../base-command.js";
import { readIdentities } from "../../identities-file.js";
import { natsFlags, parseDuration, withJetStream } from "../../nats-flags.js";

export default class StreamsApply extends OnexCommand {
  static override summary = "Create or update the JetStream streams the manifests imply, and the dead-letter stream.";
  static override description =
    "One stream per subject template (shared by all protocol versions) plus ONEX_DLQ, or, in a zoned deployment (--zone, or every member zone of --identities), one stream per zone in place of each shared stream that carries the zone: zone members use the JetStream API on their zone's streams only. Give the same zones every time: a shared stream and zone streams cannot hold the same subjects. Idempotent: unchanged streams are left alone. --dry-run prints the difference against the server without changing it.";
  static override examples = [
    "<%= config.bin %> streams apply --server nats://127.0.0.1:4222",
    "<%= config.bin %> streams apply --identities identities.yaml",
    "<%= config.bin %> streams apply --max-age 7d --discard new --dry-run",
  ];

  static override flags = {
    ...natsFlags,
    "dry-run": Flags.boolean({ description: "Show what would change; change nothing.", default: false }),
    "max-msgs": Flags.integer({ description: "Messages kept per stream at most." }),
    "max-bytes": Flags.integer({ description: "Bytes kept per stream at most." }),
    "max-age": Flags.string({ description: "Age after which messages are removed (e.g. 7d)." }),
    discard: Flags.string({ description: "When full: drop the oldest (old) or refuse new messages (new).", options: ["old", "new"] }),
    replicas: Flags.integer({ description: "Replicas per stream (clustered servers)." }),
    "dlq-max-age": Flags.string({ description: "Age after which dead letters are removed.", default: "30d" }),
    zone: Flags.string({ description: "A zone to give its own streams (repeatable).", multiple: true }),
    identities: Flags.string({ description: "The identities file of `onex nats-auth`: every member zone gets its own streams." }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(StreamsApply);
    const limits: StreamLimits = {
      ...(flags["max-msgs"] !== undefined ? { maxMessages: flags["max-msgs"] } : {}),
      ...(flags["max-bytes"] !== undefined ? { maxBytes: flags["max-bytes"] } : {}),
      ...(flags["max-age"] !== undefined ? { maxAgeMs: parseDuration(flags["max-age"]) } : {}),
      ...(flags.discard !== undefined ? { discard: flags.discard as "old" | "new" } : {}),
      ...(flags.replicas !== undefined ? { replicas: flags.replicas } : {}),
    };
    const zones = [...(flags.zone ?? []), ...(flags.identities !== undefined ? zonesOf(await readIdentities(flags.identities)) : [])];
    const plan = planStreams(await loadAllSdks(), limits, { maxAgeMs: parseDuration(flags["dlq-max-age"]), ...(flags.replicas !== undefined ? { replicas: flags.replicas } : {}) }, zones);
    const changes = await withJetStream(flags, async (_js, jsm) => applyStreams(jsm, plan, { dryRun: flags["dry-run"] }));
    for (const change of changes) {
      const verb = flags["dry-run"] && change.action !== "unchanged" ? `would ${change.action}` : change.action === "unchanged" ? "unchanged" : `${change.action}d`;
      this.log(`${verb.padEnd(14)} ${change.name}`);
      if (change.action === "update" || (flags["dry-run"] && change.action === "create")) {
        for (const [field, [from, to]] of Object.entries(change.fields)) this.log(`    ${field}: ${JSON.stringify(from)} -> ${JSON.stringify(to)}`);
      }
    }
  }
}
