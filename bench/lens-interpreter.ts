/**
 * The peer for bench:migrate: a Cambria-style interpreter that walks the same lens lists at
 * run time for every message (no compilation), with the same residue handling, the same
 * exact JSON reader and writer and the same validators as onex migrate, so the conversion is
 * the only difference. Run as a script it reads NDJSON on stdin and writes the downgraded
 * NDJSON on stdout (usage: lens-interpreter.ts <schemasDir>); imported, `interpretedPairs`
 * gives the interpreted v0.2 -> v0.1 pairs for timing the conversion alone.
 */
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseJson, stringifyJson } from "../runtime/json-text.js";
import { loadVersion } from "../generator/load-version.js";
import { invertLenses } from "../generator/transforms/compile-lenses.js";
import { loadTransforms, lensField, type Lens } from "../generator/transforms/load-transforms.js";
import { jsonEqual, runTransformStep, type Dropped, type JsonObject, type LensContext, type TransformPair } from "../runtime/transform.js";
import { versionGraph } from "../generated/transforms/index.js";
import * as v01 from "../generated/v0.1/index.js";
import * as v02 from "../generated/v0.2/index.js";
import * as lensFunctions from "../generated/transforms/lenses/v0.1-v0.2.js";

const functions = lensFunctions as unknown as Record<string, (s: JsonObject, r: unknown, c: LensContext) => unknown>;
// protocolBlock() is typed as the version's Protocol interface, which has no index signature.
const DOWN: LensContext = { sourceProtocol: v02.protocolBlock as () => object as () => JsonObject, targetProtocol: v01.protocolBlock as () => object as () => JsonObject };

/** The escape-hatch functions of a transform and the context they are called with. */
export interface EscapeHatch {
  functions: Record<string, (s: JsonObject, r: unknown, c: LensContext) => unknown>;
  context: LensContext;
}

const DOWN_ESCAPES: EscapeHatch = { functions, context: DOWN };

/**
 * Applies `lenses` to `scope` by walking them, as a run-time lens library does, moving and
 * removing fields with `delete` (test/transforms/compiled-adapters.property.test.ts holds the
 * compiled adapters to the same output text, key order included).
 */
export function interpret(lenses: readonly Lens[], scope: JsonObject, pointer: string, restore: Dropped, dropped: Dropped, escapes: EscapeHatch = DOWN_ESCAPES): void {
  for (const lens of lenses) {
    const key = `${pointer}/${lensField(lens)}`;
    switch (lens.kind) {
      case "rename":
        if (Object.hasOwn(scope, lens.from)) { scope[lens.to] = scope[lens.from]; delete scope[lens.from]; }
        break;
      case "add":
        if (Object.hasOwn(restore, key)) scope[lens.name] = restore[key];
        else if (!lens.optional) scope[lens.name] = structuredClone(lens.default);
        break;
      case "remove":
        if (Object.hasOwn(scope, lens.name)) {
          const value = scope[lens.name];
          if (lens.optional || !jsonEqual(value, lens.default)) dropped[key] = value;
          delete scope[lens.name];
        }
        break;
      case "plunge":
        if (Object.hasOwn(scope, lens.name)) { scope[lens.host] = { ...(scope[lens.host] as JsonObject), [lens.name]: scope[lens.name] }; delete scope[lens.name]; }
        break;
      case "hoist": {
        const host = scope[lens.host] as JsonObject | undefined;
        if (host && Object.hasOwn(host, lens.name)) { const { [lens.name]: value, ...rest } = host; scope[lens.host] = rest; scope[lens.name] = value; }
        break;
      }
      case "wrap":
        if (Object.hasOwn(scope, lens.name)) scope[lens.name] = Object.hasOwn(restore, key) ? restore[key] : [scope[lens.name]];
        break;
      case "head":
        if (Object.hasOwn(scope, lens.name)) {
          const value = scope[lens.name] as unknown[];
          if (value.length > 0) scope[lens.name] = value[0]; else if (lens.hasFallback) scope[lens.name] = lens.fallback; else delete scope[lens.name];
          if (value.length !== 1) dropped[key] = value;
        }
        break;
      case "convert":
        if (Object.hasOwn(scope, lens.name)) {
          if (Object.hasOwn(restore, key)) { scope[lens.name] = restore[key]; break; }
          const value = scope[lens.name];
          const mapped = lens.mapping.find(([a]) => a === value)?.[1] ?? lens.fallback.up;
          scope[lens.name] = mapped;
          if ((lens.mapping.find(([, b]) => b === mapped)?.[0] ?? lens.fallback.down) !== value) dropped[key] = value;
        }
        break;
      case "in": {
        const inner = scope[lens.name];
        if (inner && typeof inner === "object") { const copy = { ...(inner as JsonObject) }; scope[lens.name] = copy; interpret(lens.lenses, copy, `${pointer}/${lens.name}`, restore, dropped, escapes); }
        break;
      }
      case "map": {
        const items = scope[lens.name];
        if (Array.isArray(items)) scope[lens.name] = items.map((item: JsonObject, i) => { const copy = { ...item }; interpret(lens.lenses, copy, `${pointer}/${lens.name}/${i}`, restore, dropped, escapes); return copy; });
        break;
      }
      case "escape": {
        const kept = escapes.functions[lens.up]!(scope, restore[key], escapes.context);
        if (kept !== undefined) dropped[key] = kept;
        break;
      }
    }
  }
}

/** The v0.1/v0.2 pairs with their down conversion interpreted from the lens lists in `schemasDir`; the residue runtime is the generated adapters'. */
export async function interpretedPairs(schemasDir: string): Promise<Map<string, TransformPair>> {
  const models = await Promise.all(["v0.0.9", "v0.1", "v0.2"].map(async (f) => (await loadVersion(schemasDir, f, dirname(schemasDir))).model));
  const transform = (await loadTransforms(schemasDir, models, dirname(schemasDir))).find((t) => t.from === "0.1" && t.to === "0.2")!;
  const pairs = new Map<string, TransformPair>();
  for (const [type, own] of transform.types) {
    const down = invertLenses([...transform.envelope, ...own]);
    const compiled = versionGraph.steps[1]!.pairs[type]!;
    pairs.set(type, { ...compiled, down: (fields, restore, dropped) => { const s = { ...fields }; interpret(down, s, "", restore, dropped); return s; } });
  }
  return pairs;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const pairs = await interpretedPairs(resolve(process.argv[2] ?? "schemas"));
  let out = "";
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (line === "") continue;
    const message = parseJson(line, { bigIntegers: "bigint" }) as JsonObject;
    const type = message.type as string;
    if (!versionGraph.validators["0.2"]![type]!(message)) throw new Error(`invalid input: ${line}`);
    out += stringifyJson(runTransformStep(message, pairs.get(type)!, "down")) + "\n";
    if (out.length > 1 << 16) { if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once("drain", r)); out = ""; }
  }
  process.stdout.write(out);
}
