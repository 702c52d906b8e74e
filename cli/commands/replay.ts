import { Flags } from "@oclif/core";
import { readHistory } from "@onex/runtime/jetstream";
import { streamNameOf, zoneStreamNameOf } from "@onex/runtime/jetstream";
import { ErrorCode, isOnexError, OnexError, parseJson, assertZoneId } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { parseTime } from "../key-files.js";
import { decodeUtf8Text } from "../message-input.js";
import { natsFlags, withJetStream } from "../nats-flags.js";
import { printable, printableJson } from "../terminal-text.js";

export default class Replay extends OnexCommand {
  static override summary = "Print a stream's history from a sequence or a time, as NDJSON.";
  static override description =
    "Reads stored messages without acknowledging anything. Each line is one stored message as JSON on one line, with control characters escaped; --with-meta wraps it with its sequence, subject and time. A stored body that is not JSON is reported on stderr with its sequence and not printed, and the command then exits 1. Subscribers re-deliver history with `deliver: { fromSequence }` or `{ fromTime }`.";
  static override examples = ["<%= config.bin %> replay --from-seq 1000 --type signal.task.dispatch", "<%= config.bin %> replay --since 2026-11-27T10:00:00Z > history.ndjson"];
  static override flags = {
    ...natsFlags,
    "from-seq": Flags.integer({ description: "First stream sequence.", exclusive: ["since"], min: 0, max: Number.MAX_SAFE_INTEGER }),
    since: Flags.string({ description: "Start at this time (RFC 3339).", exclusive: ["from-seq"] }),
    type: Flags.string({ description: "Only this message type." }),
    limit: Flags.integer({ description: "Print at most this many.", min: 1, max: Number.MAX_SAFE_INTEGER }),
    subject: Flags.string({ description: "Subject template key of the stream.", default: "event" }),
    zone: Flags.string({ description: "In a zoned deployment: the zone whose stream to read." }),
    "with-meta": Flags.boolean({ description: "Print {sequence, subject, time, type, message} per line.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Replay);
    if (flags.zone !== undefined) assertZoneId(flags.zone, "--zone");
    if (flags["from-seq"] === undefined && flags.since === undefined) throw new OnexError(ErrorCode.Usage, "give --from-seq N or --since TIME");
    // Named as the flag: a key no stream can be named after was refused as readHistory's stream.
    if (!/^[a-z][a-z0-9_]*$/.test(flags.subject)) throw new OnexError(ErrorCode.Usage, `--subject must be a subject template key of the manifest (event, signal, ...), not ${JSON.stringify(flags.subject)}`);
    // Strict RFC 3339, as the flag says: Date's own parser read "0" as the year 2000.
    const fromTime = flags.since !== undefined ? new Date(parseTime(flags.since, "since")) : undefined;
    let printed = 0;
    let unreadable: OnexError | undefined;
    let unreadableCount = 0;
    await withJetStream(flags, async (js, jsm) => {
      const history = readHistory(js, jsm, flags.zone !== undefined ? zoneStreamNameOf(flags.subject, flags.zone) : streamNameOf(flags.subject), {
        ...(flags["from-seq"] !== undefined ? { fromSequence: flags["from-seq"] } : {}),
        ...(fromTime !== undefined ? { fromTime } : {}),
        ...(flags.type !== undefined ? { type: flags.type } : {}),
        ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
      });
      for await (const entry of history) {
        // Whatever a publisher stored is read as JSON and written back on one line: a body with
        // line breaks would add records to the output, and one with terminal escapes would reach
        // the reader's terminal.
        let message: unknown;
        try {
          const where = `stored message ${entry.sequence}`;
          message = parseJson(decodeUtf8Text(Buffer.from(entry.data), where), { file: where, bigIntegers: "bigint" });
        } catch (error) {
          if (!isOnexError(error)) throw error;
          this.logToStderr(printable(`onex replay: sequence ${entry.sequence} on ${entry.subject} not printed: ${error.code} ${error.message}`));
          unreadable ??= error;
          unreadableCount++;
          continue;
        }
        this.log(printableJson(flags["with-meta"] ? { sequence: entry.sequence, subject: entry.subject, time: entry.time, type: entry.type, message } : message));
        printed++;
      }
    });
    this.logToStderr(`${printed} message(s)`);
    if (unreadable !== undefined) {
      throw new OnexError(unreadable.code, `${unreadableCount} stored message(s) are not JSON and were not printed (see above)`, { count: unreadableCount });
    }
  }
}
