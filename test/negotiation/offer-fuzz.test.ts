/**
 * Fuzzing what a peer's offer can do to the negotiation (versioning.md): whatever JSON arrives as
 * an offer, reading it (`parseOffer`), checking its signer (`offerSigner`) and agreeing
 * (`agreeOnVersion`) end in an agreement or an OnexError with a negotiation code, never another
 * exception; a signed offer changed anywhere is refused (with its signature or signer taken away,
 * it is an unsigned offer and names no signer); and every agreement is on a version this
 * deployment speaks or converts, whatever the peer claims.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { versionGraph } from "../../generated/transforms/index.js";
import { protocolBlock as protocolV0_1 } from "../../generated/v0.1/manifest.js";
import { protocolBlock as protocolV0_2 } from "../../generated/v0.2/manifest.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { agreeOnVersion, buildOffer, offerSigner, parseOffer, type Agreement, type ProtocolOffer } from "../../runtime/negotiation/agreement.js";
import type { SchemaIndex } from "../../runtime/negotiation/schema-index.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { paths, valueAt, withAt } from "../support/json-paths.js";
import { bundledIndexes } from "./support.js";

const RUNS = { numRuns: 400 };
const NEGOTIATION_CODES: string[] = [ErrorCode.NegotiationInvalid, ErrorCode.IncompatiblePeer, ErrorCode.SchemaHashMismatch];
const peerKey = generateKeyPair();
const keys = keyRing([peerKey.publicKey]);
let local: ProtocolOffer;
let signedPeer: ProtocolOffer;
let unsignedPeer: ProtocolOffer;
let indexes: SchemaIndex[];

beforeAll(async () => {
  indexes = await bundledIndexes();
  local = buildOffer({ deployment: "local", protocol: protocolV0_2(), indexes, graph: versionGraph });
  // The peer runs v0.1 and knows only its own index: the two agree on v0.1 directly.
  const peer = { deployment: "peer", protocol: protocolV0_1(), indexes: indexes.filter((i) => i.version === "0.1") };
  signedPeer = buildOffer({ ...peer, identity: peerKey });
  unsignedPeer = buildOffer(peer);
});

/** The negotiation as a deployment runs it on what a peer sent: the agreement, or the OnexError it ends with (anything else fails the test). */
function negotiateWith(sent: unknown): { agreement: Agreement; signer: string | undefined } | { refused: string } {
  try {
    const offer = parseOffer(sent, "peer");
    const signer = offerSigner(offer, keys);
    return { agreement: agreeOnVersion(local, offer), signer };
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    return { refused: error.code };
  }
}

/** The versions this deployment can use on a link: those it speaks and those its adapters reach. */
const usable = () => new Set([...local.speaks, ...local.converts].map((v) => v.version));

/** An outcome every property allows: an agreement on a usable version, or a refusal with a negotiation code. */
function expectSound(outcome: ReturnType<typeof negotiateWith>): void {
  if ("refused" in outcome) expect(NEGOTIATION_CODES).toContain(outcome.refused);
  else expect(usable()).toContain(outcome.agreement.version);
}

describe("offer fuzz", () => {
  it("the untouched offers agree on v0.1, and the signed one names its signer (the baseline)", () => {
    for (const offer of [signedPeer, unsignedPeer]) {
      const outcome = negotiateWith(structuredClone(offer));
      expect(outcome).toMatchObject({ agreement: { mode: "direct", version: "0.1" }, signer: offer === signedPeer ? peerKey.keyId : undefined });
    }
  });

  it("a signed offer changed, cut or added to anywhere is refused with ONEX_E_NEGOTIATION_INVALID", () => {
    const edits = fc.oneof(
      fc.tuple(fc.constantFrom(...paths(signedPeer)), fc.option(fc.jsonValue(), { nil: undefined })),
      fc.tuple(fc.constantFrom<string[]>(["extra"], ["protocol", "extra"], ["speaks", "1"]), fc.jsonValue().filter((v) => v !== undefined)),
    );
    fc.assert(
      fc.property(edits, ([path, replacement]) => {
        fc.pre(JSON.stringify(replacement) !== JSON.stringify(valueAt(signedPeer, path)));
        const edited = withAt(signedPeer, path, replacement) as Partial<ProtocolOffer>;
        const outcome = negotiateWith(edited);
        // An offer without a signature or a signer is unsigned, as the CLI's are: it may be agreed with, but names no signer.
        if ("agreement" in outcome && (edited.signature === undefined || edited.signer === undefined)) expect(outcome.signer).toBeUndefined();
        else expect(outcome).toEqual({ refused: ErrorCode.NegotiationInvalid });
      }),
      RUNS,
    );
  });

  it("an unsigned offer changed anywhere ends in an agreement on a version this deployment can use, or a negotiation code", () => {
    const version = fc.oneof(fc.constantFrom("0.0.9", "0.1", "0.2", "0.3", "9.9", "", "v0.1", "1e400", "9".repeat(400)), fc.string({ maxLength: 6 }));
    const replacement = fc.oneof(fc.option(fc.jsonValue(), { nil: undefined }), version, fc.array(fc.record({ version, content_hash: fc.oneof(fc.constantFrom(...indexes.map((i) => i.content_hash)), fc.string()) }), { maxLength: 4 }));
    fc.assert(
      fc.property(fc.constantFrom(...paths(unsignedPeer)), replacement, (path, value) => {
        expectSound(negotiateWith(withAt(unsignedPeer, path, value)));
      }),
      RUNS,
    );
  });

  it("an offer of any versions and hashes, well formed, ends in an agreement on a version this deployment can use, or a negotiation code", () => {
    const version = fc.constantFrom("0.0.9", "0.1", "0.2", "0.3", "9.9");
    const hash = fc.oneof(fc.constantFrom(...indexes.map((i) => i.content_hash)), fc.constant(`sha256:${"0".repeat(64)}`));
    const versionHashes = fc.array(fc.record({ version, content_hash: hash }), { maxLength: 4 });
    const offer = fc.record({ version, compatible_with: fc.array(version, { maxLength: 3 }), speaks: versionHashes, converts: versionHashes }).map(({ version: v, compatible_with, speaks, converts }) => ({
      ...unsignedPeer,
      protocol: { ...unsignedPeer.protocol, version: v, compatible_with },
      speaks,
      converts,
    }));
    let agreed = 0;
    fc.assert(
      fc.property(offer, (sent) => {
        const outcome = negotiateWith(sent);
        expectSound(outcome);
        if ("agreement" in outcome) agreed++;
      }),
      { numRuns: 2_000 },
    );
    // Both outcomes were reached.
    expect(agreed).toBeGreaterThan(100);
    expect(agreed).toBeLessThan(2_000);
  });

  it("any JSON at all sent as an offer is refused with a negotiation code or agreed on a usable version, never an exception", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => expectSound(negotiateWith(value))),
      RUNS,
    );
  });
});
