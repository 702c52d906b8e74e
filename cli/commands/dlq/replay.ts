import { Args } from "@oclif/core";
import { getDeadLetter, replayDeadLetter } from "../../../runtime/jetstream/dead-letter.js";
import { OnexCommand } from "../../base-command.js";
import { natsFlags, withJetStream } from "../../nats-flags.js";

export default class DlqReplay extends OnexCommand {
  static override summary = "Publish dead letters again on their original subjects.";
  static override description = "Each chosen message is re-published unchanged as a fresh delivery; subscribers verify and judge it again.";
  static override strict = false;
  static override args = { sequence: Args.integer({ description: "Dead-letter sequences to replay.", required: true }) };
  static override flags = { ...natsFlags };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(DlqReplay);
    await withJetStream(flags, async (js, jsm) => {
      for (const raw of argv as string[]) {
        const letter = await getDeadLetter(jsm, Number(raw));
        const sequence = await replayDeadLetter(js, letter);
        this.log(`replayed ${letter.sequence} -> ${letter.stream}#${sequence} (${letter.subject})`);
      }
    });
  }
}
