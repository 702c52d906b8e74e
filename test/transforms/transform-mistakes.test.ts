/**
 * Transform authoring mistakes that used to pass generate, diff and check (issue 14, item 3):
 * each is refused at generate time, located at the lens in the transform file; and `onex
 * check` proves round trips, not only validity.
 */
import { copyFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { versionGraph } from "../../generated/transforms/index.js";
import { diffVersions } from "../../generator/diff/diff-versions.js";
import { generate } from "../../generator/generate.js";
import { loadVersion } from "../../generator/load-version.js";
import type { VersionModel } from "../../generator/model.js";
import { checkVersionGraph } from "../../generator/transforms/check-transforms.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import type { GraphStep, JsonObject, TransformPair, VersionGraph } from "../../runtime/transform.js";
import { BUNDLED_VERSION_FOLDERS } from "../support/bundled-versions.js";
import { copySchemas, editFile, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

const V02 = "v0.2/from-v0.1.yaml";

/** Applies `edits` (file relative to the schemas copy -> edit) and returns what generate throws. */
async function generateError(edits: Record<string, (text: string) => string>): Promise<OnexError> {
  const { schemas, out } = await copySchemas();
  for (const [file, edit] of Object.entries(edits)) await editFile(join(schemas, file), edit);
  const error = await generate({ schemasDir: schemas, outDir: out, check: true }).then(
    () => new Error("generate accepted the broken transform"),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnexError);
  return error as OnexError;
}

/** The 1-based line of the first occurrence of `needle` in the bundled file. */
async function lineOf(file: string, needle: string): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(join(PROJECT_ROOT, "schemas", file), "utf8");
  const index = text.indexOf(needle);
  if (index < 0) throw new Error(`${needle} not in ${file}`);
  return text.slice(0, index).split("\n").length;
}

interface LensCase {
  what: string;
  file: string;
  edit: (text: string) => string;
  /** Text on the line the error must point at, in the edited file. */
  line: (text: string) => number;
  message: RegExp;
}

const lineIn = (needle: string) => (text: string) => text.slice(0, text.indexOf(needle)).split("\n").length;

const lensCases: LensCase[] = [
  {
    // The example: `reason` still exists when the add runs, so the add would overwrite "drained".
    what: "an add of a field the older version already has",
    file: V02,
    edit: (t) => t.replace("          - rename: { from: reason, to: message }\n", ""),
    line: lineIn("- add: { name: reason, default: {} }"),
    message: /add "reason": v0\.1 event\.node\.failed already has \/payload\/reason; an add would overwrite it/,
  },
  {
    what: "a rename of a field that does not exist (a typo)",
    file: V02,
    edit: (t) => t.replace("rename: { from: action, to: operation }", "rename: { from: actoin, to: operation }"),
    line: lineIn("from: actoin"),
    message: /rename actoin -> operation: v0\.1 signal\.task\.dispatch has no field \/payload\/actoin \(did you mean "action"\?\)/,
  },
  {
    what: "an add of a field the newer version does not declare",
    file: V02,
    edit: (t) => t.replace("add: { name: retry, optional: true }", "add: { name: retri, optional: true }"),
    line: lineIn("name: retri,"),
    message: /add "retri" \(creates a field the newer version must declare\): v0\.2 signal\.task\.dispatch has no field \/payload\/retri \(did you mean "retry"\?\)/,
  },
  {
    what: "a remove of a field the newer version still declares",
    file: V02,
    edit: (t) =>
      t.replace(
        "          - add: { name: retry, optional: true }\n",
        "          - remove: { name: priority, default: 5 }\n            lossy: true\n          - add: { name: retry, optional: true }\n",
      ),
    line: lineIn("remove: { name: priority"),
    message: /remove "priority": v0\.2 signal\.task\.dispatch still declares \/payload\/priority/,
  },
  {
    what: "a plunge into a host that does not exist",
    file: V02,
    edit: (t) => t.replace("plunge: { host: build, name: fingerprint }", "plunge: { host: bulid, name: fingerprint }"),
    line: lineIn("host: bulid"),
    message: /plunge bulid\.fingerprint: v0\.1 event\.node\.register has no field \/payload\/bulid \(did you mean "build"\?\)/,
  },
  {
    what: "an `in` of a field that does not exist",
    file: V02,
    edit: (t) => t.replace("              name: reason\n", "              name: reasons\n"),
    line: lineIn("name: reasons"),
    message: /in "reasons": v0\.1 event\.node\.failed has no field \/payload\/reasons/,
  },
  {
    what: "a wrap of a scalar the older version does not have",
    file: V02,
    edit: (t) => t.replace("wrap: { name: targets }", "wrap: { name: target }"),
    line: lineIn("wrap: { name: target }"),
    message: /wrap "target": v0\.1 signal\.task\.dispatch has no field \/payload\/target/,
  },
  {
    what: "a convert mapping from a value the older version does not have",
    file: V02,
    edit: (t) => t.replace("- { old: busy, new: running }", "- { old: bussy, new: running }"),
    line: lineIn("old: bussy"),
    message: /convert "state": "bussy" is not a value \/payload\/state of v0\.1 signal\.state\.update can hold \("idle", "busy", "draining", "offline"\) \(did you mean "busy"\?\)/,
  },
  {
    what: "a convert mapping to a value the newer version does not have",
    file: V02,
    edit: (t) => t.replace("- { old: busy, new: running }", "- { old: busy, new: runing }"),
    line: lineIn("new: runing"),
    message: /convert "state": "runing" is not a value \/payload\/state of v0\.2 signal\.state\.update can hold/,
  },
  {
    // `offline` would become fallback.up `idle` for every v0.2 reader, and travel in the residue.
    what: "a convert mapping that names no entry for a value both versions have",
    file: V02,
    edit: (t) => t.replace("                - { old: offline, new: offline }\n", ""),
    line: lineIn("- { old: idle, new: idle }"),
    message: /convert "state": "offline" is a value of \/payload\/state in both versions, but no mapping entry names it: it would become fallback\.up "idle" on the way up; map it to itself \(\{ old: "offline", new: "offline" \}\) or to what it means now/,
  },
  {
    what: "a convert fallback the older version cannot hold",
    file: V02,
    edit: (t) => t.replace("fallback: { up: idle, down: busy }", "fallback: { up: idle, down: running }"),
    line: lineIn("fallback: { up: idle, down: running }"),
    message: /convert "state": fallback\.down "running" is not a value \/payload\/state of v0\.1 signal\.state\.update can hold/,
  },
  {
    what: "an add whose default the new field cannot hold",
    file: V02,
    edit: (t) => t.replace("- add: { name: version, default: unknown }", "- add: { name: version, default: 42 }"),
    line: lineIn("default: 42"),
    message: /add "version": the default 42 is not valid \(must be string\) for \/payload\/build\/version of v0\.2 event\.node\.register/,
  },
  {
    what: "a wrap of a field that already is an array",
    file: V02,
    edit: (t) => t.replace("          - rename: { from: action, to: operation }\n", "          - rename: { from: action, to: operation }\n          - wrap: { name: fallback }\n            lossy: true\n"),
    line: lineIn("wrap: { name: fallback }"),
    message: /wrap "fallback": \/payload\/fallback of v0\.1 signal\.task\.dispatch is already an array; wrap makes an array of a single value/,
  },
  {
    what: "a rename onto a name that is already taken",
    file: V02,
    edit: (t) => t.replace("rename: { from: action, to: operation }", "rename: { from: action, to: priority }"),
    line: lineIn("to: priority }"),
    message: /rename action -> priority: v0\.1 signal\.task\.dispatch already has \/payload\/priority; the rename would overwrite it/,
  },
  {
    what: "a hoist onto a name that is already taken",
    file: V02,
    edit: (t) => t.replace("          - plunge: { host: build, name: fingerprint }\n", "          - plunge: { host: build, name: fingerprint }\n          - add: { name: fingerprint, default: none }\n            lossy: true\n          - hoist: { host: build, name: fingerprint }\n"),
    line: lineIn("- hoist: { host: build"),
    message: /hoist build\.fingerprint: .*already has \/payload\/fingerprint; the move would overwrite it/,
  },
  {
    what: "an `in` of a field that is not an object",
    file: V02,
    edit: (t) => t.replace("          - add: { name: retry, optional: true }\n", "          - in: { name: priority, lenses: [] }\n          - add: { name: retry, optional: true }\n"),
    line: lineIn("- in: { name: priority"),
    message: /in "priority": \/payload\/priority of v0\.1 signal\.task\.dispatch is not an object/,
  },
  {
    what: "a `map` of a field that is not an array",
    file: V02,
    edit: (t) => t.replace("          - add: { name: retry, optional: true }\n", "          - map: { name: priority, lenses: [] }\n          - add: { name: retry, optional: true }\n"),
    line: lineIn("- map: { name: priority"),
    message: /map "priority": \/payload\/priority of v0\.1 signal\.task\.dispatch is not an array/,
  },
  ...["rename: { from: action, to: operation }", "plunge: { host: build, name: fingerprint }", "in:\n        name: payload\n        lenses:\n          - rename: { from: reason"].map(
    (lens): LensCase => ({
      what: `\`lossy: true\` on a lens that never drops data (${lens.split(":")[0]})`,
      file: V02,
      edit: (t) => t.replace(`- ${lens}`, lens.startsWith("in:") ? `- lossy: true # never\n      ${lens}` : `- ${lens}\n            lossy: true # never`),
      line: lineIn("lossy: true # never"),
      message: new RegExp(`"${lens.split(":")[0]}" never drops data; remove "lossy: true"`),
    }),
  ),
  {
    what: "an envelope lens naming a field the envelope does not have",
    file: "v0.1/from-v0.0.9.yaml",
    edit: (t) => t.replace("rename: { from: timestamp, to: time }", "rename: { from: timestmp, to: time }"),
    line: lineIn("from: timestmp"),
    message: /rename timestmp -> time: the v0\.0\.9 envelope has no field \/timestmp \(did you mean "timestamp"\?\)/,
  },
];

describe("lenses are checked against the schemas they connect", () => {
  for (const c of lensCases) {
    it(`refuses ${c.what}, located at the lens`, async () => {
      const { readFile } = await import("node:fs/promises");
      const edited = c.edit(await readFile(join(PROJECT_ROOT, "schemas", c.file), "utf8"));
      const error = await generateError({ [c.file]: c.edit });
      expect(error.code).toBe(ErrorCode.TransformInvalid);
      expect(error.message).toMatch(c.message);
      expect(error.details.file).toBe(`schemas/${c.file}`);
      expect(error.details.line).toBe(c.line(edited));
      expect(error.message).toContain(`schemas/${c.file}:${c.line(edited)}:`);
    });
  }

  it("refuses an optional add of a field the newer version requires, located at its `optional`", async () => {
    const error = await generateError({ "v0.2/messages/task-dispatch.yaml": (t) => t.replace("required: [task_id, targets, operation, priority]", "required: [task_id, targets, operation, priority, retry]") });
    expect(error.code).toBe(ErrorCode.TransformInvalid);
    expect(error.message).toMatch(/add "retry": \/payload\/retry is required in v0\.2 signal\.task\.dispatch, and an optional add leaves it out of messages from the other version; give the lens a "default" instead/);
    expect(error.details.file).toBe(`schemas/${V02}`);
    expect(error.details.line).toBe(await lineOf(V02, "add: { name: retry, optional: true }"));
  });

  it("onex diff refuses the overwriting add too, instead of calling the change covered by it", async () => {
    const { schemas } = await copySchemas();
    await editFile(join(schemas, V02), lensCases[0]!.edit);
    await expect(diffVersions(schemas, "v0.1", "v0.2", dirname(schemas))).rejects.toMatchObject({
      code: ErrorCode.TransformInvalid,
      message: expect.stringMatching(/add "reason": v0\.1 event\.node\.failed already has \/payload\/reason/),
    });
  });

  it("reports every lens mistake of a run, not only the first", async () => {
    const error = await generateError({
      [V02]: (t) => t.replace("rename: { from: action, to: operation }", "rename: { from: actoin, to: operation }").replace("plunge: { host: build, name: fingerprint }", "plunge: { host: bulid, name: fingerprint }"),
      "v0.1/from-v0.0.9.yaml": (t) => t.replace("rename: { from: timestamp, to: time }", "rename: { from: timestmp, to: time }"),
    });
    const problems = error.details.problems as { message: string; file: string }[];
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringContaining("rename timestmp -> time"),
      expect.stringContaining("plunge bulid.fingerprint"),
      expect.stringContaining("rename actoin -> operation"),
    ]);
    expect(error.message).toContain("3 problems:");
  });

  it("reports the rule mistakes of a file and its lenses' field names in one run", async () => {
    const error = await generateError({
      [V02]: (t) =>
        t
          // Two missing `lossy` markers, in two types.
          .replace("          - add: { name: retry, optional: true }\n            lossy: true\n", "          - add: { name: retry, optional: true }\n")
          .replace("                - add: { name: version, default: unknown }\n                  lossy: true\n", "                - add: { name: version, default: unknown }\n")
          // A shared type left out of `types`.
          .replace("  event.agent.started: []\n", "")
          // A lens field misspelt in a type whose lenses are otherwise sound.
          .replace("rename: { from: reason, to: message }", "rename: { from: raeson, to: message }"),
    });
    const problems = (error.details.problems as { message: string }[]).map((p) => p.message);
    expect(problems).toEqual([
      expect.stringMatching(/^"add" can drop data in one direction/),
      expect.stringMatching(/^"add" can drop data in one direction/),
      expect.stringMatching(/^message type "event\.agent\.started" is in v0\.1 and v0\.2 but has no entry under types/),
      expect.stringMatching(/^rename raeson -> message: v0\.1 event\.node\.failed has no field \/payload\/raeson \(did you mean "reason"\?\)/),
    ]);
  });

  it("names a type key that is in neither version as such, with the type meant, not as one to list under new_types", async () => {
    const error = await generateError({ [V02]: (t) => t.replace("  signal.state.update:\n", "  signal.state.updte:\n") });
    const problems = (error.details.problems as { message: string }[]).map((p) => p.message);
    expect(problems).toContainEqual('"signal.state.updte" is a message type of neither v0.1 nor v0.2 (did you mean "signal.state.update"?)');
    expect(error.message).not.toContain("new_types");
  });

  it("tells a type of one version alone that is under types and new_types to leave types, and one under types alone to be listed", async () => {
    const listed = await generateError({ [V02]: (t) => t.replace("\ntypes:\n", "\ntypes:\n  event.agent.stopped: []\n") });
    const messages = (listed.details.problems as { message: string }[]).map((p) => p.message);
    expect(messages).toContainEqual('"event.agent.stopped" is not a message type of both v0.1 and v0.2; take it out of types (it is listed under new_types, where it belongs)');
    const unlisted = await generateError({ [V02]: (t) => t.replace("new_types: [event.agent.stopped, ", "new_types: [").replace("\ntypes:\n", "\ntypes:\n  event.agent.stopped: []\n") });
    expect((unlisted.details.problems as { message: string }[]).map((p) => p.message)).toContainEqual('"event.agent.stopped" is not a message type of both v0.1 and v0.2; list it under new_types');
  });

  it("reports every shape mistake of a transform file at once, a misspelt operation at the key with the one meant", async () => {
    const error = await generateError({
      [V02]: (t) => t.replace("- rename: { from: action, to: operation }", "- renmae: { from: action, to: operation }").replace('to: "0.2"', 'to: 0.2').replace("fallback: { up: idle, down: busy }", "fallback: { up: idle, down: [busy] }"),
    });
    const problems = (error.details.problems as { message: string; line: number; column: number }[]).map((p) => `${p.line}:${p.column} ${p.message}`);
    const text = await (await import("node:fs/promises")).readFile(join(PROJECT_ROOT, "schemas", V02), "utf8");
    const at = (needle: string, offset = 0) => {
      const before = text.slice(0, text.indexOf(needle) + offset);
      return `${before.split("\n").length}:${before.length - before.lastIndexOf("\n")}`;
    };
    expect(problems).toEqual([
      `${at('to: "0.2"', 4)} transform /to 0.2 must be string`,
      expect.stringMatching(new RegExp(`^${at("- rename: { from: action", 2)} unknown key "renmae" in /types/signal\\.task\\.dispatch/0/in/lenses/0; did you mean "rename"\\?`)),
      `${at("down: busy", 6)} transform /types/signal.state.update/0/in/lenses/0/convert/fallback/down must match a schema in anyOf`,
    ]);
  });

  it("a type's lens list left empty (YAML's null) says to write [], at the type", async () => {
    const error = await generateError({ [V02]: (t) => t.replace("  event.agent.started: []", "  event.agent.started:") });
    expect(error.code).toBe(ErrorCode.TransformInvalid);
    const line = await lineOf(V02, "  event.agent.started: []");
    expect(error.message).toContain(
      `schemas/${V02}:${line}:23: transform /types/event.agent.started must be array (it is empty: YAML reads a key with nothing after it as null; write [] for an empty list)`,
    );
  });

  it("refuses two transform files for one hop, located at the second one's `from`", async () => {
    const { schemas, out } = await copySchemas();
    await copyFile(join(schemas, V02), join(schemas, "v0.2", "from-v0.1.yml"));
    const error = (await generate({ schemasDir: schemas, outDir: out, check: true }).catch((e: unknown) => e)) as OnexError;
    expect(error).toBeInstanceOf(OnexError);
    expect(error.code).toBe(ErrorCode.TransformInvalid);
    expect(error.details.file).toBe("schemas/v0.2/from-v0.1.yml");
    expect(error.details.line).toBe(await lineOf(V02, 'from: "0.1"'));
    expect(error.message).toMatch(/a second transform from v0\.1 to v0\.2; schemas\/v0\.2\/from-v0\.1\.yaml already is one/);
  });
});

