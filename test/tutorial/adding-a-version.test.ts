/**
 * docs/versioning.md "Adding v0.3", done as a protocol team does it, in a temporary copy of
 * the project and with the built CLI (run `npm run build` first): write the v0.3 schemas and
 * the transform from v0.2 — a rename (in list items too), a field made required with a
 * default, an enum value removed and one added, a new optional field, a new message type with
 * a new record, a type moved to a new subject template — then `onex generate`, `diff`,
 * `check`, `validate`, `versions`, `asyncapi`, `docs`, and migrate v0.3 -> v0.0.9 -> v0.3 (a
 * type v0.0.9 lacks dead-lettered). Nothing but schemas/v0.3 is written by hand: no runtime,
 * package.json, CI or test file, and no build step.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { onex, type Run } from "../cli/cli-harness.js";
import { PROJECT_ROOT, editFile } from "../support/temp-schemas.js";
import { copyV02AsV03, PROTOCOL_LENSES, trimToV02 } from "../support/v03-from-v02.js";

let root: string;
let cache: string;
let before: Map<string, string>;

/** Every file of the project but its generated SDK, by path, with its sha256. */
async function projectFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (relative(dir, path) !== "generated") await walk(path);
      } else out.set(relative(dir, path), createHash("sha256").update(await readFile(path)).digest("hex"));
    }
  };
  await walk(dir);
  return out;
}

