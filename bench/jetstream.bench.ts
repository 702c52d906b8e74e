/**
 * `npm run bench:jetstream`: the SDK's own cost on the control plane, against a local
 * nats-server started for the run.
 *
 * - publish: `client.publishMany` (validate + sign + subject + publish, pipelined acks) against
 *   raw `@nats-io/jetstream` publish of the same serialized bytes plus a bare `crypto.sign`
 *   per message, with the same window of outstanding acks;
 * - subscribe: `client.subscribe` (parse + validate + verify + policy, ack) against a raw
 *   pull consumer that runs a bare `crypto.verify` per message and acks.
 *
 * Rounds alternate the two sides; the printed ratio is SDK time / raw time (1.00 = free).
 * BENCH_MESSAGES (default 5000) messages per side per round, BENCH_ROUNDS (default 3).
 * It prints; it never fails on timing. Needs `nats-server` on PATH.
 */
import { sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, headers as natsHeaders } from "@nats-io/transport-node";
import * as v0_1 from "../generated/v0.1/index.js";
import * as v0_2 from "../generated/v0.2/index.js";
import { connect } from "../runtime/jetstream/client.js";
import { applyStreams, planStreams } from "../runtime/jetstream/streams.js";
import { canonicalBytes } from "../runtime/trust/canonical-json.js";
import { generateKeyPair, keyRing } from "../runtime/trust/keys.js";
import { signMessage } from "../runtime/trust/sign-message.js";
import { startNatsServer } from "../test/support/nats-server.js";

const MESSAGES = Math.max(500, Number(process.env.BENCH_MESSAGES ?? 5000));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WINDOW = 256;
const zone = "zone.trusted.org";
const key = generateKeyPair();

function dispatch(i: number, entity: string): v0_1.TaskDispatch {
  return v0_1.TaskDispatch.create({
    source: { zone, entity_type: "task", entity_id: entity },
    trust: { signer: key.keyId, level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { task_id: `task-${i}`, target: "node-render-04", action: "render.frames", priority: 5, input: { scene: "intro", frames: { from: 1, to: 240 }, quality: 0.85 } },
  });
}

const server = await startNatsServer();
try {
  const nc = await natsConnect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await applyStreams(jsm, planStreams([v0_1, v0_2]));
  const client = await connect({ servers: server.url, identity: key, keys: keyRing([key.publicKey]), trust: { zone, keyOfEntity: () => key.keyId, logger: { warn() {} } } });

  const results = { sdkPub: [] as number[], rawPub: [] as number[], sdkSub: [] as number[], rawSub: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    // Typed publish.
    const typed = Array.from({ length: MESSAGES }, (_, i) => dispatch(i, `sdk-${round}`));
    let t = performance.now();
    await client.publishMany(typed, { window: WINDOW });
    results.sdkPub.push(performance.now() - t);

    // Raw publish of the same kind of bytes, with a bare signature each.
    const raw = Array.from({ length: MESSAGES }, (_, i) => dispatch(i, `raw-${round}`));
    const prepared = raw.map((m) => ({ subject: m.subject(), bytes: new TextEncoder().encode(JSON.stringify(signMessage(m, key))), id: m.id, unsigned: canonicalBytes(m.toJSON()) })).map((p) => ({ ...p, signature: cryptoSign(null, p.unsigned, key.privateKey) }));
    t = performance.now();
    let active = 0;
    let wake: (() => void) | undefined;
    const slotFreed = () => new Promise<void>((resolve) => (wake = resolve));
    for (const p of prepared) {
      while (active >= WINDOW) await slotFreed();
      cryptoSign(null, p.unsigned, key.privateKey);
      const h = natsHeaders();
      h.set("Onex-Type", "signal.task.dispatch");
      active++;
      void js.publish(p.subject, p.bytes, { msgID: p.id, headers: h }).finally(() => {
        active--;
        wake?.();
      });
    }
    while (active > 0) await slotFreed();
    results.rawPub.push(performance.now() - t);

    // Typed subscribe: parse, validate, verify, judge, ack.
    const sub = await client.subscribe([v0_1.TaskDispatch], { entityId: `sdk-${round}`, maxInFlight: WINDOW });
    t = performance.now();
    let n = 0;
    for await (const d of sub) {
      d.ack();
      if (++n === MESSAGES) {
        // Timed to the last message, as the raw side is: stopping (which waits for the open
        // pull to end so nothing it brings is lost) is not part of the throughput.
        results.sdkSub.push(performance.now() - t);
        break;
      }
    }

    // Raw consume with a bare verify.
    const info = await jsm.consumers.add("ONEX_EVENT", {
      name: `raw_${round}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: v0_1.filterEventSubject({ entity_id: `raw-${round}` }),
      max_ack_pending: WINDOW,
    });
    const consumer = await js.consumers.get("ONEX_EVENT", info.name);
    t = performance.now();
    n = 0;
    let i = 0;
    while (n < MESSAGES) {
      const batch = await consumer.fetch({ max_messages: WINDOW, expires: 2_000 });
      for await (const msg of batch) {
        const p = prepared[i++ % prepared.length]!;
        if (!cryptoVerify(null, p.unsigned, key.publicKey.keyObject, p.signature)) throw new Error("bad signature");
        msg.ack();
        // Stop as the typed side does, rather than wait for the batch to expire.
        if (++n === MESSAGES) break;
      }
    }
    results.rawSub.push(performance.now() - t);
  }
  await client.close();
  await nc.close();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rate = (ms: number) => Math.round((MESSAGES / ms) * 1000);
  const row = (label: string, sdk: number[], raw: number[]) =>
    console.log(`${label.padEnd(10)} sdk ${String(rate(median(sdk))).padStart(7)} msg/s   raw ${String(rate(median(raw))).padStart(7)} msg/s   sdk/raw time ${(median(sdk) / median(raw)).toFixed(2)}x`);
  console.log(`bench:jetstream — ${MESSAGES} signal.task.dispatch messages per side, ${ROUNDS} rounds, window ${WINDOW}, nats-server on loopback`);
  row("publish", results.sdkPub, results.rawPub);
  row("subscribe", results.sdkSub, results.rawSub);
} finally {
  await server.stop();
}
