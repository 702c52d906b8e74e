/**
 * Deciding how two deployments talk: the pure part of the handshake. Both sides run
 * `agreeOnVersion` with the two offers swapped and must reach the same mode and version,
 * so the rule is symmetric by construction:
 *
 * 1. `direct`: the highest version both speak (own version or one they stay compatible
 *    with) whose schemas hash the same on both sides.
 * 2. `fallback`: no shared version, but one side's generated adapters convert between the
 *    two own versions (and were generated from the schemas the other side declares).
 *    Messages then travel in the older side's version when the newer side converts.
 * 3. otherwise the peer is rejected with ONEX_E_INCOMPATIBLE_PEER, or with
 *    ONEX_E_SCHEMA_HASH_MISMATCH when only differing schemas stand in the way.
 */
import { ErrorCode, OnexError, isOnexError } from "../errors.js";
import { checkObject, describeValue } from "../option-check.js";
import { findMigrationPath, type VersionGraph } from "../transform.js";
import type { KeyPair, KeyResolver } from "../trust/keys.js";
import { signRecord, verifyRecordSignature } from "../trust/record-signature.js";
import type { SchemaIndex } from "./schema-index.js";
import { compareVersions } from "../version-order.js";

export { compareVersions };

/** The `protocol` block every node declares (spec: version, compatible_with, declared_by, schema_manifest_url). */
export interface ProtocolBlock {
  version: string;
  compatible_with: string[];
  declared_by: string;
  schema_manifest_url: string;
}

/** A version and the content hash of its schemas. */
export interface VersionHash {
  version: string;
  content_hash: string;
}

/** What a deployment declares about itself when it first talks to another. */
export interface ProtocolOffer {
  kind: "onex.offer/1";
  deployment: string;
  protocol: ProtocolBlock;
  /** Versions it reads and writes natively: its own and those it stays compatible with. */
  speaks: VersionHash[];
  /** Versions its generated adapters convert to and from its own (a transform path exists). */
  converts: VersionHash[];
  /** Key id the deployment signs its messages with; with `signature`, what lets a receiver tell its messages apart. */
  signer?: string;
  /**
   * A FederationNode's handshake, signed afresh each time: when (`issued_at`), and what for.
   * An opening offer names the deployment it is for (`audience`) and a random `nonce`; the
   * answer's offer echoes that nonce as `in_reply_to`. So an opening offer recorded off the
   * wire is not taken by another deployment, nor later than a newer one of its signer, and an
   * answer is not taken for another handshake.
   */
  issued_at?: string;
  audience?: string;
  nonce?: string;
  in_reply_to?: string;
  /** `signRecord` signature of the offer by `signer`. */
  signature?: string;
}

/**
 * Bounds on a peer's offer. A deployment offers a handful of versions under a short name; an
 * offer is read before anything about its sender is known, and its name goes into a NATS
 * subject (the server drops a connection whose control line passes 4 KiB) and into answers
 * (which must fit under max_payload).
 */
export const OFFER_LIMITS = { bytes: 64 * 1024, deploymentChars: 128, versions: 64, textChars: 256, urlChars: 2_048 } as const;

/** How far an offer's `issued_at` may be from this host's clock (either way). */
export const OFFER_FRESH_MS = 5 * 60_000;

/** A finding about the peer that did not by itself decide the outcome. */
export interface NegotiationFlag {
  code: typeof ErrorCode.SchemaHashMismatch;
  version: string;
  message: string;
}

/** The outcome both sides agreed on. */
export interface Agreement {
  local: { deployment: string; version: string };
  /** `signer`: the key id the peer's offer was signed with, verified; its messages are told apart by it. */
  peer: { deployment: string; version: string; signer?: string };
  mode: "direct" | "fallback";
  /** The version directed messages travel in (see the file comment). */
  version: string;
  /** Deployments whose adapters convert between the two own versions. */
  convertedBy: string[];
  flags: NegotiationFlag[];
  /**
   * Versions not used with this peer on any path: those whose schemas hash differently on
   * the two sides (the flags), and those whose published index does not verify. Its messages
   * in them are refused, and nothing is sent to it in them.
   */
  unused: string[];
}

/** What a local deployment is made of, for building its offer. */
export interface OfferInput {
  deployment: string;
  /** The deployment's own `protocol` block (the generated `protocolBlock()` of its version). */
  protocol: ProtocolBlock;
  /** Schema indexes this deployment knows: its own version's at least. */
  indexes: readonly SchemaIndex[];
  /** The version graph of its generated adapters (generated/transforms `versionGraph`), when it has them. */
  graph?: VersionGraph;
  /** Signs the offer: the key the deployment's messages are signed with. */
  identity?: KeyPair;
}

