/**
 * `onex streams apply` with a size limit below the largest message the server takes: nats-server
 * stores such a message, acknowledges it, and drops it at once to keep the limit (discard old,
 * and always for dead letters). The apply says so, --dry-run too; it used to say nothing, and a
 * subscription's letter for a large message was gone the moment it was written.
 */
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
/** nats-server's default max_payload. */
const MAX_PAYLOAD = 1024 * 1024;
const apply = (...args: string[]) => runCli(["streams", "apply", "--server", server.url, ...args]);

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("streams apply with a stream smaller than the largest message", () => {
  it("a dead-letter stream that drops a large letter as it stores it is said, --dry-run too", async () => {
    for (const dryRun of [["--dry-run"], []]) {
      const run = apply("--dlq-max-bytes", "65536", ...dryRun);
      expect(run.status).toBe(0);
      expect(run.stderr).toBe(
        `warning: --dlq-max-bytes 65536 is less than the largest letter (cut to fit max_payload ${MAX_PAYLOAD}, and up to 4126 bytes of subject and record): a subscription that may read the dead-letter stream cuts its letters to fit it, but a zone member's may not: a dead-letter stream acknowledges such a larger letter and drops it at once, and the message it was written for is gone without a trace. Give --dlq-max-bytes ${MAX_PAYLOAD + 4126} or more, or lower max_payload in the server's config\n`,
      );
    }
    // What it warns of: a letter of 100 KB, from a writer that does not cut it to the stream, is acknowledged, and not kept.
    const nc = await natsConnect({ servers: server.url });
    try {
      const ack = await jetstream(nc).publish("onex.dlq.~.ONEX_EVENT.c", new Uint8Array(100_000));
      expect(ack.stream).toBe("ONEX_DLQ");
      expect((await (await jetstreamManager(nc)).streams.info("ONEX_DLQ")).state.messages).toBe(0);
    } finally {
      await nc.close();
    }
    const roomy = apply("--dlq-max-bytes", String(MAX_PAYLOAD + 4126));
    expect([roomy.status, roomy.stderr]).toEqual([0, ""]);
  });

  it("an event stream likewise, unless it refuses what does not fit (discard new)", () => {
    const old = apply("--max-bytes", "65536", "--dry-run");
    expect(old.status).toBe(0);
    expect(old.stderr).toContain("warning: --max-bytes 65536 is less than the largest message the server takes");
    const refusing = apply("--max-bytes", "65536", "--discard", "new", "--dry-run");
    expect([refusing.status, refusing.stderr]).toEqual([0, ""]);
  });
});
