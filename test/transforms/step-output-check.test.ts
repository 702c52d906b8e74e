/**
 * The check a migration step runs on its output: the target's validator without the members
 * both versions give the same schema, when the step passed those on as it read them. It must
 * refuse exactly what the full validator refuses, whatever a transform writes.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { versionGraph } from "../../generated/transforms/index.js";
import { stepOutputChecks } from "../../generated/v0.1/step-output-checks.js";
import { loadVersion } from "../../generator/load-version.js";
import type { NamedSchema, VersionModel } from "../../generator/model.js";
import { sameSchemaMembers } from "../../generator/transforms/same-schema-members.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { parseJson, stringifyJson } from "../../runtime/json-text.js";
import { migrateAlongGraph, runTransformStep, type GraphStep, type JsonObject, type VersionGraph } from "../../runtime/transform.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const schemasDir = join(PROJECT_ROOT, "schemas");
const load = async (version: string) => (await loadVersion(schemasDir, `v${version}`, dirname(schemasDir))).model;

/** A model holding only `schemas` (all that the comparison reads), with a message `M` of `properties` (and `root` keywords). */
function model(properties: Record<string, unknown>, records: Record<string, unknown> = {}, root: Record<string, unknown> = {}): VersionModel {
  const schemas: NamedSchema[] = [
    { name: "M", kind: "message", file: "envelope.yaml", schema: { type: "object", ...root, properties } },
    ...Object.entries(records).map(([name, schema]): NamedSchema => ({ name, kind: "record", file: `${name}.yaml`, schema: schema as Record<string, unknown> })),
  ];
  return { schemas } as VersionModel;
}

describe("members two versions give the same schema", () => {
  it("on the bundled protocol: the envelope's own members, and a payload no transform changes", async () => {
    const [v01, v02] = [await load("0.1"), await load("0.2")];
    expect(sameSchemaMembers(v01, "NodeRegister", v02, "NodeRegister")).toEqual(["type", "id", "time", "source", "trust"]);
    expect(sameSchemaMembers(v01, "AgentStarted", v02, "AgentStarted")).toEqual(["type", "id", "time", "source", "trust", "payload"]);
    // What the step writes itself is always checked.
    expect(sameSchemaMembers(v01, "AgentStarted", v02, "AgentStarted")).not.toContain("_residue");
  });

  it("follows references, ignores annotations only, and compares data as written", () => {
    const address = (pattern: string, description = "") => ({ type: "object", description, properties: { zone: { type: "string", pattern } } });
    const a = model({ source: { $ref: "onex:Address" }, note: { type: "string", description: "a" } }, { Address: address("^[a-z]+$") });
    expect(sameSchemaMembers(a, "M", model({ source: { $ref: "onex:Address" }, note: { type: "string", description: "b" } }, { Address: address("^[a-z]+$", "other words") }), "M")).toEqual(["source", "note"]);
    // The record a member refers to changed: a value valid in one version may not be in the other.
    expect(sameSchemaMembers(a, "M", model({ source: { $ref: "onex:Address" }, note: { type: "string" } }, { Address: address("^[a-z0-9]+$") }), "M")).toEqual(["note"]);
    // A member named like an annotation is a member.
    const withMember = (type: string) => model({ p: { type: "object", properties: { description: { type } } } });
    expect(sameSchemaMembers(withMember("string"), "M", withMember("number"), "M")).toEqual([]);
    // `const` is data: the same reference text in two versions is the same value, whatever it names.
    const constRef = (name: string) => model({ c: { const: { $ref: `onex:${name}` } } }, { A: { type: "string" }, B: { type: "string" } });
    expect(sameSchemaMembers(constRef("A"), "M", constRef("B"), "M")).toEqual([]);
    // Text naming a schema is rewritten into each version's own schema id wherever it is, so
    // outside a `$ref` it never reads the same: in data, in a pattern, as a member's name.
    for (const properties of [
      { e: { enum: ["onex:A", "plain"] } },
      { p: { type: "string", pattern: "onex:A" } },
      { o: { type: "object", properties: { "onex:A": { type: "string" } } } },
      { o: { type: "object", properties: { 'a"onex:A': { type: "string" } } } },
      { "onex:A": { type: "string" } },
    ]) {
      const same = model(properties, { A: { type: "string" } });
      expect(sameSchemaMembers(same, "M", same, "M")).toEqual([]);
    }
    // Every map of names counts each name, those that read like annotations too.
    const depending = (on: string[]) => model({ m: { type: "object", properties: { title: { type: "string" } }, dependencies: { title: on } } });
    expect(sameSchemaMembers(depending([]), "M", depending(["lang"]), "M")).toEqual([]);
    expect(sameSchemaMembers(depending(["lang"]), "M", depending(["lang"]), "M")).toEqual(["m"]);
  });

  it("leaves no member unchecked where a version uses the dynamic scope, which the check schema would become", () => {
    const plain = model({ id: { type: "string" }, replies: { type: "array" } });
    const dynamic = model({ id: { type: "string" }, replies: { type: "array", items: { $dynamicRef: "#msg" } } }, {}, { $dynamicAnchor: "msg" });
    expect(sameSchemaMembers(plain, "M", plain, "M")).toEqual(["id", "replies"]);
    expect(sameSchemaMembers(dynamic, "M", dynamic, "M")).toEqual([]);
    expect(sameSchemaMembers(plain, "M", dynamic, "M")).toEqual([]);
  });

  it("compares a record reached by many paths once", () => {
    // Each level refers to the next twice: 2^40 paths to the last, which a comparison walking every path would never finish.
    const levels = (leaf: string) =>
      Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`L${i}`, i === 40 ? { type: leaf } : { type: "object", properties: { a: { $ref: `onex:L${i + 1}` }, b: { $ref: `onex:L${i + 1}` } } }]));
    const dag = (leaf: string) => model({ d: { $ref: "onex:L0" } }, levels(leaf));
    expect(sameSchemaMembers(dag("string"), "M", dag("string"), "M")).toEqual(["d"]);
    expect(sameSchemaMembers(dag("string"), "M", dag("number"), "M")).toEqual([]);
  });

  it("ends on recursive records, telling a difference deep inside them", () => {
    const tree = (leaf: string) => model({ t: { $ref: "onex:Tree" } }, { Tree: { type: "object", properties: { leaf: { type: leaf }, kids: { type: "array", items: { $ref: "onex:Tree" } } } } });
    expect(sameSchemaMembers(tree("string"), "M", tree("string"), "M")).toEqual(["t"]);
    expect(sameSchemaMembers(tree("string"), "M", tree("integer"), "M")).toEqual([]);
  });
});

