/**
 * docs/versioning.md "Adding v0.3", done as a protocol team does it, in a temporary copy of
 * the project and with the built CLI (run `npm run build` first): write the v0.3 schemas and
 * the transform from v0.2 — a rename, a field made required with a default, an enum value
 * removed, a new message type — then `onex generate`, `diff`, `check`, `validate`, `versions`,
 * and migrate v0.3 -> v0.0.9 -> v0.3. Nothing but schemas/v0.3 is written by hand: no runtime,
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
    ["New message type `event.node.drained`.", "A drain that completes is announced, so schedulers stop waiting."],
  ]);

  await editFile(join(v03, "manifest.yaml"), (text) =>
    text
      .replace(
        "messages:\n",
        "messages:\n  - type: event.node.drained\n    name: NodeDrained\n    payload: messages/node-drained.yaml\n    subject: event\n",
      )
      // The class of a type may be renamed (the type, which is the protocol's, stays).
      .replace("    name: AgentStopped\n", "    name: AgentHalted\n"),
  );
  await editFile(join(v03, "records", "protocol.yaml"), (text) => text.replace('const: "0.2"', 'const: "0.3"'));
  await editFile(join(v03, "messages", "result-ready.yaml"), (text) => text.replace("  output:\n", "  result:\n"));
  await editFile(join(v03, "messages", "state-update.yaml"), (text) =>
    text
      .replace("required: [state]", "required: [state, detail]")
      .replace("enum: [idle, running, draining, degraded, offline]", "enum: [idle, running, draining, offline]")
      .replace("  detail:\n    type: string\n", '  detail:\n    type: string\n    default: "none"\n'),
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
      "  tasks_moved:",
      "    type: integer",
      "    minimum: 0",
      "",
    ].join("\n"),
  );

  await writeFile(
    join(v03, "from-v0.2.yaml"),
    `# v0.2 -> v0.3, written in the upgrade direction (docs/transforms.md).
from: "0.2"
to: "0.3"
description: Renamed result output, a required state detail, no more degraded state, drained nodes.
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
            why: "A degraded node still serves, so v0.3 sees it as running; the exact state travels in the residue."
          - escape: { up: detailRequired, down: detailOptional, touches: [detail] }
  event.node.register: []
  event.agent.started: []
  event.agent.stopped: []
  event.node.failed: []
  signal.task.dispatch: []
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

    // What was generated type-checks (tsc, strict), the class renamed between v0.2 and v0.3 included.
    const v03Class = (await readFile(join(root, "generated", "v0.3", "index.ts"), "utf8")).match(/\bAgentHalted\b/);
    expect(v03Class).not.toBeNull();
    const checker = await mkdtemp(join(tmpdir(), "onex-tutorial-tsc-"));
    try {
      await writeFile(
        join(checker, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", skipLibCheck: true,
            types: ["node"], typeRoots: [join(PROJECT_ROOT, "node_modules", "@types")],
            paths: { "@onex/runtime/codegen-v1": [join(PROJECT_ROOT, "runtime", "codegen-v1.ts")] },
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
      summary: { uncovered: number };
    };
    expect(report.summary.uncovered).toBe(0);
    const covers = (type: string, path: string) =>
      report.types.find((t) => t.type === type)!.changes.filter((c) => c.path === path && c.breaking).flatMap((c) => c.coveredBy!.map((x) => x.lens));
    expect(covers("signal.result.ready", "/payload/output")).toContain("rename output -> result");
    expect(covers("signal.state.update", "/payload/state").join()).toMatch(/^convert state/);
    expect(covers("signal.state.update", "/payload/detail").join()).toMatch(/^escape detailRequired\/detailOptional/);

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
    const drained = { ...plain, type: "event.node.drained", payload: { node_id: "node-7", tasks_moved: 3 } };
    expect(ok(onex(root, ["validate", "v0.3", "-"], ndjson([...up, drained]))).stderr).toContain(`${up.length + 1} message(s) checked against v0.3: ${up.length + 1} valid`);
    const degraded = { ...state[0]!, payload: { ...state[0]!.payload, state: "degraded" } };
    const refused = onex(root, ["validate", "v0.3", "-"], ndjson([degraded]));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`${ErrorCode.ValidationFailed}:`);

    // v0.3 -> v0.0.9 -> v0.3 restores every message v0.0.9 can carry, on one thread and on workers.
    const older = new Set(versions.versions.find((v) => v.version === "0.0.9")!.types);
    const carried = [...up.filter((m) => older.has(m.type)), { ...state[0]!, payload: { state: "draining", detail: "none" } }];
    for (const workers of ["0", "2"]) {
      const oldest = ok(onex(root, ["migrate", "v0.3", "v0.0.9", "-", "--workers", workers], ndjson(carried))).stdout;
      expect(lines(oldest).every((m) => m.protocol_version === "0.0.9")).toBe(true);
      const back = lines(ok(onex(root, ["migrate", "v0.0.9", "v0.3", "-", "--workers", workers], oldest)).stdout);
      expect(back).toEqual(carried);
    }

    // Nothing but schemas/v0.3 was written by hand; generate wrote generated/.
    const after = await projectFiles(root);
    const changed = [...after.keys()].filter((path) => after.get(path) !== before.get(path));
    expect(changed.every((path) => path.startsWith(join("schemas", "v0.3")))).toBe(true);
    expect([...before.keys()].every((path) => after.has(path))).toBe(true);
  }, 600_000);
});
