/**
 * `npm run bench:trust`: the cost of message signing and verification against the bare
 * Ed25519 operations. The full path signs a typical v0.1 `signal.task.dispatch` (canonical
 * JSON of the envelope, signature, envelope copy) and verifies it (canonical JSON again,
 * signer lookup, signature check); the peer is `crypto.sign` + `crypto.verify` over the same
 * message's canonical bytes, serialized once beforehand. Both run interleaved in the same
 * process; the printed ratio is the overhead of canonicalization and envelope handling, less
 * what onex gains by verifying with libsodium when sodium-native is installed (the peer
 * verifies with OpenSSL, as node:crypto does): each library's bare verification is printed
 * too, measured the same way. It
 * prints; it never fails on timing. Needs the built package (`npm run build`), since the
 * generated SDK imports `@onex/runtime/codegen-v1`.
 *
 * Then the replay memories a subscription keeps over a long run (a process's ReplayGuard and
 * StoredMessageReplay, 100,000 ids each by default): the time to accept a message while they
 * fill (the first 100,000) against once they are full and forget their oldest id for each new
 * one (messages 200,000-300,000). The two should be about equal: memory is bounded, and
 * forgetting must not cost more as a subscription runs on.
 *
 * Then a key's first sighting, what a registry watcher pays once per new node and a subscription
 * once per new sender: `publicKeyFromRaw` on 32 bytes it has never met (the weak-key check, the
 * key id, its KeyObject, its memories), against the peer node:crypto offers, `createPublicKey` of
 * the same bytes as a JWK plus their SHA-256 (OpenSSL checks no point on import: the peer refuses
 * no weak key, names no key and remembers nothing). Every key is a fresh one.
 *
 * BENCH_ROUNDS (default 9) sets interleaved rounds; BENCH_OPS (default 2000) sign+verify pairs per
 * round; BENCH_KEYS (default 1000) fresh keys per side and round.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
import { TaskDispatch } from "../generated/v0.1/index.js";
import { canonicalize } from "../runtime/trust/canonical-json.js";
import { ed25519Library, libsodiumEd25519 } from "../runtime/trust/ed25519-verify.js";
import { generateKeyPair, keyRing, publicKeyFromRaw } from "../runtime/trust/keys.js";
import { StoredMessageReplay } from "../runtime/receive/stored-message-replay.js";
import { judge } from "../runtime/trust/policy.js";
import { ReplayGuard } from "../runtime/trust/replay-guard.js";
import { messageSigningBytes, signMessage, verifyMessageSignature } from "../runtime/trust/sign-message.js";

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 9));
const OPS = Math.max(100, Number(process.env.BENCH_OPS ?? 2000));

const key = generateKeyPair();
const keys = keyRing([key.publicKey]);
const zone = "zone.trusted.org";
const message = TaskDispatch.create({
  source: { zone, entity_type: "node", entity_id: "node-dispatcher-eu-1" },
  trust: { signer: key.keyId, level: "verified", zone, expires_at: new Date(Date.now() + 3_600_000).toISOString() },
  payload: {
    task_id: "task-7f3c9a",
    target: "node-render-04",
    action: "render.frames",
    priority: 5,
    deadline: new Date(Date.now() + 600_000).toISOString(),
    input: { scene: "intro", frames: { from: 1, to: 240 }, resolution: [1920, 1080], quality: 0.85, codec: "av1", tags: ["preview", "hdr"] },
  },
});
const bytes = messageSigningBytes(message);
const keyOfEntity = (id: string) => (id === "node-dispatcher-eu-1" ? key.keyId : undefined);
const logger = { warn: () => {} };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** ops/s of `run` executed OPS times. */
function measure(run: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < OPS; i++) run();
  return OPS / (Number(process.hrtime.bigint() - start) / 1e9);
}

// Results go through a sink so the JIT cannot drop the work.
let sink = 0;
const raw = () => {
  const signature = cryptoSign(null, bytes, key.privateKey);
  if (cryptoVerify(null, bytes, key.publicKey.keyObject, signature)) sink++;
};
const full = () => {
  const signed = signMessage(message, key);
  if (verifyMessageSignature(signed, keys).keyId === key.keyId) sink++;
};
const fullJudged = () => {
  const signed = signMessage(message, key);
  if (judge(signed, { keys, zone, keyOfEntity, logger }).accepted) sink++;
};
const canonicalOnly = () => {
  sink += canonicalize(message.toJSON()).length;
};
const signature = cryptoSign(null, bytes, key.privateKey);
const opensslVerify = () => {
  if (cryptoVerify(null, bytes, key.publicKey.keyObject, signature)) sink++;
};
const sodium = libsodiumEd25519();
const sodiumVerify = () => {
  if (sodium?.(key.publicKey, bytes, signature)) sink++;
};

for (const run of [raw, full, fullJudged, canonicalOnly, opensslVerify, sodiumVerify]) measure(run); // warm-up
const results = { raw: [] as number[], full: [] as number[], judged: [] as number[], canonical: [] as number[], openssl: [] as number[], sodium: [] as number[] };
const order = [
  () => results.raw.push(measure(raw)),
  () => results.full.push(measure(full)),
  () => results.judged.push(measure(fullJudged)),
  () => results.canonical.push(measure(canonicalOnly)),
  () => results.openssl.push(measure(opensslVerify)),
  () => results.sodium.push(measure(sodiumVerify)),
];
for (let round = 0; round < ROUNDS; round++) {
  // Rotate which measurement goes first, so drift in machine load does not favour one of them.
  for (let i = 0; i < order.length; i++) (order[(round + i) % order.length] as () => void)();
}

