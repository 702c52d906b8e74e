/**
 * Artifact descriptors: the signed, content-addressed description of a file cut into
 * pieces. Every piece is checked against its SHA-256 before it is kept, and the root hash
 * (over the piece digests) is the artifact's id in the swarm, so a descriptor names exactly
 * one content and the publisher's signature binds name and version to it.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { ErrorCode, OnexError } from "../errors.js";
import type { KeyPair } from "../trust/keys.js";
import { DEFAULT_TRUST_POLICY, PolicyMode, type TrustPolicy, type TrustWarning } from "../trust/policy.js";
import type { WellFormedString } from "../trust/canonical-json.js";
import { isRfc3339 } from "../trust/rfc3339-time.js";
import { assertRecordShape } from "../trust/record-shape.js";
import { signRecord, verifyRecordSignature } from "../trust/record-signature.js";
import { publisherKeyFor, type PublisherGrant } from "./publishers.js";

/** `ArtifactDescriptor` (schemas/v0.2/records/artifact-descriptor.yaml), pinned to the generated type by a test. */
export interface ArtifactDescriptorRecord {
  name: string;
  version: string;
  media_type: string;
  size: number;
  piece_size: number;
  pieces: string[];
  root_hash: string;
  publisher: string;
  zone: string;
  published_at: string;
  signature?: string;
}

/** 1 MiB: small enough that a corrupt piece costs little to fetch again, large enough that 256 MB is only 256 requests. */
export const DEFAULT_PIECE_SIZE = 1 << 20;
export const MIN_PIECE_SIZE = 1 << 14;
export const MAX_PIECE_SIZE = 1 << 26;

/**
 * The trust policy data-plane fetches use by default: the specification's defaults, except
 * that a descriptor from another zone is refused rather than warned about, because fetching
 * it means running or loading bytes another zone vouches for.
 */
export const DATA_PLANE_TRUST_POLICY: Readonly<TrustPolicy> = Object.freeze({ ...DEFAULT_TRUST_POLICY, zone_match: PolicyMode.Strict });

const HEX_DIGEST = /^[0-9a-f]{64}$/;
const ROOT_HASH = /^sha256:[0-9a-f]{64}$/;

/** Number of pieces of an artifact of `size` bytes cut at `pieceSize`; ONEX_E_DESCRIPTOR_INVALID for a size or piece size no descriptor can have. */
export function pieceCountOf(size: number, pieceSize: number): number {
  checkSize(size);
  checkPieceSize(pieceSize);
  return Math.ceil(size / pieceSize);
}

/** Byte length of piece `index` (the last one may be shorter). */
export function pieceLengthOf(descriptor: Pick<ArtifactDescriptorRecord, "size" | "piece_size">, index: number): number {
  return Math.min(descriptor.piece_size, descriptor.size - index * descriptor.piece_size);
}

/** Lower-case hex SHA-256 of one piece. */
export function pieceDigest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** `sha256:<hex>` over the concatenated raw piece digests. */
export function rootHashOf(pieces: readonly string[]): string {
  const hash = createHash("sha256");
  for (const piece of pieces) hash.update(Buffer.from(piece, "hex"));
  return "sha256:" + hash.digest("hex");
}

/** The hex part of a root hash: a token safe in URLs and file names. */
export function rootHex(rootHash: string): string {
  return rootHash.startsWith("sha256:") ? rootHash.slice(7) : rootHash;
}

/** What `describeFile` needs besides the file. */
export interface DescribeOptions {
  name: string;
  version: string;
  /** The zone the publisher vouches for the artifact in. */
  zone: string;
  mediaType?: string;
  /** A power of two from 16 KiB to 64 MiB; default 1 MiB. */
  pieceSize?: number;
  /** Defaults to now. */
  publishedAt?: Date;
}

