/**
 * `npm run bench:generate`: times `onex generate` against json-schema-to-typescript alone and
 * @asyncapi/modelina alone on the same schemas, and the cold start of the generated SDK
 * against compiling the same schemas with ajv at start-up. Peers are measured in the same
 * run, so the ratios compare like with like on this machine. It prints; it never fails on
 * timing. Cold start needs the built package (`npm run build`).
 *
 * BENCH_RUNS (default 3) sets timed rounds (each tool once per round, in turn);
 * BENCH_MESSAGES (default 200) the size of the synthetic manifest; BENCH_COLD_RUNS (default 15)
 * the cold-start processes per side; BENCH_COLD_ONLY=1 runs the cold start alone.
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { TypeScriptGenerator } from "@asyncapi/modelina";
import { compile } from "json-schema-to-typescript";
import { generate } from "../generator/generate.js";
import { loadVersion } from "../generator/load-version.js";
import { schemaIdOf, type JsonSchema, type VersionModel } from "../generator/model.js";
import { versionsIn } from "../generator/protocol-versions.js";
import { writeSyntheticSchemas } from "./generate-synthetic.js";

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUNDLED_SCHEMAS = join(PROJECT_ROOT, "schemas");
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const COLD_RUNS = Math.max(3, Number(process.env.BENCH_COLD_RUNS ?? 15));
const COLD_ONLY = process.env.BENCH_COLD_ONLY === "1";
const MESSAGES = Math.max(1, Number(process.env.BENCH_MESSAGES ?? 200));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ms = (value: number) => `${value.toFixed(0).padStart(7)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

/**
 * Median wall time of each of `runs`, `rounds` times after one untimed warm-up each (module
 * loading, JIT). Every round times every tool once, in turn, so drift in machine load (other
 * work on a shared machine) hits all of them alike instead of whichever runs at a busy moment.
 */
async function timeInterleaved<K extends string>(runs: Record<K, () => Promise<unknown>>, rounds = RUNS): Promise<Record<K, number>> {
  const tools = Object.keys(runs) as K[];
  for (const tool of tools) await runs[tool]();
  const times = Object.fromEntries(tools.map((tool) => [tool, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < rounds; i++) {
    for (const tool of tools) {
      const start = performance.now();
      await runs[tool]();
      times[tool].push(performance.now() - start);
    }
  }
  return Object.fromEntries(tools.map((tool) => [tool, median(times[tool])])) as Record<K, number>;
}

async function versionModels(schemasDir: string): Promise<VersionModel[]> {
  const versions = await versionsIn(schemasDir);
  return Promise.all(versions.map(async (version) => (await loadVersion(schemasDir, `v${version}`, schemasDir)).model));
}

/**
 * Each named schema as a self-contained document (every other named schema under `$defs`),
 * the form a user hands a single-schema tool. Peers get these in memory, so YAML loading
 * and `$ref` resolution across files — which onex's time includes — are not charged to them.
 */
function standaloneSchemas(model: VersionModel, options: { keepSchemaKeyword: boolean }): { name: string; schema: JsonSchema }[] {
  const local = (schema: JsonSchema): JsonSchema =>
    JSON.parse(
      JSON.stringify(schema).replace(/"onex:([A-Za-z0-9]+)(?:#([^"]*))?"/g, (_m, name: string, pointer: string | undefined) =>
        JSON.stringify(`#/$defs/${name}${pointer ? pointer.replace(/^\//, "/") : ""}`),
      ),
    ) as JsonSchema;
  const strip = (schema: JsonSchema): JsonSchema => {
    if (options.keepSchemaKeyword) return schema;
    const { $schema: _dropped, ...rest } = schema;
    return rest;
  };
  const byName = new Map(model.schemas.map((s) => [s.name, strip(local(s.schema))]));
  // Only the schemas a document reaches go into its `$defs`, as a user bundling it would do;
  // every schema under every document would make the peers' work grow with the square of the count.
  const reachable = (name: string): string[] => {
    const seen = new Set<string>();
    const visit = (n: string) => {
      for (const [, ref] of JSON.stringify(byName.get(n)).matchAll(/"#\/\$defs\/([A-Za-z0-9]+)/g)) {
        if (ref !== name && !seen.has(ref!)) {
          seen.add(ref!);
          visit(ref!);
        }
      }
    };
    visit(name);
    return [...seen].sort();
  };
  return model.schemas.map((s) => {
    const $defs = Object.fromEntries(reachable(s.name).map((n) => [n, byName.get(n)!]));
    return { name: s.name, schema: { ...byName.get(s.name)!, title: s.name, ...(Object.keys($defs).length ? { $defs } : {}) } };
  });
}

interface GenerateFigures {
  label: string;
  schemaCount: number;
  onex: number;
  jstt: number;
  jsttNoFormat: number;
  modelina: number;
}

