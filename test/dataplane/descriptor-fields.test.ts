/**
 * `describeFile` signed whatever name, version, zone and media type it was given, where the
 * schema (schemas/v0.2/records/artifact-descriptor.yaml) allows far less: every receiver's
 * schema check then refused the announcement, while `DataPlanePeer.publish` had already
 * started serving the file, and a descriptor handed to a fetch, which is not schema-checked,
 * was accepted with a name no announcement could carry. Both now hold the fields to the schema
 * (`ONEX_E_DESCRIPTOR_INVALID` with `details.instancePath` naming the field), and describeFile
 * refuses before it reads the file.
 */
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v0_2 from "../../generated/v0.2/index.js";
import { describeFile, judgeDescriptor, verifyDescriptor, type ArtifactDescriptorRecord } from "../../runtime/dataplane/descriptor.js";
import { publishersOf } from "../../runtime/dataplane/publishers.js";
import { ErrorCode } from "../../runtime/errors.js";
import { generateKeyPair } from "../../runtime/trust/keys.js";
import { PolicyMode, trustPolicy } from "../../runtime/trust/policy.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { applyBundledStreams } from "../jetstream/fixtures.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { startPeer, tempDir, writeRandomFile, ZONE, type TestPeer } from "./fixtures.js";

const publisher = generateKeyPair();
const publishers = publishersOf([publisher.publicKey]);
let work: { dir: string; remove(): Promise<void> };
let file: string;
let good: ArtifactDescriptorRecord;

beforeAll(async () => {
  work = await tempDir();
  file = join(work.dir, "model.bin");
  await writeRandomFile(file, 40_000);
  good = await describeFile(file, { name: "models/llm", version: "1.0.0", zone: ZONE, pieceSize: 1 << 14 }, publisher);
});
afterAll(() => work?.remove());

/** Names, versions, zones and media types the schema refuses, each with the field it breaks. */
const outside: { field: "name" | "version" | "zone" | "media_type"; value: string }[] = [
  { field: "name", value: "" },
  { field: "name", value: "../../etc/passwd" },
  { field: "name", value: "models/llm\u202egpj.exe" },
  { field: "name", value: "models llm" },
  { field: "name", value: "m".repeat(201) },
  { field: "version", value: "" },
  { field: "version", value: "1.0/../2" },
  { field: "version", value: "v".repeat(65) },
  { field: "zone", value: "" },
  { field: "zone", value: "z".repeat(254) },
  { field: "zone", value: "zone.\ud800" },
  { field: "media_type", value: "x" },
];

/** The describeFile options with `field` set to `value`. */
function optionsWith(field: string, value: string) {
  const options = { name: "models/llm", version: "1.0.0", zone: ZONE, mediaType: "application/octet-stream", pieceSize: 1 << 14 };
  return { ...options, [field === "media_type" ? "mediaType" : field]: value };
}

/** A descriptor of the same file with `field` set to `value`, signed by the publisher as describeFile used to. */
function signedWith(field: string, value: string): ArtifactDescriptorRecord {
  const { signature: _signature, ...unsigned } = good;
  const renamed: ArtifactDescriptorRecord = { ...unsigned, [field]: value };
  return signRecord(renamed, publisher);
}