/** Hashes a file piece by piece and returns its descriptor signed by `key`. Reads the file once, one piece at a time. */
export async function describeFile(path: string, options: DescribeOptions, key: KeyPair): Promise<ArtifactDescriptorRecord> {
  const pieceSize = options.pieceSize ?? DEFAULT_PIECE_SIZE;
  checkPieceSize(pieceSize);
  const mediaType = options.mediaType ?? "application/octet-stream";
  // Before the file is read: a name every receiver refuses is refused here, not after hashing it all.
  checkTextFields({ name: options.name, version: options.version, zone: options.zone, media_type: mediaType });
  const publishedAt = options.publishedAt ?? new Date();
  // An invalid Date (new Date("soon")) made toISOString throw a RangeError after the whole file was read;
  // one past the year 9999 or before 0000 is written "+010000-…", no RFC 3339 time: every receiver's schema check refused it.
  const published = typeof publishedAt?.getTime === "function" && !Number.isNaN(publishedAt.getTime()) ? publishedAt.toISOString() : undefined;
  if (!isRfc3339(published)) throw new OnexError(ErrorCode.DescriptorInvalid, `publishedAt ${String(publishedAt)} is not a time RFC 3339 writes (years 0000 to 9999)`, { instancePath: "/published_at" });
  // Non-blocking, so a FIFO does not hold the open until a writer comes; only a regular file is read.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((cause: unknown) => {
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new OnexError(errno === "ENOENT" || errno === "ENOTDIR" ? ErrorCode.FileNotFound : ErrorCode.FileUnreadable, `cannot read ${path}: ${(cause as Error).message}`, { file: path, ...(errno === undefined ? {} : { errno }) }, { cause });
  });
  const pieces: string[] = [];
  let size = 0;
  try {
    const info = await handle.stat();
    // A folder, a FIFO or a device (one that never ends, like /dev/zero) has no size to describe.
    if (!info.isFile()) throw new OnexError(ErrorCode.FileUnreadable, `cannot read ${path}: ${info.isDirectory() ? "it is a folder" : "it is not a regular file"}`, { file: path });
    const buffer = Buffer.allocUnsafe(pieceSize);
    for (;;) {
      // Fill a whole piece: read() may return less than asked before end of file.
      let filled = 0;
      while (filled < pieceSize) {
        const { bytesRead } = await handle.read(buffer, filled, pieceSize - filled, size + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      pieces.push(pieceDigest(buffer.subarray(0, filled)));
      size += filled;
      if (filled < pieceSize) break;
    }
  } finally {
    await handle.close();
  }
  const unsigned: ArtifactDescriptorRecord = {
    name: options.name,
    version: options.version,
    media_type: mediaType,
    size,
    piece_size: pieceSize,
    pieces,
    root_hash: rootHashOf(pieces),
    publisher: key.keyId,
    zone: options.zone,
    published_at: published,
  };
  checkConsistency(unsigned);
  return signRecord(unsigned, key);
}

/** What a received descriptor is judged against. */
export interface DescriptorContext {
  /** Who may sign descriptors, and for which names. */
  publishers: readonly PublisherGrant[];
  /** The fetching session's zone (`zone_match`). */
  zone?: string;
  /** Where advisory failures are logged (default: console.warn). */
  logger?: { warn(message: string, details: Record<string, unknown>): void };
}

/** The outcome of judging a descriptor. */
export interface DescriptorVerdict {
  accepted: boolean;
  warnings: TrustWarning[];
  rejection?: OnexError;
}

/**
 * Judges a descriptor the way `judge` judges a message: its shape and consistency always
 * (ONEX_E_DESCRIPTOR_INVALID), then the `signature` policy (a publisher granted the
 * descriptor's name, and a valid signature by its key) and the `zone_match` policy, each strict, advisory or off. Never throws
 * for a bad descriptor.
 */
export function judgeDescriptor(descriptor: unknown, context: DescriptorContext, policy: TrustPolicy = DATA_PLANE_TRUST_POLICY): DescriptorVerdict {
  const verdict: DescriptorVerdict = { accepted: true, warnings: [] };
  try {
    assertDescriptorShape(descriptor);
    checkConsistency(descriptor);
  } catch (error) {
    return { accepted: false, warnings: [], rejection: asDescriptorError(error) };
  }
  const record = descriptor as ArtifactDescriptorRecord;
  const fail = (name: "signature" | "zone_match", error: unknown): boolean => {
    const failure = asDescriptorError(error);
    if (policy[name] === PolicyMode.Strict) {
      verdict.accepted = false;
      verdict.rejection = new OnexError(ErrorCode.DescriptorInvalid, `artifact ${record.name}@${record.version} refused by the ${name} policy: ${failure.message}`, { ...failure.details, policy: name, reason: failure.code, root_hash: record.root_hash }, { cause: failure });
      return true;
    }
    const warning: TrustWarning = { policy: name, code: failure.code, message: failure.message };
    verdict.warnings.push(warning);
    (context.logger ?? console).warn(`onex data plane: ${name} (advisory) ${failure.code}: ${failure.message}`, { ...warning, root_hash: record.root_hash });
    return false;
  };
  if (policy.signature !== PolicyMode.Off) {
    try {
      verifyRecordSignature(record, publisherKeyFor(context.publishers, record.publisher, record.name), "artifact descriptor");
    } catch (error) {
      if (fail("signature", error)) return verdict;
    }
  }
  if (policy.zone_match !== PolicyMode.Off && context.zone !== undefined && record.zone !== context.zone) {
    if (fail("zone_match", new OnexError(ErrorCode.ZoneMismatch, `the artifact is vouched for in zone ${record.zone}, not ${context.zone}`, { zone: record.zone, expected: context.zone }))) return verdict;
  }
  return verdict;
}

/** Throws the rejection of `judgeDescriptor` (ONEX_E_DESCRIPTOR_INVALID) unless the descriptor is accepted; returns it typed. */
export function verifyDescriptor(descriptor: unknown, context: DescriptorContext, policy: TrustPolicy = DATA_PLANE_TRUST_POLICY): ArtifactDescriptorRecord {
  const verdict = judgeDescriptor(descriptor, context, policy);
  if (!verdict.accepted) throw verdict.rejection!;
  return descriptor as ArtifactDescriptorRecord;
}

function assertDescriptorShape(value: unknown): asserts value is ArtifactDescriptorRecord {
  assertRecordShape(
    value,
    { name: "string", version: "string", media_type: "string", size: "number", piece_size: "number", pieces: "string[]", root_hash: "string", publisher: "string", zone: "string", published_at: "string", "signature?": "string" },
    "artifact descriptor",
  );
}

/** Throws ONEX_E_DESCRIPTOR_INVALID unless `pieceSize` is a power of two within the bounds. */
export function checkPieceSize(pieceSize: number): void {
  if (!Number.isInteger(pieceSize) || pieceSize < MIN_PIECE_SIZE || pieceSize > MAX_PIECE_SIZE || (pieceSize & (pieceSize - 1)) !== 0) {
    throw new OnexError(ErrorCode.DescriptorInvalid, `piece_size ${pieceSize} is not a power of two from ${MIN_PIECE_SIZE} to ${MAX_PIECE_SIZE}`, { instancePath: "/piece_size" });
  }
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new OnexError(ErrorCode.DescriptorInvalid, `size ${size} is not a byte count`, { instancePath: "/size" });
}

// A descriptor that lies about its own geometry would make a fetcher write outside the file
// or wait for pieces that cannot exist; these checks make every later index safe.
function checkConsistency(d: ArtifactDescriptorRecord): void {
  const expected = pieceCountOf(d.size, d.piece_size);
  if (d.pieces.length !== expected) {
    throw new OnexError(ErrorCode.DescriptorInvalid, `${d.size} bytes in pieces of ${d.piece_size} make ${expected} pieces, but the descriptor lists ${d.pieces.length}`, { instancePath: "/pieces" });
  }
  const bad = d.pieces.findIndex((p) => !HEX_DIGEST.test(p));
  if (bad >= 0) throw new OnexError(ErrorCode.DescriptorInvalid, `piece ${bad} is not a lower-case hex SHA-256`, { instancePath: `/pieces/${bad}` });
  if (!ROOT_HASH.test(d.root_hash) || d.root_hash !== rootHashOf(d.pieces)) {
    throw new OnexError(ErrorCode.DescriptorInvalid, `root_hash ${d.root_hash} is not the hash of the listed pieces`, { instancePath: "/root_hash" });
  }
  checkTextFields(d);
}

// The text fields as schemas/v0.2/records/artifact-descriptor.yaml allows them (pinned to it by
// descriptor-fields.test.ts). A descriptor outside them is refused by every receiver's schema
// check, so describeFile refuses to sign one, and a descriptor handed to a fetch is held to them
// as an announced one is.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const TEXT_FIELDS = [
  { field: "name", pattern: NAME, minLength: 1, maxLength: 200 },
  { field: "version", pattern: VERSION, minLength: 1, maxLength: 64 },
  { field: "zone", pattern: undefined, minLength: 1, maxLength: 253 },
  { field: "media_type", pattern: undefined, minLength: 3, maxLength: 255 },
] as const;