/** Builds the offer a deployment sends (and answers with). Throws ONEX_E_USAGE when its own version has no index. */
export function buildOffer(input: OfferInput): ProtocolOffer {
  checkOfferInput(input);
  const hashOf = new Map(input.indexes.map((i) => [i.version, i.content_hash]));
  const own = input.protocol.version;
  if (!hashOf.has(own)) throw new OnexError(ErrorCode.Usage, `no schema index for this deployment's own version v${own}`, { version: own });
  const speaks = [own, ...input.protocol.compatible_with].filter((v, i, all) => hashOf.has(v) && all.indexOf(v) === i);
  const converts = (input.graph?.versions ?? []).filter((v) => v !== own && hashOf.has(v) && reachable(input.graph!, own, v));
  const withHash = (version: string): VersionHash => ({ version, content_hash: hashOf.get(version)! });
  const offer: ProtocolOffer = {
    kind: "onex.offer/1",
    deployment: input.deployment,
    protocol: { ...input.protocol, compatible_with: [...input.protocol.compatible_with] },
    speaks: speaks.map(withHash),
    converts: converts.map(withHash),
  };
  return input.identity === undefined ? offer : signRecord({ ...offer, signer: input.identity.keyId }, input.identity);
}

/**
 * ONEX_E_USAGE for an offer input plain JavaScript can give that buildOffer cannot read: no
 * object (`null`), no deployment name, a protocol block without its fields (a `compatible_with`
 * left out) or indexes that are no list of `{ version, content_hash }`. Each failed as a raw TypeError.
 */
function checkOfferInput(input: OfferInput): void {
  checkObject("buildOffer", "input", input, { required: true });
  const bad = (name: string, what: string, value: unknown): never => {
    throw new OnexError(ErrorCode.Usage, `buildOffer: ${name} must be ${what}, not ${describeValue(value)}`);
  };
  if (typeof input.deployment !== "string" || input.deployment === "") bad("deployment", "a deployment name", input.deployment);
  if (!isProtocolBlock(input.protocol)) bad("protocol", "a protocol block { version, compatible_with (a list of versions), declared_by, schema_manifest_url }, as the generated protocolBlock() returns", input.protocol);
  const indexes: unknown = input.indexes;
  if (!Array.isArray(indexes) || !indexes.every((i: { version?: unknown; content_hash?: unknown } | null) => typeof i?.version === "string" && typeof i.content_hash === "string")) {
    bad("indexes", "a list of schema indexes ({ version, content_hash, ... })", indexes);
  }
  checkObject("buildOffer", "graph", input.graph);
  checkObject("buildOffer", "identity", input.identity);
}

/**
 * The key id that signed `offer`, verified with `keys`; undefined for an unsigned offer (the
 * CLI's). Throws ONEX_E_NEGOTIATION_INVALID for a signature that does not verify or a signer
 * `keys` does not know: an offer must not claim another deployment's messages.
 */
export function offerSigner(offer: ProtocolOffer, keys: KeyResolver | undefined): string | undefined {
  if (offer.signature === undefined || offer.signer === undefined || keys === undefined) return undefined;
  try {
    const key = keys(offer.signer);
    if (key === undefined || key.keyId !== offer.signer) throw new OnexError(ErrorCode.SignerUnknown, `signer ${offer.signer} is not in the key ring`);
    verifyRecordSignature(offer, key, "protocol offer");
    return offer.signer;
  } catch (cause) {
    throw new OnexError(ErrorCode.NegotiationInvalid, `the offer of "${offer.deployment}" claims signer ${offer.signer} but ${isOnexError(cause) ? cause.message : String(cause)}`, { peer: offer.deployment, signer: offer.signer }, { cause });
  }
}

function reachable(graph: VersionGraph, from: string, to: string): boolean {
  try {
    findMigrationPath(graph, from, to);
    findMigrationPath(graph, to, from);
    return true;
  } catch {
    return false;
  }
}