describe("compatible_with names only older versions of the schemas folder", () => {
  // The versions the message lists: the bundled ones, whatever versions the project has added.
  const known = BUNDLED_VERSION_FOLDERS.join(", ").replaceAll(".", "\\.");
  it.each([
    ["an unknown version", '["0.1"]', '["9.9"]', new RegExp(`compatible_with names v9\\.9, which is not a version of this schemas folder \\(${known}\\)$`, "m")],
    ["a version spelt otherwise than its folder", '["0.1"]', '["0.1.0"]', new RegExp(`compatible_with names v0\\.1\\.0, which is not a version of this schemas folder \\(${known}\\); write it "0\\.1", as its folder v0\\.1 spells it`)],
    ["the version itself", '["0.1"]', '["0.2"]', /compatible_with names v0\.2, which is not older than v0\.2/],
    ["a newer version", '["0.0.9"]', '["0.2"]', /compatible_with names v0\.2, which is not older than v0\.1/],
  ])("refuses %s, located at the entry", async (_what, before, after, message) => {
    const file = after === '["0.2"]' && before === '["0.0.9"]' ? "v0.1/manifest.yaml" : "v0.2/manifest.yaml";
    const error = await generateError({ [file]: (t) => t.replace(`compatible_with: ${before}`, `compatible_with: ${after}`) });
    expect(error.code).toBe(ErrorCode.ManifestInvalid);
    expect(error.message).toMatch(message);
    expect(error.details.file).toBe(`schemas/${file}`);
    expect(error.details.line).toBe(await lineOf(file, "compatible_with:"));
    expect(error.details.column).toBe("compatible_with: [".length + 1);
  });
});