function checkTextFields(d: Pick<ArtifactDescriptorRecord, (typeof TEXT_FIELDS)[number]["field"]>): void {
  for (const { field, pattern, minLength, maxLength } of TEXT_FIELDS) {
    const value: unknown = d[field];
    if (typeof value !== "string") throw new OnexError(ErrorCode.DescriptorInvalid, `the artifact's ${field} must be text, not ${value === null ? "null" : typeof value}`, { instancePath: `/${field}` });
    // Lengths in code points, as the schema counts them.
    const length = [...value].length;
    const problem =
      length < minLength ? `is shorter than ${minLength} characters`
      : length > maxLength ? `is longer than ${maxLength} characters`
      : !(value as WellFormedString).isWellFormed() ? "holds a lone UTF-16 surrogate"
      : pattern !== undefined && !pattern.test(value) ? `does not match ${pattern.source}`
      : undefined;
    if (problem !== undefined) throw new OnexError(ErrorCode.DescriptorInvalid, `the artifact's ${field} ${JSON.stringify(value.slice(0, 80))} ${problem}`, { instancePath: `/${field}` });
  }
}

function asDescriptorError(error: unknown): OnexError {
  if (error instanceof OnexError) {
    return error.code === ErrorCode.ValidationFailed ? new OnexError(ErrorCode.DescriptorInvalid, error.message, error.details, { cause: error }) : error;
  }
  return new OnexError(ErrorCode.Internal, `descriptor check failed unexpectedly: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
}