/** Picks how `local` and `peer` talk; throws ONEX_E_INCOMPATIBLE_PEER or ONEX_E_SCHEMA_HASH_MISMATCH. */
export function agreeOnVersion(local: ProtocolOffer, peer: ProtocolOffer): Agreement {
  checkAgreeingOffer("local", local);
  checkAgreeingOffer("peer", peer);
  const ours = hashMap([...local.speaks, ...local.converts]);
  const theirs = hashMap([...peer.speaks, ...peer.converts]);
  const flags: NegotiationFlag[] = [];
  const mismatched = new Set<string>();
  for (const [version, hash] of theirs) {
    const known = ours.get(version);
    if (known !== undefined && known !== hash) {
      mismatched.add(version);
      flags.push({
        code: ErrorCode.SchemaHashMismatch,
        version,
        message: `"${peer.deployment}" declares v${version} with content hash ${hash}, "${local.deployment}" knows it as ${known}`,
      });
    }
  }
  const base = {
    local: { deployment: local.deployment, version: local.protocol.version },
    peer: { deployment: peer.deployment, version: peer.protocol.version },
    flags,
    unused: [...mismatched].sort(compareVersions),
  };

  const peerSpeaks = hashMap(peer.speaks);
  const common = local.speaks.filter((v) => peerSpeaks.get(v.version) === v.content_hash).map((v) => v.version);
  if (common.length > 0) {
    return { ...base, mode: "direct", version: common.sort(compareVersions).at(-1)!, convertedBy: converters(local, peer) };
  }
  const convertedBy = converters(local, peer);
  if (convertedBy.length > 0) {
    const [older, newer] = compareVersions(local.protocol.version, peer.protocol.version) <= 0 ? [local, peer] : [peer, local];
    // The newer side converts when it can: older deployments are the likelier to lack adapters.
    const version = convertedBy.includes(newer.deployment) ? older.protocol.version : newer.protocol.version;
    return { ...base, mode: "fallback", version, convertedBy };
  }

  const describe = (o: ProtocolOffer) => {
    const compat = o.protocol.compatible_with.length > 0 ? `, compatible with ${o.protocol.compatible_with.map((v) => `v${v}`).join(", ")}` : "";
    return `"${o.deployment}" (v${o.protocol.version}${compat})`;
  };
  // A version it speaks may also be one its adapters reach: name each once.
  const readable = [...new Set([...local.speaks, ...local.converts].map((v) => v.version))].sort(compareVersions).map((v) => `v${v}`);
  const details = { local: offerSummary(local), peer: offerSummary(peer), flags };
  if (mismatched.size > 0) {
    throw new OnexError(
      ErrorCode.SchemaHashMismatch,
      `${describe(peer)} and ${describe(local)} would share ${[...mismatched].map((v) => `v${v}`).join(", ")}, but the schemas hash differently on the two sides. ` +
        `To make them compatible, regenerate both from the released manifests of those versions (or give the changed schemas a new version).`,
      { ...details, versions: [...mismatched] },
    );
  }
  throw new OnexError(
    ErrorCode.IncompatiblePeer,
    `${describe(peer)} and ${describe(local)} share no protocol version, and no transform path connects v${peer.protocol.version} and v${local.protocol.version}. ` +
      `To make them compatible, run "${peer.deployment}" at one of ${readable.join(", ")}, or add a transform between v${peer.protocol.version} and v${local.protocol.version} ` +
      `(schemas/v${later(peer, local)}/from-v${earlier(peer, local)}.yaml), run onex generate, and deploy it on either side.`,
    details,
  );
}

/**
 * ONEX_E_USAGE for an offer agreeOnVersion cannot read (`{}`, `null`, lists left out): each failed
 * as a raw TypeError. A peer's offer off the wire is checked by parseOffer before, as
 * ONEX_E_NEGOTIATION_INVALID; this checks what a caller hands over, and nothing of its bounds.
 */
function checkAgreeingOffer(name: string, offer: ProtocolOffer): void {
  checkObject("agreeOnVersion", name, offer, { required: true });
  const bad = (field: string, what: string, value: unknown): never => {
    throw new OnexError(ErrorCode.Usage, `agreeOnVersion: ${name}.${field} must be ${what}, not ${describeValue(value)}`);
  };
  if (typeof offer.deployment !== "string") bad("deployment", "a deployment name", offer.deployment);
  if (!isProtocolBlock(offer.protocol)) bad("protocol", "a protocol block { version, compatible_with, declared_by, schema_manifest_url }", offer.protocol);
  for (const field of ["speaks", "converts"] as const) {
    const list: unknown = offer[field];
    if (!Array.isArray(list) || !list.every((v: Partial<VersionHash> | null) => typeof v?.version === "string" && typeof v.content_hash === "string")) {
      bad(field, "a list of { version, content_hash }", list);
    }
  }
}

/** Deployments whose adapters convert the other's own version (generated from the same schemas), in a stable order. */
function converters(local: ProtocolOffer, peer: ProtocolOffer): string[] {
  const can = (a: ProtocolOffer, b: ProtocolOffer) => {
    const own = b.speaks.find((v) => v.version === b.protocol.version);
    return a.converts.some((v) => v.version === b.protocol.version && v.content_hash === own?.content_hash);
  };
  return [...(can(local, peer) ? [local.deployment] : []), ...(can(peer, local) ? [peer.deployment] : [])].sort();
}