describe("onex check proves round trips", () => {
  const schemasDir = join(PROJECT_ROOT, "schemas");
  const models = new Map<string, VersionModel>();
  const load = async () => {
    for (const v of versionGraph.versions) models.set(v, (await loadVersion(schemasDir, `v${v}`, dirname(schemasDir))).model);
  };

  /** The bundled graph with one adapter replaced. */
  const withPair = (older: string, type: string, change: (pair: TransformPair) => TransformPair): VersionGraph => ({
    ...versionGraph,
    steps: versionGraph.steps.map((s): GraphStep => (s.older === older ? { ...s, pairs: { ...s.pairs, [type]: change(s.pairs[type]!) } } : s)),
  });

  it("passes the bundled graph: every adjacent pair and every composed path", async () => {
    await load();
    const result = checkVersionGraph(versionGraph, models, { samples: 20, seed: 3 });
    expect(result.steps).toBe(versionGraph.steps.reduce((n, s) => n + 2 * Object.keys(s.pairs).length, 0));
    // Every two versions a step or more apart, both ways, for each type every version between
    // them has: v0.0.9 <-> v0.2 alone are 12 (the six types all three share).
    const { versions } = versionGraph;
    const typesOf = (v: string) => models.get(v)!.messages.map((m) => m.type);
    let composed = 0;
    for (let a = 0; a < versions.length; a++) {
      for (let b = a + 2; b < versions.length; b++) composed += 2 * typesOf(versions[a]!).filter((type) => versions.slice(a, b + 1).every((v) => typesOf(v).includes(type))).length;
    }
    expect(composed).toBeGreaterThanOrEqual(12);
    expect(result.paths).toBe(composed);
    expect(result.gaps).toEqual([]);
  });

  it("checks the versions on each side of a version with no transform from the one before, and names the gap instead of stopping at it", async () => {
    await load();
    // v0.2 breaking with v0.1 on purpose: no step between them.
    const graph: VersionGraph = { ...versionGraph, steps: versionGraph.steps.filter((s) => s.newer !== "0.2") };
    const result = checkVersionGraph(graph, models, { samples: 5, seed: 3 });
    expect(result.gaps).toEqual(["v0.1 -> v0.2"]);
    expect(result.steps).toBe(graph.steps.reduce((n, s) => n + 2 * Object.keys(s.pairs).length, 0));
    expect(result.steps).toBeGreaterThan(0);
    // The only composed path, v0.0.9 <-> v0.2, crosses the gap.
    expect(result.paths).toBe(0);
  });

  it("fails an adjacent step whose output is valid but whose way back loses data", async () => {
    await load();
    // The downgrade drops `deadline` without keeping it in the residue: v0.1 accepts the result, but nothing brings `deadline` back.
    const graph = withPair("0.1", "signal.task.dispatch", (pair) => ({
      ...pair,
      down: (fields, restore, dropped) => {
        const out = pair.down(fields, restore, dropped);
        const payload = { ...(out.payload as JsonObject) };
        delete payload.deadline;
        return { ...out, payload };
      },
    }));
    let error: unknown;
    try {
      checkVersionGraph(graph, models, { samples: 50, seed: 5 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OnexError);
    const onex = error as OnexError;
    expect(onex.code).toBe(ErrorCode.TransformUnsound);
    expect(onex.message).toMatch(/^signal\.task\.dispatch v0\.1 -> v0\.2: the round trip v0\.1 -> v0\.2 -> v0\.1 does not restore the message \(at \/payload\/deadline\)/);
    expect(onex.details.roundTrip).toBe(true);
    expect(onex.details.lines).toContain("replay: onex check --seed 5");
  });

  it("fails a composed path whose adjacent steps pass on sampled messages", async () => {
    await load();
    // The upgrade to v0.2 misbehaves only on v0.1 messages carrying the exact protocol block
    // that the v0.0.9 -> v0.1 step writes: samples of v0.1 alone never meet it, the path v0.0.9 -> v0.2 always does.
    const graph = withPair("0.1", "signal.task.dispatch", (pair) => ({
      ...pair,
      up: (fields, restore, dropped) => {
        const out = pair.up(fields, restore, dropped);
        const protocol = fields.protocol as JsonObject | undefined;
        if (protocol?.schema_manifest_url !== "https://onex.dev/schemas/v0.1/manifest.yaml") return out;
        const payload = out.payload as JsonObject;
        return { ...out, payload: { ...payload, operation: `${String(payload.operation)}!` } };
      },
    }));
    let error: unknown;
    try {
      checkVersionGraph(graph, models, { samples: 50, seed: 5 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).message).toMatch(/^signal\.task\.dispatch v0\.0\.9 -> v0\.2: the round trip v0\.0\.9 -> v0\.2 -> v0\.0\.9 does not restore the message \(at \/payload\/action\)/);
  });
});
