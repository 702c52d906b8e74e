import { Flags } from "@oclif/core";
import { listDeadLetters } from "../../../runtime/jetstream/dead-letter.js";
import { OnexCommand } from "../../base-command.js";
import { deadLetterData, deadLetterLine } from "../../dead-letter-view.js";
import { natsFlags, withJetStream } from "../../nats-flags.js";

export default class DlqList extends OnexCommand {
  static override summary = "List dead-lettered messages with their reason, origin and delivery count.";
  static override flags = {
    ...natsFlags,
    from: Flags.integer({ description: "First dead-letter sequence to list.", default: 1 }),
    limit: Flags.integer({ description: "List at most this many.", default: 100 }),
    reason: Flags.string({ description: "Only this reason code, e.g. ONEX_E_SIGNATURE_INVALID." }),
    json: Flags.boolean({ description: "Print one JSON object per line.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DlqList);
    const letters = await withJetStream(flags, async (_js, jsm) => listDeadLetters(jsm, { fromSequence: flags.from, limit: flags.limit }));
    const shown = letters.filter((l) => flags.reason === undefined || l.reason === flags.reason);
    for (const letter of shown) this.log(flags.json ? JSON.stringify(deadLetterData(letter)) : deadLetterLine(letter));
    if (!flags.json) this.logToStderr(`${shown.length} dead letter(s)`);
  }
}
