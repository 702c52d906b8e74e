/**
 * Fuzzing the descriptor check (data-plane.md): whatever a peer or the stream hands a fetcher as
 * an artifact's descriptor, `judgeDescriptor` returns a verdict (never throws), refuses with
 * ONEX_E_DESCRIPTOR_INVALID anything but exactly what a granted publisher signed, and accepts a
 * descriptor its publisher did sign only when its geometry holds together (a byte count, a
 * piece size in bounds, one SHA-256 per piece, the root hash of those), which every later piece
 * index and write offset of the fetcher relies on.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { judgeDescriptor, MAX_PIECE_SIZE, MIN_PIECE_SIZE, rootHashOf, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { publishersOf } from "../../runtime/dataplane/publishers.js";
import { ErrorCode } from "../../runtime/errors.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { paths, valueAt, withAt } from "../support/json-paths.js";
import { ZONE } from "./fixtures.js";

const RUNS = { numRuns: 500 };
const KB = 1024;
const publisher = generateKeyPair();
const context = { publishers: publishersOf([publisher.publicKey]), zone: ZONE, logger: { warn: () => {} } };
const digest = fc.stringMatching(/^[0-9a-f]{64}$/);

/** A descriptor of `size` bytes in pieces of `pieceSize`, with made-up piece digests, signed by the publisher. */
function signedDescriptor(fields: Partial<ArtifactDescriptorRecord> & { size: number; piece_size: number; pieces: string[] }): ArtifactDescriptorRecord {
  return signRecord<ArtifactDescriptorRecord>(
    { name: "data/set", version: "2", media_type: "application/octet-stream", root_hash: rootHashOf(fields.pieces), publisher: publisher.keyId, zone: ZONE, published_at: "2026-12-03T12:00:00.000Z", ...fields },
    publisher,
  );
}

const signed = signedDescriptor({ size: 3 * 16 * KB + 7, piece_size: 16 * KB, pieces: ["a", "b", "c", "d"].map((c) => c.repeat(64)) });

describe("descriptor fuzz", () => {
  it("the untouched descriptor is accepted (the baseline the properties compare against)", () => {
    expect(judgeDescriptor(signed, context)).toMatchObject({ accepted: true, warnings: [] });
  });

  it("any changed or removed member is refused with ONEX_E_DESCRIPTOR_INVALID", () => {
    fc.assert(
      fc.property(fc.constantFrom(...paths(signed)), fc.option(fc.jsonValue(), { nil: undefined }), (path, replacement) => {
        fc.pre(JSON.stringify(replacement) !== JSON.stringify(valueAt(signed, path)));
        const verdict = judgeDescriptor(withAt(signed, path, replacement), context);
        expect(verdict.accepted).toBe(false);
        expect(verdict.rejection?.code).toBe(ErrorCode.DescriptorInvalid);
      }),
      RUNS,
    );
  });

  it("an added member is refused with ONEX_E_DESCRIPTOR_INVALID", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.jsonValue(), (key, value) => {
        fc.pre(!(key in signed) && key !== "__proto__");
        expect(judgeDescriptor(withAt(signed, [key], value), context).rejection?.code).toBe(ErrorCode.DescriptorInvalid);
      }),
      RUNS,
    );
  });

  it("any JSON at all is a verdict, never an exception: a refusal with ONEX_E_DESCRIPTOR_INVALID", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const verdict = judgeDescriptor(value, context);
        expect(verdict.accepted).toBe(false);
        expect(verdict.rejection?.code).toBe(ErrorCode.DescriptorInvalid);
      }),
      RUNS,
    );
  });

  it("a descriptor its publisher signed is accepted exactly when its geometry holds together", () => {
    const pieceSize = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(MIN_PIECE_SIZE, 64 * KB, MAX_PIECE_SIZE) }, { weight: 1, arbitrary: fc.constantFrom(0, -MIN_PIECE_SIZE, MIN_PIECE_SIZE - 1, 3 * MIN_PIECE_SIZE, 2 * MAX_PIECE_SIZE, 16.5 * KB) });
    const size = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 4 * MIN_PIECE_SIZE }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e300, -0) });
    const geometry = fc.tuple(size, pieceSize).chain(([s, ps]) => {
      const count = Number.isFinite(s / ps) && s / ps >= 0 && s / ps < 8 ? Math.ceil(s / ps) : 2;
      // The right number of pieces most of the time; one too few or too many, or a malformed digest, otherwise.
      const pieces = fc.oneof({ weight: 4, arbitrary: fc.array(digest, { minLength: count, maxLength: count }) }, { weight: 1, arbitrary: fc.array(fc.oneof(digest, fc.string({ maxLength: 70 })), { maxLength: count + 1 }) });
      const rootFor = fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: digest.map((d) => `sha256:${d}`) });
      return fc.record({ size: fc.constant(s), piece_size: fc.constant(ps), pieces, root: rootFor });
    });
    let accepted = 0;
    fc.assert(
      fc.property(geometry, ({ size: s, piece_size: ps, pieces, root }) => {
        const descriptor = signedDescriptor({ size: s, piece_size: ps, pieces, ...(root === undefined ? {} : { root_hash: root }) });
        const holds =
          Number.isSafeInteger(s) &&
          s >= 0 &&
          Number.isInteger(ps) &&
          ps >= MIN_PIECE_SIZE &&
          ps <= MAX_PIECE_SIZE &&
          (ps & (ps - 1)) === 0 &&
          pieces.length === Math.ceil(s / ps) &&
          pieces.every((p) => /^[0-9a-f]{64}$/.test(p)) &&
          descriptor.root_hash === rootHashOf(pieces);
        const verdict = judgeDescriptor(descriptor, context);
        expect(verdict.accepted).toBe(holds);
        if (holds) accepted++;
        else expect(verdict.rejection?.code).toBe(ErrorCode.DescriptorInvalid);
      }),
      RUNS,
    );
    // Both sides of the property were reached.
    expect(accepted).toBeGreaterThan(RUNS.numRuns / 10);
    expect(accepted).toBeLessThan(RUNS.numRuns);
  });

  it("the signature covers the canonical descriptor: a copy with its members in another order is accepted", () => {
    expect(judgeDescriptor(Object.fromEntries(Object.entries(signed).reverse()), context).accepted).toBe(true);
  });
});