describe("describeFile holds name, version, zone and media type to the schema", () => {
  it.each(outside)("refuses $field $value before reading the file, naming the field", async ({ field, value }) => {
    // A file that does not exist: refused for the name, the file is never opened.
    const missing = join(work.dir, "never-read.bin");
    await expect(describeFile(missing, optionsWith(field, value), publisher)).rejects.toMatchObject({ code: ErrorCode.DescriptorInvalid, details: { instancePath: `/${field}` } });
    // And every receiver's schema check refuses such a descriptor, which is why it is not signed.
    expect(v0_2.validators.ArtifactDescriptor({ ...good, [field]: value })).toBe(false);
  });

  it("refuses a publishedAt that is no time before reading the file (it was a RangeError after hashing it)", async () => {
    const options = { name: "models/llm", version: "1.0.0", zone: ZONE, publishedAt: new Date("soon") };
    await expect(describeFile(join(work.dir, "never-read.bin"), options, publisher)).rejects.toMatchObject({ code: ErrorCode.DescriptorInvalid, details: { instancePath: "/published_at" } });
  });

  it("refuses a publishedAt past the year 9999 or before 0000, which no receiver's schema check takes", async () => {
    for (const publishedAt of [new Date("+010000-01-01T00:00:00Z"), new Date("-000001-12-31T00:00:00Z")]) {
      expect(v0_2.validators.ArtifactDescriptor({ ...good, published_at: publishedAt.toISOString() })).toBe(false);
      const options = { name: "models/llm", version: "1.0.0", zone: ZONE, publishedAt };
      await expect(describeFile(file, options, publisher)).rejects.toMatchObject({ code: ErrorCode.DescriptorInvalid, details: { instancePath: "/published_at" } });
    }
    // Its last and first times are written as the schema takes them.
    for (const publishedAt of [new Date("9999-12-31T23:59:59.999Z"), new Date("0000-01-01T00:00:00Z")]) {
      const edge = await describeFile(file, { name: "models/llm", version: "1.0.0", zone: ZONE, publishedAt, pieceSize: 1 << 14 }, publisher);
      expect(v0_2.validators.ArtifactDescriptor(edge)).toBe(true);
    }
  });

  it("signs what the schema takes, at its limits", async () => {
    const edge = await describeFile(file, { name: "m" + "/._-".repeat(49) + "abc", version: "1" + "._+-".repeat(15) + "abc", zone: "z".repeat(253), mediaType: "a/b", pieceSize: 1 << 14 }, publisher);
    expect(v0_2.validators.ArtifactDescriptor(edge)).toBe(true);
    expect(verifyDescriptor(edge, { publishers, zone: "z".repeat(253) })).toBe(edge);
  });

  it("agrees with the generated schema check on any text in any of the four fields", () => {
    const noPolicies = trustPolicy({ signature: PolicyMode.Off, zone_match: PolicyMode.Off });
    const alphabet = fc.constantFrom(..."aZ09._/-+ \u202e\u00e9\ud800@:");
    const text = fc.oneof(fc.string({ unit: alphabet, maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 300 }), fc.string({ unit: "binary", maxLength: 10 }));
    fc.assert(
      fc.property(fc.constantFrom("name", "version", "zone", "media_type"), text, (field, value) => {
        const descriptor = { ...good, [field]: value };
        const verdict = judgeDescriptor(descriptor, { publishers }, noPolicies);
        expect(verdict.accepted).toBe(v0_2.validators.ArtifactDescriptor(descriptor));
        if (!verdict.accepted) expect(verdict.rejection).toMatchObject({ code: ErrorCode.DescriptorInvalid, details: { instancePath: `/${field}` } });
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses a descriptor in hand with a name outside the schema, even one its publisher signed", () => {
    expect(() => verifyDescriptor(signedWith("name", "models/llm\u202egpj.exe"), { publishers, zone: ZONE })).toThrow(expect.objectContaining({ code: ErrorCode.DescriptorInvalid, details: expect.objectContaining({ instancePath: "/name" }) }));
  });
});

describe("a peer publishing or fetching a name outside the schema (real nats-server)", () => {
  let nats: NatsServer;
  const peers: TestPeer[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    await applyBundledStreams(nats.url);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await nats?.stop();
  }, 30_000);

  it("publish is refused before anything is served or announced", async () => {
    const seeder = await startPeer(nats.url, "seeder", publisher, [publisher]);
    peers.push(seeder);
    await expect(seeder.peer.publish(file, { name: "models/llm\u202egpj.exe", version: "1.0.0", pieceSize: 1 << 14 })).rejects.toMatchObject({ code: ErrorCode.DescriptorInvalid, details: { instancePath: "/name" } });
    const health = (await (await fetch(`${seeder.peer.url}/v1/health`)).json()) as { artifacts: number };
    expect(health.artifacts).toBe(0);
  }, 30_000);

  it("a fetch of such a descriptor in hand is refused and writes nothing", async () => {
    const fetcher = await startPeer(nats.url, "fetcher", generateKeyPair(), [publisher]);
    peers.push(fetcher);
    const out = join(work.dir, "fetched", "model.bin");
    await expect(fetcher.peer.fetch(signedWith("name", "../../etc/passwd"), out, { stallTimeoutMs: 1_000 })).rejects.toMatchObject({ code: ErrorCode.DescriptorInvalid, details: { instancePath: "/name" } });
    await expect(import("node:fs/promises").then((fs) => fs.readdir(join(work.dir, "fetched")))).rejects.toMatchObject({ code: "ENOENT" });
  }, 30_000);
});