describe("the output check of a step", () => {
  const examples = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.2.ndjson"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as JsonObject)
    .filter((message) => versionGraph.steps[1]!.pairs[message.type as string] !== undefined);
  const members = ["type", "id", "time", "protocol", "source", "trust", "payload", "_residue"];

  /** The bundled graph with v0.2 -> v0.1 writing `replace` over the members of its real output. */
  const writing = (replace: (output: JsonObject) => JsonObject): VersionGraph => ({
    ...versionGraph,
    steps: versionGraph.steps.map((s): GraphStep =>
      s.older !== "0.1"
        ? s
        : { ...s, pairs: Object.fromEntries(Object.entries(s.pairs).map(([type, pair]) => [type, { ...pair, down: (fields, restore, dropped) => replace(pair.down(fields, restore, dropped)) }])) },
    ),
  });

  it("is generated for every type of the step, and used", () => {
    for (const message of examples) expect(versionGraph.steps[1]!.pairs[message.type as string]!.older.check).toBe(stepOutputChecks["0.2"]![message.type as string]);
  });

  it("refuses exactly what the full validator refuses, whatever the step writes over any member", () => {
    // A replacement is a copy of the member (valid, but not the value read), a copy with one
    // value changed, any JSON, or the member left out.
    const change = fc.oneof(
      fc.constant({ kind: "copy" as const }),
      fc.record({ kind: fc.constant("tweak" as const), value: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }),
      fc.record({ kind: fc.constant("any" as const), value: fc.jsonValue() }),
      fc.constant({ kind: "drop" as const }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...examples), fc.dictionary(fc.constantFrom(...members), change, { maxKeys: 3 }), (message, changes) => {
        const graph = writing((output) => {
          const copy: JsonObject = { ...output };
          for (const [member, how] of Object.entries(changes)) {
            if (how.kind === "drop") delete copy[member];
            else if (how.kind === "any") copy[member] = how.value;
            else if (Object.hasOwn(output, member)) copy[member] = how.kind === "copy" ? structuredClone(output[member]) : tweak(output[member], how.value);
          }
          return copy;
        });
        // What the step writes, residue included, as the full validator would see it.
        const written = runTransformStep(message, graph.steps[1]!.pairs[message.type as string]!, "down");
        const outcome = (() => {
          try {
            migrateAlongGraph(graph, message, "0.2", "0.1");
            return "written";
          } catch (error) {
            if (!(error instanceof OnexError) || error.code !== ErrorCode.TransformUnsound) throw error;
            return "refused";
          }
        })();
        expect(outcome).toBe(versionGraph.validators["0.1"]![message.type as string]!(written) ? "written" : "refused");
      }),
      { numRuns: 3000, seed: 41 },
    );
  });

  it("counts a free part's nesting from the message's root, as the full validator and parseJson do", () => {
    // A step that writes a task's free `input` (at depth 2) holding `levels` arrays: with 997 the
    // message nests 1000 levels, the most a message may; with 998, 1001. The check called the
    // payload's validator as a root of its own, so it passed the 1001 levels, and migrate wrote a
    // message the target's validator refuses and onex's reader cannot read back.
    const task = examples.find((message) => message.type === "signal.task.dispatch")!;
    const nest = (levels: number): unknown => (levels === 0 ? 1 : [nest(levels - 1)]);
    const outcomes = [997, 998].map((levels) => {
      const graph = writing((output) => ({ ...output, payload: { ...(output.payload as JsonObject), input: { d: nest(levels) } } }));
      try {
        const written = stringifyJson(migrateAlongGraph(graph, task, "0.2", "0.1"));
        parseJson(written);
        return "written and read back";
      } catch (error) {
        if (!(error instanceof OnexError)) throw error;
        return error.code;
      }
    });
    expect(outcomes).toEqual(["written and read back", ErrorCode.TransformUnsound]);
  });

  it("is not used on a path of several steps: what the first step wrote was never checked as read", () => {
    // v0.2 -> v0.1 passes the v0.2 payload on unconverted; v0.1 -> v0.0.9 then passes it on as
    // read, and only the full v0.0.9 validator can see it was never a v0.1 payload.
    const unconverted: VersionGraph = {
      ...versionGraph,
      steps: versionGraph.steps.map((s): GraphStep =>
        s.older !== "0.1" ? s : { ...s, pairs: Object.fromEntries(Object.entries(s.pairs).map(([type, pair]) => [type, { ...pair, down: (fields, restore, dropped) => ({ ...pair.down(fields, restore, dropped), payload: fields.payload }) }])) },
      ),
    };
    const throughBoth = examples.filter((message) => versionGraph.steps[0]!.pairs[message.type as string] !== undefined);
    const outcomes = throughBoth.map((message) => {
      const type = message.type as string;
      const written = runTransformStep(runTransformStep(message, unconverted.steps[1]!.pairs[type]!, "down"), unconverted.steps[0]!.pairs[type]!, "down");
      const expected = versionGraph.validators["0.0.9"]![type]!(written) ? "written" : "refused";
      try {
        migrateAlongGraph(unconverted, message, "0.2", "0.0.9");
        return { type, expected, outcome: "written" };
      } catch (error) {
        if (!(error instanceof OnexError) || error.code !== ErrorCode.TransformUnsound) throw error;
        return { type, expected, outcome: "refused" };
      }
    });
    expect(outcomes.map(({ type, outcome }) => ({ type, outcome }))).toEqual(outcomes.map(({ type, expected }) => ({ type, outcome: expected })));
    // Some message's unconverted payload is one v0.0.9 refuses, or the comparison proves nothing.
    expect(outcomes.some(({ expected }) => expected === "refused")).toBe(true);
  });
});

/** `value` copied with its first string, number or null (depth first) replaced by `by`; `by` itself when there is none. */
function tweak(value: unknown, by: unknown): unknown {
  if (value === null || typeof value !== "object") return by;
  const copy = structuredClone(value) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (;;) {
    const key = Object.keys(node)[0];
    if (key === undefined) return copy;
    const inner = node[key];
    if (inner === null || typeof inner !== "object") {
      node[key] = by;
      return copy;
    }
    node = inner as Record<string, unknown>;
  }
}
