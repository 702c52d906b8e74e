/**
 * `npm run bench:jetstream`: the SDK's own cost on the control plane, against a local
 * nats-server started for the run. Each side is timed in every round, rounds interleave the
 * sides (taking turns going first), and each figure is the median of the rounds; the ratio is
 * SDK time / peer time.
 *
 * - publish: `client.publishMany` (validate + sign + subject + publish, pipelined acks), against
 *   - the hand-written peer: nats.js publish of each message after the same ajv validator,
 *     RFC 8785 canonical bytes (onex's canonicalize), an Ed25519 signature and JSON.stringify,
 *     with the same window of outstanding acks and the same headers, on a connection configured as
 *     onex's (no async stack traces); its subjects are computed before the clock starts, and it
 *     has no retry on a failed publish;
 *   - the floor: nats.js publish of bytes serialized before the clock starts, plus a bare
 *     `crypto.sign` per message: no validation, canonicalization or serialization.
 * - subscribe: `client.subscribe` (parse + validate + verify + policy, ack), with signatures
 *   verified ahead on worker threads (the default: one per core but one) and on the main
 *   thread alone (`verifyThreads: 0`), against
 *   - the hand-written peer: a pull consumer fetching `window` at a time, `JSON.parse`, the same
 *     ajv validator, canonical bytes without `trust.signature`, an Ed25519 verify, ack; no
 *     replay guard, trust policy (expiry, zone, level), version checks or dead letters;
 *   - the floor: the same pull consumer with a bare Ed25519 verify of precomputed bytes and
 *     an ack: no parse, validation or canonicalization;
 *   - beside them, when onex verifies with libsodium, the hand-written peer verifying with
 *     node:crypto (OpenSSL) alone, as a service without sodium-native would.
 *
 * Then latency at a fixed publish rate (BENCH_RATE, default 500 msg/s; BENCH_LATENCY_MESSAGES,
 * default 2000): p50 and p99 from the publish call to the message in the subscriber's hand.
 *
 * BENCH_MESSAGES (default 5000) messages per side per round, BENCH_ROUNDS (default 7: a round's
 * publish phase lasts about half a second, and single rounds move by ±15%).
 * It prints; it never fails on timing. Needs `nats-server` on PATH and `npm run build`.
 */
import { sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, headers as natsHeaders } from "@nats-io/transport-node";
// The built packages, as a service installs them (`npm run build` first): the sources run
// through tsx would time its transform's additions (a `__name` call per closure made).
import * as v0_1 from "@onex/sdk/v0.1";
import * as v0_2 from "@onex/sdk/v0.2";
import { canonicalBytes, ed25519Library, generateKeyPair, keyRing, signMessage } from "@onex/runtime";
import { applyStreams, connect, defaultVerifyThreads, planStreams } from "@onex/runtime/jetstream";
import { startNatsServer } from "../test/support/nats-server.js";

const MESSAGES = Math.max(500, Number(process.env.BENCH_MESSAGES ?? 5000));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 7));
const WINDOW = 256;
const RATE = Number(process.env.BENCH_RATE ?? 500);
const LATENCY_MESSAGES = Number(process.env.BENCH_LATENCY_MESSAGES ?? 2000);
const zone = "zone.trusted.org";
const key = generateKeyPair();
/**
 * The peers verify with the library onex verifies with (sodium-native's libsodium when it is
 * installed, else node:crypto's OpenSSL), so the ratios are onex's own cost; what libsodium
 * gains over OpenSSL is `npm run bench:trust`'s to print.
 */
const sodium = ed25519Library() === "libsodium" ? (createRequire(import.meta.url)("sodium-native") as { crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean }) : undefined;
const peerVerify = (message: Uint8Array, signature: Uint8Array): boolean =>
  sodium === undefined ? cryptoVerify(null, message, key.publicKey.keyObject, signature) : sodium.crypto_sign_verify_detached(signature, message, key.publicKey.raw);
