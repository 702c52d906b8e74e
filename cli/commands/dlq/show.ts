import { Args, Flags } from "@oclif/core";
import { assertZoneId } from "@onex/runtime";
import { getDeadLetter } from "@onex/runtime/jetstream";
import { loadProjectSdks } from "../../sdk.js";
import { sdkFlags } from "../../sdk-flags.js";
import { OnexCommand } from "../../base-command.js";
import { deadLetterJson } from "../../dead-letter-view.js";
import { natsFlags, withJetStream } from "../../nats-flags.js";

export default class DlqShow extends OnexCommand {
  static override summary = "Show one dead letter: its headers, reason, writer, replay target and message body.";
  static override args = { sequence: Args.integer({ description: "Dead-letter sequence (from `onex dlq list`).", required: true, min: 1, max: Number.MAX_SAFE_INTEGER }) };
  static override flags = { ...natsFlags, ...sdkFlags, zone: Flags.string({ description: "The zone whose dead-letter stream holds the letter (a zoned deployment); default ONEX_DLQ." }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DlqShow);
    if (flags.zone !== undefined) assertZoneId(flags.zone, "--zone");
    const sdks = await loadProjectSdks(flags);
    const letter = await withJetStream(flags, async (_js, jsm) => getDeadLetter(jsm, args.sequence, flags.zone));
    this.log(deadLetterJson(letter, sdks, true));
  }
}
