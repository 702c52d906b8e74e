import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError, isOnexError, assertZoneId } from "@onex/runtime";
import { getDeadLetter } from "@onex/runtime/jetstream";
import { planReplay, replayDeadLetter } from "@onex/runtime/jetstream";
import { keyRing } from "@onex/runtime";
import { loadProjectSdks } from "../../sdk.js";
import { sdkFlags } from "../../sdk-flags.js";
import { OnexCommand } from "../../base-command.js";
import { readPublicKeys } from "../../key-files.js";
import { natsFlags, withJetStream } from "../../nats-flags.js";
import { printable } from "../../terminal-text.js";

export default class DlqReplay extends OnexCommand {
  static override summary = "Publish dead letters' original messages again, on the subjects their own source fields build.";
  static override description = [
    "Nothing a letter says is obeyed: each original is validated in its own version and its signature verified with --key;",
    "it goes back on the subject its signed source fields build, into its template's event stream only, and only into the zone of the subscriber that wrote the letter.",
    "A letter that fails a check is refused with ONEX_E_DLQ_REFUSED and left in place, and a sequence with no letter is said (ONEX_E_NOT_FOUND); the others are replayed. Exits 1 when any letter is refused or not found.",
    "A letter whose body was cut to fit under max_payload, or into its dead-letter stream, is replayed from the original in its stream, when that is still stored and matches the letter's digest.",
    "A letter replayed again within its event stream's duplicate window (given twice, replayed by another operator at once, or after a run that ended without the server's acknowledgement) is stored once, and said as `already replayed`.",
  ].join(" ");
  static override examples = ["<%= config.bin %> dlq replay 17 18 --key node-1.pub --key node-2.pub"];
  static override strict = false;
  static override args = { sequence: Args.integer({ description: "Dead-letter sequences to replay.", required: true, min: 1, max: Number.MAX_SAFE_INTEGER }) };
  static override flags = {
    ...natsFlags,
    ...sdkFlags,
    zone: Flags.string({ description: "The zone whose dead-letter stream holds the letters (a zoned deployment); default ONEX_DLQ." }),
    key: Flags.string({ description: "Public key file of a trusted signer (repeatable): originals must verify with one of them.", required: true, multiple: true }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(DlqReplay);
    if (flags.zone !== undefined) assertZoneId(flags.zone, "--zone");
    // Every sequence before any letter is replayed: oclif checks only the first, and a bad later
    // one failed as the server's "bad request" once the letters before it were replayed.
    const sequences = (argv as string[]).map((raw) => {
      if (/^\d+$/.test(raw) && Number.isSafeInteger(Number(raw)) && Number(raw) >= 1) return Number(raw);
      throw new OnexError(ErrorCode.Usage, `"${printable(raw)}" is no dead-letter sequence (a whole number from 1 to ${Number.MAX_SAFE_INTEGER}); nothing was replayed`);
    });
    const check = { sdks: await loadProjectSdks(flags), keys: keyRing(readPublicKeys(flags.key)) };
    let refused = 0;
    // A sequence with no letter (mistyped, or removed by the stream's limits) is said and passed
    // over like a refused letter: it ended the run, and the letters after it were not replayed, unsaid.
    const missing: number[] = [];
    await withJetStream(flags, async (js, jsm) => {
      for (const sequence of sequences) {
        const letter = await getDeadLetter(jsm, sequence, flags.zone).catch((error: unknown) => {
          if (!isOnexError(error, ErrorCode.NotFound)) throw error;
          missing.push(sequence);
          this.logToStderr(printable(`missing  ${sequence}: ${error.message}`));
          return undefined;
        });
        if (letter === undefined) continue;
        try {
          const plan = await planReplay(jsm, letter, check);
          const stored = await replayDeadLetter(js, plan);
          // A letter an earlier replay (this run's, another's) stored already is not stored twice.
          const verb = stored.duplicate ? "already replayed" : "replayed";
          this.log(printable(`${verb} ${letter.sequence} -> ${stored.stream}#${stored.sequence} (${plan.target}, signed by ${plan.signer})`));
        } catch (error) {
          if (!isOnexError(error) || error.code !== ErrorCode.DeadLetterRefused) throw error;
          refused++;
          this.logToStderr(printable(`refused  ${letter.sequence}: ${error.message}`));
        }
      }
    });
    if (missing.length > 0) {
      const andRefused = refused > 0 ? `, and ${refused} refused and left in place` : "";
      throw new OnexError(refused > 0 ? ErrorCode.DeadLetterRefused : ErrorCode.NotFound, `${missing.length} of ${argv.length} dead letter(s) not found (${missing.join(", ")})${andRefused}; the others were replayed`, { refused, missing });
    }
    if (refused > 0) throw new OnexError(ErrorCode.DeadLetterRefused, `${refused} of ${argv.length} dead letter(s) refused and left in place`, { refused });
  }
}