const rawOps = median(results.raw);
const fullOps = median(results.full);
const judgedOps = median(results.judged);
const line = (name: string, ops: number) => `${name.padEnd(52)} ${ops.toFixed(0).padStart(9)} ops/s   ${(rawOps / ops).toFixed(3)}x raw`;
console.log(`trust bench: v0.1 signal.task.dispatch, ${bytes.length} canonical bytes; median of ${ROUNDS} rounds x ${OPS} ops (node ${process.version})`);
console.log(line("raw crypto.sign + crypto.verify (pre-serialized)", rawOps));
console.log(line("signMessage + verifyMessageSignature", fullOps));
console.log(line("signMessage + judge (default policy)", judgedOps));
console.log(`${"canonicalize(envelope) alone".padEnd(52)} ${median(results.canonical).toFixed(0).padStart(9)} ops/s`);
console.log(`${"Ed25519 verify alone, OpenSSL (node:crypto)".padEnd(52)} ${median(results.openssl).toFixed(0).padStart(9)} ops/s`);
if (sodium === undefined) console.log("Ed25519 verify alone, libsodium: sodium-native is not installed");
else console.log(`${"Ed25519 verify alone, libsodium (sodium-native)".padEnd(52)} ${median(results.sodium).toFixed(0).padStart(9)} ops/s   ${(median(results.sodium) / median(results.openssl)).toFixed(2)}x OpenSSL's rate`);
console.log(`onex verifies with ${ed25519Library()}; the raw peer signs and verifies with OpenSSL`);
console.log(`ratio full/raw: ${(rawOps / fullOps).toFixed(3)}x (target <= 1.3x)${sink < 0 ? "" : ""}`);

// A key's first sighting: fresh keys for every side and round, made before any is timed.
const KEYS = Math.max(100, Number(process.env.BENCH_KEYS ?? 1000));
const freshKeys = (): Buffer[] =>
  Array.from({ length: KEYS }, () => generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(12));
const sighting = {
  onex: (raw: Buffer) => void (sink += publicKeyFromRaw(raw).keyId.length),
  peer: (raw: Buffer) => {
    createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
    sink += createHash("sha256").update(raw).digest("hex").length;
  },
};
type Side = keyof typeof sighting;
const sides = Object.keys(sighting) as Side[];
const keysFor = Object.fromEntries(sides.map((side) => [side, Array.from({ length: ROUNDS + 1 }, freshKeys)])) as Record<Side, Buffer[][]>;
/** µs per key of `side` over its fresh keys of `round`. */
const sightingTime = (side: Side, round: number): number => {
  const run = sighting[side];
  const keysOfRound = keysFor[side][round]!;
  const start = process.hrtime.bigint();
  for (const raw of keysOfRound) run(raw);
  return Number(process.hrtime.bigint() - start) / 1_000 / keysOfRound.length;
};
for (const side of sides) sightingTime(side, ROUNDS); // warm-up, on keys of its own
const sightings = Object.fromEntries(sides.map((side) => [side, [] as number[]])) as Record<Side, number[]>;
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < sides.length; i++) {
    const side = sides[(round + i) % sides.length]!;
    sightings[side].push(sightingTime(side, round));
  }
}
const peerSighting = median(sightings.peer);
const sightingLine = (name: string, us: number) => `${name.padEnd(60)} ${us.toFixed(2).padStart(6)} µs a key   ${(us / peerSighting).toFixed(2)}x the peer`;
console.log(`a key's first sighting: median of ${ROUNDS} rounds x ${KEYS} fresh keys a side`);
console.log(sightingLine("node:crypto createPublicKey (JWK) + SHA-256, checks nothing", peerSighting));
console.log(sightingLine("publicKeyFromRaw (weak-key check, key id, KeyObject, memories)", median(sightings.onex)));

// Replay memories over a long subscription: µs per accepted message, filling and full.
const replay = new StoredMessageReplay(new ReplayGuard());
const envelope = message.toJSON() as Record<string, unknown>;
// Created 0.1 ms apart, as a stream delivers them: each forgotten id's window ends before the next one's.
const firstCreated = Date.now() - 60_000;
const acceptRange = (from: number, to: number): number => {
  const start = process.hrtime.bigint();
  for (let i = from; i < to; i++) replay.forStoredMessage(`ONEX_EVENT#${i}`, "jetstream.onex.zone.z.node.n.events").accept({ ...envelope, id: `m-${i}`, time: new Date(firstCreated + i / 10).toISOString() } as never);
  return Number(process.hrtime.bigint() - start) / 1_000 / (to - from);
};
const filling = acceptRange(0, 100_000);
acceptRange(100_000, 200_000);
const whenFull = acceptRange(200_000, 300_000);
console.log(`replay memories (100,000 ids each): ${filling.toFixed(2)} µs a message while filling, ${whenFull.toFixed(2)} µs once full (messages 200,000-300,000): ${(whenFull / filling).toFixed(2)}x`);