/** A second hand-written subscriber with node:crypto alone (OpenSSL), what a peer without sodium-native verifies with: printed beside, not the target. */
const opensslVerify = (message: Uint8Array, signature: Uint8Array): boolean => cryptoVerify(null, message, key.publicKey.keyObject, signature);

function dispatch(i: number, entity: string): v0_1.TaskDispatch {
  return v0_1.TaskDispatch.create({
    source: { zone, entity_type: "task", entity_id: entity },
    trust: { signer: key.keyId, level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    payload: { task_id: `task-${i}`, target: "node-render-04", action: "render.frames", priority: 5, input: { scene: "intro", frames: { from: 1, to: 240 }, quality: 0.85 } },
  });
}

const server = await startNatsServer();

/** CPU time (ms) used so far by this process (every thread) and by nats-server (Linux /proc; USER_HZ 100). */
function cpuNow(): { client: number; server: number } {
  const { user, system } = process.cpuUsage();
  const stat = readFileSync(`/proc/${server.process.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { client: (user + system) / 1_000, server: ((Number(fields[11]) + Number(fields[12])) * 1_000) / 100 };
}
/** Runs `work`, adding the CPU it took (client and server, per message) to `into`. */
async function withCpu<T>(into: { client: number[]; server: number[] }, work: () => Promise<T>): Promise<T> {
  const before = cpuNow();
  const result = await work();
  const after = cpuNow();
  into.client.push(((after.client - before.client) * 1_000) / MESSAGES);
  into.server.push(((after.server - before.server) * 1_000) / MESSAGES);
  return result;
}

try {
  // The peers' connection is configured as onex's is: no async stack traces (two Error objects per request otherwise).
  const nc = await natsConnect({ servers: server.url, noAsyncTraces: true });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await applyStreams(jsm, planStreams([v0_1, v0_2]));
  const options = { servers: server.url, identity: key, keys: keyRing([key.publicKey]), trust: { zone, keyOfEntity: () => key.keyId, logger: { warn() {} } } };
  // The default: signatures verified ahead on one thread per core but one; and the same on the main thread alone.
  const client = await connect(options);
  const oneThread = await connect({ ...options, verifyThreads: 0 });
  const threads = defaultVerifyThreads();

  const validate = v0_1.validators.TaskDispatch;
  const results = { sdkPub: [] as number[], handPub: [] as number[], rawPub: [] as number[], sdkSub: [] as number[], sdkSubOne: [] as number[], handSub: [] as number[], handSubOpenssl: [] as number[], rawSub: [] as number[] };
  const cpu = () => ({ client: [] as number[], server: [] as number[] });
  const cpuOf = { sdkPub: cpu(), handPub: cpu(), sdkSub: cpu(), sdkSubOne: cpu(), handSub: cpu() };
  /** Publishes with at most WINDOW acks outstanding, `prepare` run per message inside the clock. */
  const windowed = async <T>(items: T[], send: (item: T) => Promise<unknown>): Promise<number> => {
    const t = performance.now();
    let active = 0;
    let wake: (() => void) | undefined;
    const slotFreed = () => new Promise<void>((resolve) => (wake = resolve));
    for (const item of items) {
      while (active >= WINDOW) await slotFreed();
      active++;
      void send(item).finally(() => {
        active--;
        wake?.();
      });
    }
    while (active > 0) await slotFreed();
    return performance.now() - t;
  };
  /** The hand-written publish: validate, canonicalize, sign, serialize, publish. */
  const handPublish = (subject: string, data: v0_1.TaskDispatchData) => {
    if (!validate(data)) throw new Error("invalid");
    const { signature: _none, ...trust } = data.trust;
    const unsigned = { ...data, trust: { ...trust, signer: key.keyId } };
    const signature = `ed25519:${cryptoSign(null, canonicalBytes(unsigned), key.privateKey).toString("base64url")}`;
    const h = natsHeaders();
    h.set("Onex-Type", data.type);
    h.set("Onex-Version", "0.1");
    return js.publish(subject, JSON.stringify({ ...unsigned, trust: { ...unsigned.trust, signature } }), { msgID: data.id, headers: h });
  };
  /** The hand-written receive: parse, validate, canonicalize, verify. */
  const decoder = new TextDecoder();
  const handReceiveWith = (verify: typeof peerVerify) => (bytes: Uint8Array): v0_1.TaskDispatchData => {
    const data = JSON.parse(decoder.decode(bytes)) as v0_1.TaskDispatchData;
    if (!validate(data)) throw new Error("invalid");
    const { signature, ...trust } = data.trust;
    if (!verify(canonicalBytes({ ...data, trust }), Buffer.from(String(signature).slice("ed25519:".length), "base64url"))) throw new Error("bad signature");
    return data;
  };
  const handReceive = handReceiveWith(peerVerify);
  /** Pulls `count` from a fresh consumer on `entity`, `handle` run per message before its ack. */
  const pull = async (name: string, entity: string, count: number, handle: (data: Uint8Array) => void): Promise<number> => {
    const info = await jsm.consumers.add("ONEX_EVENT", {
      name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: v0_1.filterEventSubject({ entity_id: entity }),
      max_ack_pending: WINDOW,
    });
    const consumer = await js.consumers.get("ONEX_EVENT", info.name);
    const t = performance.now();
    let n = 0;
    while (n < count) {
      const batch = await consumer.fetch({ max_messages: WINDOW, expires: 2_000 });
      for await (const msg of batch) {
        handle(msg.data);
        msg.ack();
        // Stop as the typed side does, rather than wait for the batch to expire.
        if (++n === count) break;
      }
    }
    return performance.now() - t;
  };
  for (let round = 0; round < ROUNDS; round++) {
    // Every side's messages are made before any clock starts.
    const typed = Array.from({ length: MESSAGES }, (_, i) => dispatch(i, `sdk-${round}`));
    const hand = Array.from({ length: MESSAGES }, (_, i) => dispatch(i, `hand-${round}`)).map((m) => ({ subject: m.subject(), data: m.toJSON() as unknown as v0_1.TaskDispatchData }));
    const raw = Array.from({ length: MESSAGES }, (_, i) => dispatch(i, `raw-${round}`));
    const prepared = raw.map((m) => ({ subject: m.subject(), bytes: new TextEncoder().encode(JSON.stringify(signMessage(m, key))), id: m.id, unsigned: canonicalBytes(m.toJSON()) })).map((p) => ({ ...p, signature: cryptoSign(null, p.unsigned, key.privateKey) }));

    const publishes: (() => Promise<void>)[] = [
      // Typed publish.
      async () =>
        withCpu(cpuOf.sdkPub, async () => {
          const t = performance.now();
          await client.publishMany(typed, { window: WINDOW });
          results.sdkPub.push(performance.now() - t);
        }),
      // Hand-written publish: validate, canonicalize, sign, serialize, publish.
      async () => void results.handPub.push(await withCpu(cpuOf.handPub, () => windowed(hand, ({ subject, data }) => handPublish(subject, data)))),
      // Raw publish of the same kind of bytes, with a bare signature each.
      async () =>
        void results.rawPub.push(
          await windowed(prepared, (p) => {
            cryptoSign(null, p.unsigned, key.privateKey);
            const h = natsHeaders();
            h.set("Onex-Type", "signal.task.dispatch");
            return js.publish(p.subject, p.bytes, { msgID: p.id, headers: h });
          }),
        ),
    ];
    // Typed subscribe: parse, validate, verify, judge, ack; with verification threads and without.
    const typedSubscribe = (c: typeof client, into: number[], cpuInto: ReturnType<typeof cpu>) => async () => {
      const sub = await c.subscribe([v0_1.TaskDispatch], { entityId: `sdk-${round}`, maxInFlight: WINDOW });
      await withCpu(cpuInto, async () => {
        const t = performance.now();
        let n = 0;
        for await (const d of sub) {
          d.ack();
          if (++n === MESSAGES) {
            // Timed to the last message, as the raw side is: stopping (which waits for the open
            // pull to end so nothing it brings is lost) is not part of the throughput.
            into.push(performance.now() - t);
            break;
          }
        }
      });
    };
    let i = 0;
    const subscribes: (() => Promise<void>)[] = [
      typedSubscribe(client, results.sdkSub, cpuOf.sdkSub),
      typedSubscribe(oneThread, results.sdkSubOne, cpuOf.sdkSubOne),
      // Hand-written consume: parse, validate, canonicalize, verify, ack.
      async () => void results.handSub.push(await withCpu(cpuOf.handSub, () => pull(`hand_${round}`, `hand-${round}`, MESSAGES, handReceive))),
      // The same with OpenSSL, when the peer above verifies with libsodium.
      ...(sodium === undefined ? [] : [async () => void results.handSubOpenssl.push(await pull(`handossl_${round}`, `hand-${round}`, MESSAGES, handReceiveWith(opensslVerify)))]),
      // Raw consume with a bare verify.
      async () =>
        void results.rawSub.push(
          await pull(`raw_${round}`, `raw-${round}`, MESSAGES, () => {
            const p = prepared[i++ % prepared.length]!;
            if (!peerVerify(p.unsigned, p.signature)) throw new Error("bad signature");
          }),
        ),
    ];
    // The sides take turns going first, so none always follows the same phase (its garbage, its
    // consumer's clean-up).
    for (const phase of round % 2 === 0 ? publishes : publishes.reverse()) await phase();
    for (const phase of round % 2 === 0 ? subscribes : subscribes.reverse()) await phase();
  }

  // Latency at a fixed publish rate: from the publish call to the message in the subscriber's hand.
  const paced = async (send: (i: number) => void) => {
    const start = performance.now();
    for (let i = 0; i < LATENCY_MESSAGES; i++) {
      const wait = start + (i * 1_000) / RATE - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      send(i);
    }
  };
  const sentAt = new Map<string, number>();
  const latency = { sdk: [] as number[], sdkOne: [] as number[], hand: [] as number[] };
  for (const [c, into, entity] of [
    [client, latency.sdk, "lat-sdk"],
    [oneThread, latency.sdkOne, "lat-one"],
  ] as const) {
    const sub = await c.subscribe([v0_1.TaskDispatch], { entityId: entity, maxInFlight: WINDOW });
    const received = (async () => {
      for await (const d of sub) {
        into.push(performance.now() - sentAt.get((d.message as v0_1.TaskDispatch).id)!);
        d.ack();
        if (into.length === LATENCY_MESSAGES) break;
      }
    })();
    const messages = Array.from({ length: LATENCY_MESSAGES }, (_, i) => dispatch(i, entity));
    await paced((i) => {
      sentAt.set(messages[i]!.id, performance.now());
      void client.publish(messages[i]!);
    });
    await received;
  }
  {
    const messages = Array.from({ length: LATENCY_MESSAGES }, (_, i) => dispatch(i, "lat-hand")).map((m) => ({ subject: m.subject(), data: m.toJSON() as unknown as v0_1.TaskDispatchData }));
    const received = pull("lat_hand", "lat-hand", LATENCY_MESSAGES, (bytes) => {
      latency.hand.push(performance.now() - sentAt.get(handReceive(bytes).id)!);
    });
    await paced((i) => {
      sentAt.set(messages[i]!.data.id, performance.now());
      void handPublish(messages[i]!.subject, messages[i]!.data);
    });
    await received;
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
  const rate = (ms: number) => Math.round((MESSAGES / ms) * 1000).toLocaleString("en");
  const row = (label: string, sdk: number[], peer: string, other: number[], target = "") =>
    console.log(`  ${label.padEnd(30)} onex ${rate(median(sdk)).padStart(7)} msg/s   ${peer.padEnd(12)} ${rate(median(other)).padStart(7)} msg/s   onex/peer time ${(median(sdk) / median(other)).toFixed(2)}x${target}`);
  console.log(`bench:jetstream — ${availableParallelism()} cores; ${MESSAGES} signal.task.dispatch messages per side, median of ${ROUNDS} rounds, window ${WINDOW}, nats-server on loopback`);
  console.log(`Ed25519: every side verifies with ${ed25519Library()}${sodium === undefined ? "" : " (sodium-native)"}, as onex does (but "hand, OpenSSL": node:crypto), and signs with OpenSSL (node:crypto)`);
  console.log("  hand-written: nats.js + the same ajv validator + canonical bytes + Ed25519 sign/verify (+ JSON.stringify / JSON.parse); floor: pre-serialized bytes + bare sign/verify");
  row("publish", results.sdkPub, "hand-written", results.handPub, " (target <= 1.15)");
  row("publish", results.sdkPub, "floor", results.rawPub);
  row(`subscribe, ${threads} verify thread${threads === 1 ? "" : "s"}`, results.sdkSub, "hand-written", results.handSub, " (target < 1: past the one-core peer)");
  row("subscribe, main thread only", results.sdkSubOne, "hand-written", results.handSub, " (target <= 1.15)");
  row("subscribe, main thread only", results.sdkSubOne, "floor", results.rawSub);
  if (sodium !== undefined) {
    row(`subscribe, ${threads} verify thread${threads === 1 ? "" : "s"}`, results.sdkSub, "hand, OpenSSL", results.handSubOpenssl, " (the peer with node:crypto alone)");
    row("subscribe, main thread only", results.sdkSubOne, "hand, OpenSSL", results.handSubOpenssl);
  }
  // Where the two cores go: when client and server together use about two cores' worth, the
  // machine, not the SDK, is the limit (verification threads cannot add a core nats-server uses).
  const cpuRow = (label: string, side: { client: number[]; server: number[] }, ms: number[]) =>
    console.log(`  ${label.padEnd(40)} client ${median(side.client).toFixed(0).padStart(4)} us/msg   nats-server ${median(side.server).toFixed(0).padStart(4)} us/msg   cores busy ${(((median(side.client) + median(side.server)) * MESSAGES) / 1_000 / median(ms)).toFixed(2)}`);
  console.log("CPU per message (this process, all threads; nats-server from /proc):");
  cpuRow("publish, onex", cpuOf.sdkPub, results.sdkPub);
  cpuRow("publish, hand-written peer", cpuOf.handPub, results.handPub);
  cpuRow(`subscribe, onex, ${threads} verify thread${threads === 1 ? "" : "s"}`, cpuOf.sdkSub, results.sdkSub);
  cpuRow("subscribe, onex, main thread only", cpuOf.sdkSubOne, results.sdkSubOne);
  cpuRow("subscribe, hand-written peer", cpuOf.handSub, results.handSub);
  const lat = (label: string, xs: number[]) => console.log(`  ${label.padEnd(40)} p50 ${percentile(xs, 50).toFixed(2).padStart(6)} ms   p99 ${percentile(xs, 99).toFixed(2).padStart(6)} ms`);
  console.log(`latency, publish call to the subscriber's hand, ${LATENCY_MESSAGES} messages at ${RATE} msg/s:`);
  lat(`onex, ${threads} verify thread${threads === 1 ? "" : "s"}`, latency.sdk);
  lat("onex, main thread only", latency.sdkOne);
  lat("hand-written peer", latency.hand);
  await client.close();
  await oneThread.close();
  await nc.close();
} finally {
  await server.stop();
}