async function benchGenerate(label: string, schemasDir: string, runs: number): Promise<GenerateFigures> {
  const outDir = await mkdtemp(join(tmpdir(), "onex-bench-out-"));
  const models = await versionModels(schemasDir);
  const forJstt = models.flatMap((m) => standaloneSchemas(m, { keepSchemaKeyword: true }));
  // modelina rejects any `$schema` other than drafts 4, 6 and 7, and reads schemas without one as draft 7.
  const forModelina = models.flatMap((m) => standaloneSchemas(m, { keepSchemaKeyword: false }));
  const modelina = new TypeScriptGenerator({ modelType: "interface" });
  try {
    const figures = await timeInterleaved(
      {
        onex: async () => {
          // A fresh out dir each run, so every run writes every file.
          await rm(outDir, { recursive: true, force: true });
          await generate({ schemasDir, outDir });
        },
        // As users run it: one compile() per schema, with its default Prettier formatting.
        jstt: async () => {
          for (const { name, schema } of forJstt) await compile(schema as never, name);
        },
        // And without it, as onex formats nothing: the conversion alone.
        jsttNoFormat: async () => {
          for (const { name, schema } of forJstt) await compile(schema as never, name, { format: false });
        },
        modelina: async () => {
          for (const { schema } of forModelina) await modelina.generate(schema);
        },
      },
      runs,
    );
    return { label, schemaCount: forJstt.length, ...figures };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

interface ColdFigures {
  sdkWall: number;
  sdkInProcess: number;
  sdkOwn: number;
  ajvWall: number;
  ajvInProcess: number;
  ajvOwn: number;
  schemaCount: number;
}

/**
 * Runs the module file `script` in a fresh Node process; returns wall time, its own
 * `performance.now()` at the end (Node's start-up included), and its own time from its first
 * line (before any import) to the end: the import and first validation alone.
 */
function coldRun(script: string): { wall: number; inProcess: number; own: number } {
  const start = performance.now();
  const result = spawnSync(process.execPath, [script], { cwd: PROJECT_ROOT, encoding: "utf8" });
  const wall = performance.now() - start;
  if (result.status !== 0) throw new Error(`cold-start child failed: ${result.stderr}`);
  const out = JSON.parse(result.stdout) as { valid: boolean; at: number; from: number };
  // A check that both sides did real work, not a timing assertion.
  if (out.valid !== true) throw new Error(`cold-start child did not validate the sample message: ${result.stdout}`);
  return { wall, inProcess: out.at, own: out.at - out.from };
}

async function benchColdStart(): Promise<ColdFigures> {
  const sdkIndex = join(PROJECT_ROOT, "generated", "dist", "v0.1", "index.js");
  if (!existsSync(sdkIndex)) throw new Error("generated/dist/v0.1/index.js is missing: run `npm run build` first");
  const workDir = await mkdtemp(join(tmpdir(), "onex-bench-cold-"));
  try {
    const [model] = await versionModels(join(PROJECT_ROOT, "schemas")).then((ms) => ms.filter((m) => m.id === "v0.1"));
    // The same schemas the SDK's validators were compiled from, with the same ids.
    const schemas = model!.schemas.map((s) => ({
      $id: schemaIdOf(model!, s.name),
      ...(JSON.parse(
        JSON.stringify(s.schema).replace(/"onex:([A-Za-z0-9]+)(?:#([^"]*))?"/g, (_m, name: string, pointer: string | undefined) =>
          JSON.stringify(schemaIdOf(model!, name) + (pointer ? `#${pointer}` : "")),
        ),
      ) as JsonSchema),
    }));
    const schemasFile = join(workDir, "schemas.json");
    await writeFile(schemasFile, JSON.stringify(schemas));
    const sdk = (await import(pathToFileURL(sdkIndex).href)) as {
      NodeFailed: { create(input: unknown): { toJSON(): unknown } };
    };
    const message = sdk.NodeFailed.create({
      source: { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" },
      trust: { signer: "key-1", level: "basic", zone: "zone.trusted.org", expires_at: "2026-12-01T00:00:00Z" },
      payload: { node_id: "n-1", reason: "disk full", severity: "error" },
    }).toJSON();
    const messageJson = JSON.stringify(message);

    // Each side is a module file, as a service's entry point is: Node has set up its module
    // loader before the first line runs (with \`node -e\` it would do so inside the timed window,
    // about 5 ms on each side that no service pays there). Both import dynamically, so the
    // first line runs before anything is imported; the peer's packages by absolute URL, since
    // the files live outside the project.
    const here = createRequire(join(PROJECT_ROOT, "package.json"));
    const url = (specifier: string) => pathToFileURL(here.resolve(specifier)).href;
    const sdkSource = `
      const from = performance.now();
      const { validators } = await import(${JSON.stringify(pathToFileURL(sdkIndex).href)});
      const valid = validators.NodeFailed(${messageJson});
      console.log(JSON.stringify({ valid, at: performance.now(), from }));
    `;
    // The peer: what a service does without generated validators — compile every schema at start-up.
    const ajvSource = `
      const from = performance.now();
      const { readFileSync } = await import("node:fs");
      const { Ajv2020 } = await import(${JSON.stringify(url("ajv/dist/2020.js"))});
      const { default: addFormats } = await import(${JSON.stringify(url("ajv-formats"))});
      const ajv = new Ajv2020({ strict: true });
      addFormats(ajv);
      const schemas = JSON.parse(readFileSync(${JSON.stringify(schemasFile)}, "utf8"));
      for (const schema of schemas) ajv.addSchema(schema);
      for (const schema of schemas) ajv.getSchema(schema.$id);
      const valid = ajv.getSchema(${JSON.stringify(schemaIdOf(model!, "NodeFailed"))})(${messageJson});
      console.log(JSON.stringify({ valid, at: performance.now(), from }));
    `;
    const sdkScript = join(workDir, "cold-sdk.mjs");
    const ajvScript = join(workDir, "cold-ajv.mjs");
    await writeFile(sdkScript, sdkSource);
    await writeFile(ajvScript, ajvSource);
    coldRun(sdkScript);
    coldRun(ajvScript);
    const sdkRuns: { wall: number; inProcess: number; own: number }[] = [];
    const ajvRuns: { wall: number; inProcess: number; own: number }[] = [];
    // Interleaved, so drift in machine load hits both sides alike.
    for (let i = 0; i < COLD_RUNS; i++) {
      sdkRuns.push(coldRun(sdkScript));
      ajvRuns.push(coldRun(ajvScript));
    }
    return {
      sdkWall: median(sdkRuns.map((r) => r.wall)),
      sdkInProcess: median(sdkRuns.map((r) => r.inProcess)),
      sdkOwn: median(sdkRuns.map((r) => r.own)),
      ajvWall: median(ajvRuns.map((r) => r.wall)),
      ajvInProcess: median(ajvRuns.map((r) => r.inProcess)),
      ajvOwn: median(ajvRuns.map((r) => r.own)),
      schemaCount: schemas.length,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function printGenerate(f: GenerateFigures): void {
  console.log(`\n${f.label} (${f.schemaCount} named schemas)`);
  console.log(`  onex generate (load, validate, types, validators, classes, write)  ${ms(f.onex)}`);
  console.log(`  json-schema-to-typescript, compile() per schema with Prettier       ${ms(f.jstt)}   onex/jstt     ${ratio(f.onex, f.jstt)}`);
  console.log(`  json-schema-to-typescript, compile() per schema, format: false      ${ms(f.jsttNoFormat)}   onex/jstt     ${ratio(f.onex, f.jsttNoFormat)}`);
  console.log(`  @asyncapi/modelina TypeScriptGenerator, per schema                  ${ms(f.modelina)}   onex/modelina ${ratio(f.onex, f.modelina)}`);
}

async function main(): Promise<void> {
  console.log(`onex generate benchmark — node ${process.version}, ${availableParallelism()} cores, median of ${RUNS} rounds after a warm-up, the tools taking turns in each round`);
  console.log("peers get each schema in memory, self-contained (no YAML loading or cross-file $ref resolution, which onex's time includes);");
  console.log("json-schema-to-typescript and Modelina emit types only, onex also emits validators, classes, subjects and the manifest");
  if (!COLD_ONLY) {
    printGenerate(await benchGenerate("bundled manifests v0.0.9, v0.1, v0.2", BUNDLED_SCHEMAS, RUNS));
    const syntheticRoot = await mkdtemp(join(tmpdir(), "onex-bench-schemas-"));
    try {
      await writeSyntheticSchemas(BUNDLED_SCHEMAS, syntheticRoot, MESSAGES);
      printGenerate(await benchGenerate(`synthetic manifest, ${MESSAGES} message types`, syntheticRoot, RUNS));
    } finally {
      await rm(syntheticRoot, { recursive: true, force: true });
    }
  }

  const cold = await benchColdStart();
  console.log(`\ncold start, v0.1 (${cold.schemaCount} schemas): fresh node process, import + first validation; median of ${COLD_RUNS}`);
  console.log("  wall: the process from spawn to exit; in-process: its performance.now() at the end (Node's own start-up included);");
  console.log("  import + validation: from the script's first line, before any import, to the first validation's result");
  console.log(`  generated SDK (@onex/sdk/v0.1, built)      wall ${ms(cold.sdkWall)}   in-process ${ms(cold.sdkInProcess)}   import + validation ${ms(cold.sdkOwn)}`);
  console.log(`  new Ajv2020() + compile all at start-up    wall ${ms(cold.ajvWall)}   in-process ${ms(cold.ajvInProcess)}   import + validation ${ms(cold.ajvOwn)}`);
  console.log(
    `  ratio sdk/ajv                              wall ${ratio(cold.sdkWall, cold.ajvWall).padStart(10)}   in-process ${ratio(cold.sdkInProcess, cold.ajvInProcess).padStart(10)}   import + validation ${ratio(cold.sdkOwn, cold.ajvOwn).padStart(10)} (target <= 0.1)`,
  );
}

await main();
