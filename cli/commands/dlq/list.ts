import { Flags } from "@oclif/core";
import { assertZoneId } from "@onex/runtime";
import { readDeadLetters } from "@onex/runtime/jetstream";
import { loadProjectSdks } from "../../sdk.js";
import { sdkFlags } from "../../sdk-flags.js";
import { OnexCommand } from "../../base-command.js";
import { deadLetterJson, deadLetterLine } from "../../dead-letter-view.js";
import { natsFlags, withJetStream } from "../../nats-flags.js";

export default class DlqList extends OnexCommand {
  static override summary = "List dead-lettered messages: reason, writer, origin, deliveries and replay target.";
  static override description =
    "Each line starts with the letter's stream and sequence (`onex dlq show` and `replay` take the sequence, and --zone for a zone's stream). The writer is the zone the server let the letter be written under (* for an admin's unscoped subscription) and the consumer it names; the target is the subject the original's own source fields build, where `onex dlq replay` would publish it after verifying it.";
  static override flags = {
    ...natsFlags,
    ...sdkFlags,
    from: Flags.integer({ description: "First dead-letter sequence to list.", default: 1, min: 0, max: Number.MAX_SAFE_INTEGER }),
    limit: Flags.integer({ description: "List at most this many.", default: 100, min: 1, max: Number.MAX_SAFE_INTEGER }),
    reason: Flags.string({ description: "Only this reason code, e.g. ONEX_E_SIGNATURE_INVALID (--limit counts only these)." }),
    zone: Flags.string({ description: "Only the letters of this zone's subscriptions (its own dead-letter stream in a zoned deployment); default: every dead-letter stream." }),
    json: Flags.boolean({ description: "Print one JSON object per line.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DlqList);
    if (flags.zone !== undefined) assertZoneId(flags.zone, "--zone");
    const sdks = await loadProjectSdks(flags);
    let shown = 0;
    // Each letter is printed as it is read: gathered first, a long listing held every letter in memory.
    await withJetStream(flags, async (_js, jsm) => {
      const letters = readDeadLetters(jsm, { fromSequence: flags.from, limit: flags.limit, ...(flags.reason !== undefined ? { reason: flags.reason } : {}), ...(flags.zone !== undefined ? { zone: flags.zone } : {}) });
      for await (const letter of letters) {
        this.log(flags.json ? deadLetterJson(letter, sdks) : deadLetterLine(letter, sdks));
        shown++;
      }
    });
    if (!flags.json) this.logToStderr(`${shown} dead letter(s)`);
  }
}
