/**
 * A synthetic protocol version with many message types, for timing `onex generate` at a
 * scale beyond the bundled manifests. It reuses the v0.1 envelope and records, so every
 * payload can reference real records, and draws payload shapes from a seeded generator so
 * each run benchmarks the same input.
 */
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse, stringify } from "yaml";

/** The version the synthetic folder declares; its folder is `v${SYNTHETIC_VERSION}`. */
export const SYNTHETIC_VERSION = "9.0";

type Schema = Record<string, unknown>;

/** mulberry32: small, seeded, good enough to vary schema shapes reproducibly. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ["node", "agent", "task", "zone", "lease", "quota", "route", "shard", "batch", "probe", "token", "cache", "queue", "epoch", "trace", "delta"];
const RECORD_REFS = ["../records/trust.yaml", "../records/address.yaml", "../records/execution-attestation.yaml", "../records/session-grant.yaml"];

function payloadSchema(index: number, random: () => number): Schema {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const field = (depth: number): Schema => {
    const kind = Math.floor(random() * (depth === 0 ? 10 : 7));
    switch (kind) {
      case 0:
        return { type: "string", minLength: 1, maxLength: 128 };
      case 1:
        return { type: "string", pattern: "^[a-z][a-z0-9-]{0,62}$" };
      case 2: {
        const start = Math.floor(random() * 8);
        return { type: "string", enum: WORDS.slice(start, start + 3 + Math.floor(random() * 3)) };
      }
      case 3:
        return { type: "integer", minimum: 0, maximum: 1 + Math.floor(random() * 100_000) };
      case 4:
        return { type: "number", exclusiveMinimum: 0 };
      case 5:
        return { type: "string", format: "date-time", description: "When it happened (RFC 3339)." };
      case 6:
        return { type: "array", maxItems: 64, items: { type: "string", minLength: 1 } };
      case 7:
        return { type: "boolean" };
      case 8: {
        const props: Record<string, Schema> = {};
        const count = 2 + Math.floor(random() * 3);
        for (let i = 0; i < count; i++) props[`${pick(WORDS)}_${i}`] = field(depth + 1);
        return { type: "object", additionalProperties: false, required: Object.keys(props).slice(0, 1), properties: props };
      }
      default:
        return { $ref: pick(RECORD_REFS) };
    }
  };
  const properties: Record<string, Schema> = { [`${WORDS[index % WORDS.length]}_id`]: { type: "string", minLength: 1, maxLength: 256 } };
  const count = 6 + Math.floor(random() * 9);
  for (let i = 0; i < count; i++) properties[`${pick(WORDS)}_${pick(WORDS)}_${i}`] = field(0);
  const names = Object.keys(properties);
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    description: `Synthetic payload ${index}: ${count + 1} fields.`,
    type: "object",
    additionalProperties: false,
    required: names.filter((_n, i) => i === 0 || random() < 0.4),
    properties,
  };
}

/**
 * Writes `schemasDir/v9.0/` with `messageCount` message types (envelope and records copied
 * from `bundledSchemasDir/v0.1`) and returns the folder.
 */
export async function writeSyntheticSchemas(bundledSchemasDir: string, schemasDir: string, messageCount: number): Promise<string> {
  const from = join(bundledSchemasDir, "v0.1");
  const dir = join(schemasDir, `v${SYNTHETIC_VERSION}`);
  await mkdir(join(dir, "messages"), { recursive: true });
  await cp(join(from, "records"), join(dir, "records"), { recursive: true });
  await cp(join(from, "envelope.yaml"), join(dir, "envelope.yaml"));
  // The protocol block pins its version; keep it consistent with the synthetic manifest.
  const protocolPath = join(dir, "records", "protocol.yaml");
  await writeFile(protocolPath, (await readFile(protocolPath, "utf8")).replace('const: "0.1"', `const: "${SYNTHETIC_VERSION}"`));

  const manifest = parse(await readFile(join(from, "manifest.yaml"), "utf8")) as Schema;
  const random = seededRandom(20_200);
  const messages = [];
  for (let i = 1; i <= messageCount; i++) {
    const n = String(i).padStart(3, "0");
    const file = `messages/synthetic-${n}.yaml`;
    await writeFile(join(dir, file), stringify(payloadSchema(i, random)));
    messages.push({ type: `${i % 2 ? "event" : "signal"}.synthetic.m${n}`, name: `Synthetic${n}`, payload: file, subject: "event" });
  }
  Object.assign(manifest, {
    version: SYNTHETIC_VERSION,
    compatible_with: [],
    schema_manifest_url: `https://onex.dev/schemas/v${SYNTHETIC_VERSION}/manifest.yaml`,
    changelog: [{ change: `${messageCount} synthetic message types.`, why: "Benchmark input for onex generate at scale." }],
    messages,
  });
  await writeFile(join(dir, "manifest.yaml"), stringify(manifest));
  return dir;
}