function hashMap(list: readonly VersionHash[]): Map<string, string> {
  return new Map(list.map((v) => [v.version, v.content_hash]));
}

function offerSummary(o: ProtocolOffer) {
  return { deployment: o.deployment, version: o.protocol.version, speaks: o.speaks.map((v) => v.version), converts: o.converts.map((v) => v.version) };
}

function later(a: ProtocolOffer, b: ProtocolOffer): string {
  return compareVersions(a.protocol.version, b.protocol.version) >= 0 ? a.protocol.version : b.protocol.version;
}

function earlier(a: ProtocolOffer, b: ProtocolOffer): string {
  return compareVersions(a.protocol.version, b.protocol.version) < 0 ? a.protocol.version : b.protocol.version;
}

/** Whether a peer's `protocol` block has the spec's fields, each of its type (a list of version strings included). */
export function isProtocolBlock(value: unknown): value is ProtocolBlock {
  const p = value as Record<string, unknown> | null | undefined;
  return (
    typeof p === "object" &&
    p !== null &&
    typeof p.version === "string" &&
    Array.isArray(p.compatible_with) &&
    p.compatible_with.every((v) => typeof v === "string") &&
    typeof p.declared_by === "string" &&
    typeof p.schema_manifest_url === "string"
  );
}

/** Checks that `value` is a well-formed offer within OFFER_LIMITS; throws ONEX_E_NEGOTIATION_INVALID. */
export function parseOffer(value: unknown, source: string): ProtocolOffer {
  const bad = (why: string): never => {
    throw new OnexError(ErrorCode.NegotiationInvalid, `${source} sent a malformed offer: ${why}`, { source });
  };
  const text = (v: unknown, max: number = OFFER_LIMITS.textChars) => typeof v === "string" && v.length <= max;
  const optionalText = (v: unknown) => v === undefined || text(v);
  if (value === null || typeof value !== "object") bad("not an object");
  const o = value as Record<string, unknown>;
  if (o.kind !== "onex.offer/1") bad(`kind is ${String(JSON.stringify(o.kind)).slice(0, 40)}`);
  if (typeof o.deployment !== "string" || o.deployment === "") bad("deployment is not a name");
  if ((o.deployment as string).length > OFFER_LIMITS.deploymentChars) bad(`the deployment name is longer than ${OFFER_LIMITS.deploymentChars} characters`);
  const p = o.protocol as Record<string, unknown> | null;
  if (!isProtocolBlock(p)) bad("protocol is not {version, compatible_with, declared_by, schema_manifest_url}");
  if (!text(p!.version) || !text(p!.declared_by) || !text(p!.schema_manifest_url, OFFER_LIMITS.urlChars) || (p!.compatible_with as string[]).length > OFFER_LIMITS.versions || !(p!.compatible_with as string[]).every((v) => text(v))) {
    bad(`protocol holds more than ${OFFER_LIMITS.versions} versions or a text longer than its bound`);
  }
  if (![o.signer, o.signature, o.issued_at, o.audience, o.nonce, o.in_reply_to].every(optionalText)) bad(`signer, signature, issued_at, audience, nonce and in_reply_to are not strings of at most ${OFFER_LIMITS.textChars} characters`);
  for (const key of ["speaks", "converts"]) {
    const list = o[key];
    if (!Array.isArray(list) || list.some((v) => !v || typeof v.version !== "string" || typeof v.content_hash !== "string")) bad(`${key} is not a list of {version, content_hash}`);
    if ((list as VersionHash[]).length > OFFER_LIMITS.versions || (list as VersionHash[]).some((v) => !text(v.version) || !text(v.content_hash))) {
      bad(`${key} lists more than ${OFFER_LIMITS.versions} versions or a text longer than ${OFFER_LIMITS.textChars} characters`);
    }
  }
  return value as ProtocolOffer;
}

/** What one handshake's offer is signed for: an opening offer's `audience` and `nonce`, or an answer's `in_reply_to`. */
export type HandshakeRole = { audience: string; nonce: string } | { in_reply_to: string };

/** `offer` signed afresh by `identity` for one handshake (see `ProtocolOffer.issued_at`). */
export function freshOffer(offer: ProtocolOffer, identity: KeyPair, role: HandshakeRole, now = Date.now()): ProtocolOffer {
  const { signature: _signature, audience: _a, nonce: _n, in_reply_to: _r, ...unsigned } = offer;
  return signRecord<ProtocolOffer>({ ...unsigned, ...role, signer: identity.keyId, issued_at: new Date(now).toISOString() }, identity);
}