function ok(run: Run): Run {
  if (run.code !== 0) throw new Error(`exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}

const lines = (text: string) => text.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);
const ndjson = (messages: object[]) => messages.map((m) => JSON.stringify(m)).join("\n") + "\n";

/** Steps 1 and 2 of "Adding v0.3": the schemas and the transform from v0.2, and nothing else. */
async function writeV03(schemas: string): Promise<void> {
  const v03 = await copyV02AsV03(schemas, [
    ["`signal.result.ready` payload `output` renamed to `result`.", "Every other payload names its product `result`."],
    ["`signal.state.update` payload `detail` is required, `none` when there is nothing to say.", "Dashboards show it in a column of its own."],
    ["`signal.state.update` state `degraded` removed; such a node reports `running`.", "Nobody could agree when a node is degraded."],
    ["`signal.state.update` state `paused` added.", "An operator may hold a node without draining it."],
    ["`signal.state.update` moves to a subject template of its own, `state` (`….state`).", "State updates are many; they get a stream of their own."],
    ["`signal.task.dispatch` payload gained optional `labels`; a fallback's `detail` is now `note`, and it may say which `attempt` it was.", "Routers match on labels; `note` says what the text is."],
    ["New message type `event.node.drained`, with a new record `DrainSummary`.", "A drain that completes is announced, so schedulers stop waiting."],
  ]);

  await editFile(join(v03, "manifest.yaml"), (text) =>
    text
      .replace(
        "messages:\n",
        "messages:\n  - type: event.node.drained\n    name: NodeDrained\n    payload: messages/node-drained.yaml\n    subject: event\n",
      )
      .replace("    payload: messages/state-update.yaml\n    subject: event\n", "    payload: messages/state-update.yaml\n    subject: state\n")
      .replace(
        "\nrecords:\n",
        [
          "  state:",
          '    template: "jetstream.onex.zone.{zone_id}.{entity_type}.{entity_id}.state"',
          "    params:",
          "      zone_id: /source/zone",
          "      entity_type: /source/entity_type",
          "      entity_id: /source/entity_id",
          "",
          "records:",
          "  DrainSummary: records/drain-summary.yaml",
          "",
        ].join("\n"),
      )
      // The class of a type may be renamed (the type, which is the protocol's, stays).
      .replace("    name: AgentStopped\n", "    name: AgentHalted\n"),
  );
  await editFile(join(v03, "records", "protocol.yaml"), (text) => text.replace('const: "0.2"', 'const: "0.3"'));
  await editFile(join(v03, "messages", "result-ready.yaml"), (text) => text.replace("  output:\n", "  result:\n"));
  await editFile(join(v03, "messages", "state-update.yaml"), (text) =>
    text
      .replace("required: [state]", "required: [state, detail]")
      .replace("enum: [idle, running, draining, degraded, offline]", "enum: [idle, running, draining, offline, paused]")
      .replace("  detail:\n    type: string\n", '  detail:\n    type: string\n    default: "none"\n'),
  );
  await editFile(join(v03, "messages", "task-dispatch.yaml"), (text) =>
    text
      .replace("  input:\n    type: object\n", "  input:\n    type: object\n  labels:\n    type: array\n    items:\n      type: string\n      minLength: 1\n")
      .replace("        detail:\n          type: string\n", "        note:\n          type: string\n        attempt:\n          type: integer\n          minimum: 1\n"),
  );
  await writeFile(
    join(v03, "records", "drain-summary.yaml"),
    [
      "$schema: https://json-schema.org/draft/2020-12/schema",
      "description: What a drain moved elsewhere.",
      "type: object",
      "additionalProperties: false",
      "required: [tasks_moved]",
      "properties:",
      "  tasks_moved:",
      "    type: integer",
      "    minimum: 0",
      "",
    ].join("\n"),
  );
  await writeFile(
    join(v03, "messages", "node-drained.yaml"),
    [
      "$schema: https://json-schema.org/draft/2020-12/schema",
      "description: A node finished draining; it takes no new tasks.",
      "type: object",
      "additionalProperties: false",
      "required: [node_id]",
      "properties:",
      "  node_id:",
      "    type: string",
      "    minLength: 1",
      "  summary:",
      "    $ref: ../records/drain-summary.yaml",
      "",
    ].join("\n"),
  );

  await writeFile(
    join(v03, "from-v0.2.yaml"),
    `# v0.2 -> v0.3, written in the upgrade direction (docs/transforms.md).
from: "0.2"
to: "0.3"
description: Renamed result output, a required state detail, paused instead of degraded, task labels, drained nodes.
functions: from-v0.2.ts

envelope:
  - escape: { up: protocolUp, down: protocolDown, touches: [protocol] }

types:
  signal.result.ready:
    - in:
        name: payload
        lenses:
          - rename: { from: output, to: result }
  signal.state.update:
    - in:
        name: payload
        lenses:
          - convert:
              name: state
              mapping:
                - { old: idle, new: idle }
                - { old: running, new: running }
                - { old: draining, new: draining }
                - { old: offline, new: offline }
              fallback: { up: running, down: running }
            lossy: true
            why: "A degraded node still serves, so v0.3 sees it as running; a paused node is running to v0.2. The exact state travels in the residue."
          - escape: { up: detailRequired, down: detailOptional, touches: [detail] }
  signal.task.dispatch:
    - in:
        name: payload
        lenses:
          - add: { name: labels, optional: true }
            lossy: true
            why: "v0.2 cannot carry labels."
          # Two maps, as two authors wrote them: one that only renames (it keeps no residue), one
          # that keeps each item's residue under that item's own pointer.
          - map:
              name: fallback
              lenses:
                - rename: { from: detail, to: note }
          - map:
              name: fallback
              lenses:
                - add: { name: attempt, optional: true }
                  lossy: true
                  why: "v0.2 does not count attempts; each item's count travels in the residue."
  event.node.register: []
  event.agent.started: []
  event.agent.stopped: []
  event.node.failed: []
  event.artifact.announced: []
  signal.artifact.have: []
  signal.artifact.request: []

new_types: [event.node.drained]
`,
  );
  await writeFile(
    join(v03, "from-v0.2.ts"),
    `${PROTOCOL_LENSES}
/** \`detail\` became required: a v0.2 update without one says "none", and remembers that it had none. */
export function detailRequired(scope: JsonObject): unknown {
  if (scope.detail !== undefined) return undefined;
  scope.detail = "none";
  return true;
}

/** The way back: an update that had no detail has none again. */
export function detailOptional(scope: JsonObject, restored: unknown): unknown {
  if (restored === true && scope.detail === "none") delete scope.detail;
  return undefined;
}
`,
  );
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "onex-tutorial-"));
  // The compiled SDKs of this run go to a cache of its own, so the first command really compiles.
  cache = await mkdtemp(join(tmpdir(), "onex-tutorial-cache-"));
  process.env.ONEX_CACHE_DIR = cache;
  await cp(join(PROJECT_ROOT, "schemas"), join(root, "schemas"), { recursive: true });
  // The project as it was at v0.2, whatever versions schemas/ has gained since.
  await trimToV02(join(root, "schemas"));
  ok(onex(root, ["generate"]));
  before = await projectFiles(root);
}, 120_000);

afterAll(async () => {
  delete process.env.ONEX_CACHE_DIR;
  await rm(root, { recursive: true, force: true });
  await rm(cache, { recursive: true, force: true });
});

describe("adding v0.3, as docs/versioning.md says", () => {
  it("takes the schemas, one transform file and onex generate; every command then knows v0.3", async () => {
    await writeV03(join(root, "schemas"));

    // Not generated yet: the commands say so instead of running on what they had.
    for (const args of [["validate", "v0.3", "-"], ["versions"], ["check", "--samples", "1"], ["migrate", "v0.3", "v0.2", "-"]]) {
      const stale = onex(root, args, "");
      expect(stale.code, args.join(" ")).toBe(3);
      expect(stale.stderr).toContain(`error ${ErrorCode.SdkStale}:`);
      expect(stale.stderr).toContain("v0.3 is not generated");
    }

    const generated = ok(onex(root, ["generate"]));
    expect(generated.stderr).toMatch(/generated \d+ files for v0\.0\.9, v0\.1, v0\.2, v0\.3/);
    expect(ok(onex(root, ["generate", "--check"])).stderr).toContain("is current");

    // What was generated type-checks with the compiler options the SDK is built with (tsconfig.base.json:
    // strict, noUnusedLocals...) and those a project compiling its generated SDK may add
    // (noUnusedParameters, exactOptionalPropertyTypes): the class renamed between v0.2 and v0.3
    // and the lenses in list items included.
    const v03Class = (await readFile(join(root, "generated", "v0.3", "index.ts"), "utf8")).match(/\bAgentHalted\b/);
    expect(v03Class).not.toBeNull();
    const checker = await mkdtemp(join(tmpdir(), "onex-tutorial-tsc-"));
    try {
      await writeFile(
        join(checker, "tsconfig.json"),
        JSON.stringify({
          extends: join(PROJECT_ROOT, "tsconfig.base.json"),
          compilerOptions: {
            noEmit: true, declaration: false, skipLibCheck: true, noUnusedParameters: true, exactOptionalPropertyTypes: true,
            types: ["node"], typeRoots: [join(PROJECT_ROOT, "node_modules", "@types")],
            // The runtime as a project installs it, its declarations: its own sources are the runtime's to check.
            paths: { "@onex/runtime/codegen-v1": [join(PROJECT_ROOT, "runtime", "dist", "codegen-v1.d.ts")] },
          },
          include: [join(root, "generated", "**", "*.ts")],
        }),
      );
      const tsc = spawnSync(process.execPath, [join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", checker], { encoding: "utf8" });
      expect(tsc.stdout + tsc.stderr).toBe("");
    } finally {
      await rm(checker, { recursive: true, force: true });
    }

    // diff with no versions: every adjacent pair, v0.2 -> v0.3 included; every breaking change covered.
    const all = ok(onex(root, ["diff"]));
    expect(all.stderr).toContain("3 adjacent pair(s) diffed: v0.0.9 -> v0.1, v0.1 -> v0.2, v0.2 -> v0.3");
    const report = JSON.parse(ok(onex(root, ["diff", "v0.2", "v0.3", "--json"])).stdout) as {
      types: { type: string; changes: { path: string; breaking: boolean; coveredBy: { lens: string }[] | null }[] }[];
      records: { added: string[] };
      moved: { type: string; from: string; to: string }[];
      summary: { uncovered: number };
    };
    expect(report.summary.uncovered).toBe(0);
    const covers = (type: string, path: string) =>
      report.types.find((t) => t.type === type)!.changes.filter((c) => c.path === path && c.breaking).flatMap((c) => c.coveredBy!.map((x) => x.lens));
    expect(covers("signal.result.ready", "/payload/output")).toContain("rename output -> result");
    expect(covers("signal.state.update", "/payload/state").join()).toMatch(/^convert state/);
    expect(covers("signal.state.update", "/payload/detail").join()).toMatch(/^escape detailRequired\/detailOptional/);
    expect(covers("signal.task.dispatch", "/payload/labels")).toContain("add labels (optional)");
    expect(covers("signal.task.dispatch", "/payload/fallback/-/detail")).toContain("rename detail -> note");
    expect(covers("signal.task.dispatch", "/payload/fallback/-/attempt")).toContain("add attempt (optional)");
    expect(report.records.added).toEqual(["DrainSummary"]);
    expect(report.moved).toEqual([{ type: "signal.state.update", from: expect.stringMatching(/\.events$/), to: expect.stringMatching(/\.state$/) }]);

    // check: every transform, v0.2 <-> v0.3 and the composed paths to v0.0.9, validated and round-tripped.
    expect(ok(onex(root, ["check", "--samples", "40", "--seed", "3"])).stderr).toMatch(/transforms sound: .*v0\.0\.9, v0\.1, v0\.2, v0\.3 of schemas/);

    const versions = JSON.parse(ok(onex(root, ["versions", "--json"])).stdout) as { versions: { version: string; types: string[]; transforms: { to: string; path: string[]; no_counterpart: string[] }[] }[] };
    const v03 = versions.versions.find((v) => v.version === "0.3")!;
    expect(v03.types).toContain("event.node.drained");
    const down = v03.transforms.find((t) => t.to === "0.0.9")!;
    expect(down.path).toEqual(["0.3", "0.2", "0.1", "0.0.9"]);
    expect(down.no_counterpart).toContain("event.node.drained");

    // The example log, brought up to v0.3 with the generated adapters.
    const v02Log = await readFile(join(PROJECT_ROOT, "docs", "examples", "v0.2.ndjson"), "utf8");
    const up = lines(ok(onex(root, ["migrate", "v0.2", "v0.3", "-"], v02Log)).stdout);
    const state = up.filter((m) => m.type === "signal.state.update");
    expect(state.length).toBeGreaterThan(0);
    for (const m of state) expect(m.payload.detail).toBeTypeOf("string");
    const result = up.find((m) => m.type === "signal.result.ready");
    if (result?.payload.result !== undefined) expect(result.payload).not.toHaveProperty("output");

    // validate runs v0.3's own validators: a drained node is a message, a degraded state no longer is.
    const { _residue: _, ...plain } = up[0]!;
    const drained = { ...plain, type: "event.node.drained", payload: { node_id: "node-7", summary: { tasks_moved: 3 } } };
    expect(ok(onex(root, ["validate", "v0.3", "-"], ndjson([...up, drained]))).stderr).toContain(`${up.length + 1} message(s) checked against v0.3: ${up.length + 1} valid`);
    const degraded = { ...state[0]!, payload: { ...state[0]!.payload, state: "degraded" } };
    const refused = onex(root, ["validate", "v0.3", "-"], ndjson([degraded]));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`${ErrorCode.ValidationFailed}:`);

    // v0.3 -> v0.0.9 -> v0.3 restores every message v0.0.9 can carry, on one thread and on workers.
    const older = new Set(versions.versions.find((v) => v.version === "0.0.9")!.types);
    const dispatch = up.find((m) => m.type === "signal.task.dispatch")!;
    const fellBack = { node_id: "node-3", reason: "timeout", note: "no answer in 30 s", attempt: 2, at: "2025-06-01T12:00:01Z" };
    const carried = [
      ...up.filter((m) => older.has(m.type)),
      { ...state[0]!, payload: { state: "draining", detail: "none" } },
      { ...state[0]!, payload: { state: "paused", detail: "held for maintenance" } },
      { ...dispatch, payload: { ...dispatch.payload, labels: ["gpu", "eu"], fallback: [{ ...fellBack, attempt: 1 }, fellBack] } },
    ];
    for (const workers of ["0", "2"]) {
      const oldest = ok(onex(root, ["migrate", "v0.3", "v0.0.9", "-", "--workers", workers], ndjson(carried))).stdout;
      expect(lines(oldest).every((m) => m.protocol_version === "0.0.9")).toBe(true);
      const back = lines(ok(onex(root, ["migrate", "v0.0.9", "v0.3", "-", "--workers", workers], oldest)).stdout);
      expect(back).toEqual(carried);
    }

    // Every example log of the older versions comes up to v0.3 and goes back unchanged.
    for (const version of ["v0.0.9", "v0.1", "v0.2"]) {
      const log = await readFile(join(PROJECT_ROOT, "docs", "examples", `${version}.ndjson`), "utf8");
      const there = ok(onex(root, ["migrate", version, "v0.3", "-"], log)).stdout;
      expect(lines(ok(onex(root, ["migrate", "v0.3", version, "-"], there)).stdout), version).toEqual(lines(log));
    }

    // What v0.0.9 cannot carry at all goes to the dead letters, with the rest migrated around it.
    const letters = join(root, "dead.ndjson");
    const drainedRun = ok(onex(root, ["migrate", "v0.3", "v0.0.9", "-", "--dead-letter", letters], ndjson([carried[0]!, drained, carried[1]!])));
    expect(lines(drainedRun.stdout).map((m) => m.id)).toEqual([carried[0]!.id, carried[1]!.id]);
    expect(lines(await readFile(letters, "utf8"))).toEqual([{ line: 2, code: ErrorCode.NoCounterpart, message: expect.stringContaining("event.node.drained"), input: drained }]);
    await rm(letters);

    // The AsyncAPI document and the reference site know v0.3: its new template, message and record.
    const asyncapi = ok(onex(root, ["asyncapi", "v0.3", "--format", "json"])).stdout;
    const document = JSON.parse(asyncapi) as { channels: Record<string, { address: string; messages: Record<string, unknown> }>; components: { schemas: Record<string, unknown> } };
    expect(document.channels.state!.address).toBe("jetstream.onex.zone.{zone_id}.{entity_type}.{entity_id}.state");
    expect(Object.keys(document.channels.state!.messages)).toEqual(["StateUpdate"]);
    expect(Object.keys(document.channels.event!.messages)).toContain("NodeDrained");
    expect(document.components.schemas).toHaveProperty("DrainSummary");
    const site = join(root, "site");
    ok(onex(root, ["docs", "--out", site]));
    expect(await readFile(join(site, "v0.3", "event.node.drained.html"), "utf8")).toContain("DrainSummary");
    await rm(site, { recursive: true });

    // Nothing but schemas/v0.3 was written by hand; generate wrote generated/.
    const after = await projectFiles(root);
    const changed = [...after.keys()].filter((path) => after.get(path) !== before.get(path));
    expect(changed.every((path) => path.startsWith(join("schemas", "v0.3")))).toBe(true);
    expect([...before.keys()].every((path) => after.has(path))).toBe(true);
  }, 600_000);
});
