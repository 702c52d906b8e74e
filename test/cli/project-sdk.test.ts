/**
 * The commands that run on a generated SDK use the one generated from the schemas they are
 * asked about (--schemas), as `onex generate` last wrote it, with no build step; an SDK that is
 * not current is ONEX_E_SDK_STALE (run `npm run build` first: the CLI is run as built).
 */
import { execFileSync } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { headerHash, inputHashes } from "../../generator/input-hashes.js";
import { loadVersion } from "../../generator/load-version.js";
import { versionsIn } from "../../generator/protocol-versions.js";
import { ErrorCode } from "../../runtime/errors.js";
import { onex, type Run } from "./cli-harness.js";
import { PROJECT_ROOT, editFile } from "../support/temp-schemas.js";
import { BUNDLED_VERSIONS } from "../support/bundled-versions.js";

let root: string;
let cache: string;

function ok(run: Run): Run {
  if (run.code !== 0) throw new Error(`exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}

/** A `signal.state.update` of v0.2 in state `state`. */
async function stateUpdate(state: string): Promise<string> {
  const example = (await readFile(join(PROJECT_ROOT, "docs", "examples", "v0.2.ndjson"), "utf8")).split("\n").find((line) => line.includes('"signal.state.update"'))!;
  const message = JSON.parse(example) as { payload: { state: string } };
  message.payload.state = state;
  return JSON.stringify(message) + "\n";
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "onex-project-sdk-"));
  cache = await mkdtemp(join(tmpdir(), "onex-project-sdk-cache-"));
  process.env.ONEX_CACHE_DIR = cache;
  await cp(join(PROJECT_ROOT, "schemas"), join(root, "schemas"), { recursive: true });
  ok(onex(root, ["generate"]));
}, 120_000);

afterAll(async () => {
  delete process.env.ONEX_CACHE_DIR;
  await rm(root, { recursive: true, force: true });
  await rm(cache, { recursive: true, force: true });
});

describe("the input hashes of a schemas folder", () => {
  it("are the ones onex generate records: every version's, the version list's and every transform's", async () => {
    const schemas = join(PROJECT_ROOT, "schemas");
    const versions = await versionsIn(schemas);
    const hashes = await inputHashes(schemas, versions);
    for (const v of versions) {
      const { model } = await loadVersion(schemas, `v${v}`, dirname(schemas));
      expect(hashes.versions.get(`v${v}`), `v${v}`).toBe(model.hash);
    }
    const generated = join(root, "generated");
    expect(headerHash(await readFile(join(generated, "versions.ts"), "utf8"))).toBe(hashes.combined);
    expect(hashes.transforms.size).toBe(versions.length - 1);
    for (const [hop, hash] of hashes.transforms) expect(headerHash(await readFile(join(generated, "transforms", `${hop}.ts`), "utf8")), hop).toBe(hash);
  }, 60_000);
});

describe("the input hashes, told what the headers record", () => {
  /** The exact hashes of `schemas` (every manifest and transform file parsed as YAML). */
  async function exact(schemas: string) {
    return inputHashes(schemas, await versionsIn(schemas));
  }

  it("come out the same when the record holds (found from the files the texts mention) and when it does not", async () => {
    const schemas = join(PROJECT_ROOT, "schemas");
    const versions = await versionsIn(schemas);
    const truth = await exact(schemas);
    expect(await inputHashes(schemas, versions, truth)).toEqual(truth);
    // A record that no longer holds (an SDK generated from other schemas) is answered exactly, not echoed.
    const wrong = "0".repeat(64);
    const stale = await inputHashes(schemas, versions, { versions: new Map(versions.map((v) => [`v${v}`, wrong])), transforms: new Map([...truth.transforms.keys()].map((hop) => [hop, wrong])) });
    expect(stale).toEqual(truth);
  }, 60_000);

  it("a manifest that mentions a file it does not declare, and a functions module named in quotes, still hash as onex generate hashes them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "onex-input-hashes-"));
    try {
      const schemas = join(dir, "schemas");
      await cp(join(PROJECT_ROOT, "schemas"), schemas, { recursive: true });
      const versions = await versionsIn(schemas);
      const [older, newer] = versions.slice(-2).map((v) => `v${v}`) as [string, string];
      const before = await exact(schemas);
      // An existing schema file named in a comment only: the mentioned files are not the declared ones.
      const declared = (await readdir(join(schemas, newer, "messages")))[0]!;
      await cp(join(schemas, newer, "messages", declared), join(schemas, newer, "messages", "undeclared.yaml"));
      await editFile(join(schemas, newer, "manifest.yaml"), (t) => `# Not declared: messages/undeclared.yaml\n${t}`);
      const transform = (await readdir(join(schemas, newer))).find((n) => /^from-v.+\.yaml$/.test(n))!;
      await editFile(join(schemas, newer, transform), (t) => t.replace(/^functions: (\S+)/m, 'functions: "$1" # its functions module'));
      const after = await exact(schemas);
      const { model } = await loadVersion(schemas, newer, dir);
      expect(after.versions.get(newer)).toBe(model.hash);
      expect(after.versions.get(newer)).not.toBe(before.versions.get(newer));
      // Told the true hashes, every one is found, whether from the mentions or by parsing.
      expect(await inputHashes(schemas, versions, after)).toEqual(after);
      // Told the hashes from before the edits, the edited version and its transform differ, the others do not.
      const answered = await inputHashes(schemas, versions, before);
      expect(answered).toEqual(after);
      expect(answered.transforms.get(`${older}-${newer}`)).not.toBe(before.transforms.get(`${older}-${newer}`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("commands on the user's schemas", () => {
  // First, on the schemas as they were copied: the tests after it add enum values to the user's
  // v0.2 alone, which a version after it (one the project bundles) would lack, a breaking change.
  it("diff with no versions or --all diffs every adjacent pair; with one version it is a usage error", () => {
    const all = ok(onex(root, ["diff", "--all", "--json"]));
    const reports = JSON.parse(all.stdout) as { from: string; to: string }[];
    expect(reports.map((r) => `${r.from}-${r.to}`)).toEqual(BUNDLED_VERSIONS.slice(1).map((v, i) => `${BUNDLED_VERSIONS[i]}-${v}`));
    expect(reports.length).toBeGreaterThanOrEqual(2);
    const one = onex(root, ["diff", "v0.1"]);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain(`error ${ErrorCode.Usage}:`);
    const both = onex(root, ["diff", "v0.1", "v0.2", "--all"]);
    expect(both.code).toBe(2);
  }, 120_000);

  it("validate accepts a value added to the user's v0.2 right after onex generate, and says ONEX_E_SDK_STALE before", async () => {
    const rejected = onex(root, ["validate", "v0.2", "-"], await stateUpdate("paused"));
    expect(rejected.code).toBe(1);
    expect(rejected.stdout).toContain(`${ErrorCode.ValidationFailed}:`);

    await editFile(join(root, "schemas", "v0.2", "messages", "state-update.yaml"), (t) => t.replace("enum: [idle, running, draining, degraded, offline]", "enum: [idle, running, draining, degraded, offline, paused]"));
    for (const args of [["validate", "v0.2", "-"], ["migrate", "v0.2", "v0.1", "-"], ["versions"], ["check", "--samples", "1"], ["negotiate", "--peer", join(root, "generated", "v0.1", "index.json")]]) {
      const stale = onex(root, args, await stateUpdate("paused"));
      expect(stale.code, args.join(" ")).toBe(3);
      expect(stale.stderr).toContain(`error ${ErrorCode.SdkStale}:`);
      expect(stale.stderr).toContain("v0.2 was generated from other schemas (edited since)");
      expect(stale.stderr).toContain("Run `onex generate`");
    }
    // From another folder with --schemas alone, the advice names the SDK's folder too, and run as
    // printed there it makes that SDK current (without --out it wrote a new one in that folder).
    const elsewhere = await mkdtemp(join(tmpdir(), "onex-project-sdk-advice-"));
    try {
      const stale = onex(elsewhere, ["validate", "v0.2", "-", "--schemas", join(root, "schemas")], await stateUpdate("paused"));
      const advice = /Run `onex ([^`]*)`/.exec(stale.stderr)?.[1];
      expect(advice).toBe(`generate --schemas ${join(root, "schemas")} --out ${join(root, "generated")}`);
      ok(onex(elsewhere, advice!.split(" ")));
      expect(ok(onex(elsewhere, ["validate", "v0.2", "-", "--schemas", join(root, "schemas")], await stateUpdate("paused"))).stderr).toContain("1 valid, 0 invalid");
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }

    ok(onex(root, ["generate"]));
    // The bundled v0.2 still rejects it: what ran is the user's.
    expect(ok(onex(root, ["validate", "v0.2", "-"], await stateUpdate("paused"))).stderr).toContain("1 valid, 0 invalid");
    const empty = await mkdtemp(join(tmpdir(), "onex-project-sdk-empty-"));
    try {
      // A folder without schemas/ uses the schemas onex ships, whose v0.2 has no "paused".
      expect(onex(empty, ["validate", "v0.2", "-"], await stateUpdate("paused")).code).toBe(1);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }, 180_000);

  it("--schemas and --generated name the folders from anywhere; an SDK generated elsewhere is not used silently", async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), "onex-project-sdk-cwd-"));
    try {
      const schemas = join(root, "schemas");
      const versions = JSON.parse(ok(onex(elsewhere, ["versions", "--json", "--schemas", schemas])).stdout) as { versions: { version: string }[] };
      expect(versions.versions.map((v) => v.version)).toEqual(BUNDLED_VERSIONS);
      ok(onex(elsewhere, ["validate", "v0.2", "-", "--schemas", schemas, "--generated", join(root, "generated")], await stateUpdate("paused")));

      // The bundled SDK is not what these schemas generate.
      const bundled = onex(elsewhere, ["validate", "v0.2", "-", "--schemas", schemas, "--generated", join(PROJECT_ROOT, "generated")], await stateUpdate("paused"));
      expect(bundled.code).toBe(3);
      expect(bundled.stderr).toContain(`error ${ErrorCode.SdkStale}:`);
      // Nothing generated at all.
      const none = onex(elsewhere, ["validate", "v0.2", "-", "--schemas", schemas, "--generated", join(elsewhere, "nothing")], "");
      expect(none.code).toBe(3);
      expect(none.stderr).toContain("v0.0.9 is not generated");
      // A version the schemas folder does not hold.
      const unknown = onex(elsewhere, ["validate", "v0.9", "-", "--schemas", schemas], "");
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain(`error ${ErrorCode.UnknownVersion}:`);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  }, 180_000);

  it("an SDK given with --generated alone, where there is no ./schemas, is compared with the schemas onex ships, and the advice says so and names them", async () => {
    const own = await mkdtemp(join(tmpdir(), "onex-project-sdk-own-"));
    const elsewhere = await mkdtemp(join(tmpdir(), "onex-project-sdk-cwd-"));
    try {
      await cp(join(PROJECT_ROOT, "schemas"), join(own, "schemas"), { recursive: true });
      await editFile(join(own, "schemas", "v0.2", "messages", "state-update.yaml"), (t) => t.replace("enum: [idle, running, draining, degraded, offline]", "enum: [idle, running, draining, degraded, offline, paused]"));
      ok(onex(own, ["generate"]));
      const stale = onex(elsewhere, ["validate", "v0.2", "-", "--generated", join(own, "generated")], await stateUpdate("paused"));
      expect(stale.code).toBe(3);
      expect(stale.stderr).toContain(`not current with ${join(PROJECT_ROOT, "schemas")} (no --schemas given and no ./schemas here: the schemas onex ships)`);
      // The command it advises reads the schemas it compared with, not ./schemas, which is not there.
      expect(stale.stderr).toContain(`Run \`onex generate --schemas ${join(PROJECT_ROOT, "schemas")} --out ${join(own, "generated")}\`, or give --schemas the SDK's own schemas`);
    } finally {
      await rm(own, { recursive: true, force: true });
      await rm(elsewhere, { recursive: true, force: true });
    }
  }, 180_000);

  it("a changed transform file is ONEX_E_SDK_STALE for migrate until it is generated", async () => {
    await editFile(join(root, "schemas", "v0.2", "from-v0.1.yaml"), (t) => `${t}\n# reviewed\n`);
    const stale = onex(root, ["migrate", "v0.2", "v0.1", "-"], "");
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain("the transform v0.1-v0.2 is not current");
    ok(onex(root, ["generate"]));
    ok(onex(root, ["migrate", "v0.2", "v0.1", "-"], await stateUpdate("running")));
  }, 120_000);

  it("a removed transform: generate notes the gap, versions shows it, and the transform's build left behind is removed, and not taken for it", async () => {
    const moved = ["from-v0.1.yaml", "from-v0.1.ts"].map((name) => join(root, "schemas", "v0.2", name));
    const kept = await Promise.all(moved.map((file) => readFile(file, "utf8")));
    // What `npm run build` leaves of the transform: its compiled module (which keeps the header) and declarations.
    const built = join(root, "generated", "dist", "transforms", "v0.1-v0.2");
    const transform = await readFile(join(root, "generated", "transforms", "v0.1-v0.2.ts"), "utf8");
    const build = async () => {
      await mkdir(dirname(built), { recursive: true });
      await writeFile(`${built}.js`, transform);
      await writeFile(`${built}.d.ts`, "export {};\n");
    };
    try {
      await build();
      await Promise.all(moved.map((file) => rm(file)));
      const generated = ok(onex(root, ["generate"]));
      expect(generated.stderr).toContain("note: v0.2 has no transform from v0.1 (schemas/v0.2/from-v0.1.yaml)");
      expect(generated.stdout).toContain("removed generated/transforms/v0.1-v0.2.ts");
      expect(await readdir(dirname(built))).toEqual([]);
      expect(ok(onex(root, ["generate", "--check"])).stderr).toContain("note: v0.2 has no transform from v0.1");
      // check checks what the gap leaves (v0.0.9 <-> v0.1), and says what it does not: it stopped with ONEX_E_NO_PATH.
      const checked = ok(onex(root, ["check", "--samples", "2"]));
      expect(checked.stderr).toMatch(/transforms sound: [1-9]\d* type\/direction pairs and 0 type\/composed-path pairs/);
      expect(checked.stderr).toContain("no transform between v0.1 -> v0.2: no message is migrated across, and no path across is checked");

      // A build of another checkout left behind (a branch switched after `npm run build`): the sources decide.
      await build();
      const versions = ok(onex(root, ["versions"]));
      const v0_2 = versions.stdout.slice(versions.stdout.indexOf("v0.2  compatible with"));
      expect(v0_2).toContain("no transform from v0.1: nothing converts between them");
      expect(v0_2).not.toContain("-> v0.1 via");
    } finally {
      await Promise.all(moved.map((file, i) => writeFile(file, kept[i]!)));
      await rm(join(root, "generated", "dist"), { recursive: true, force: true });
    }
    ok(onex(root, ["generate"]));
    expect(ok(onex(root, ["versions"])).stdout).toContain("-> v0.1 via v0.2 -> v0.1");
  }, 180_000);

  it("asyncapi and docs read the schemas folder every other command reads: ./schemas, else the schemas onex ships", async () => {
    await editFile(join(root, "schemas", "v0.2", "messages", "state-update.yaml"), (t) => t.replace("degraded, offline", "degraded, asleep, offline"));
    expect(ok(onex(root, ["asyncapi", "v0.2"])).stdout).toContain("asleep");
    const empty = await mkdtemp(join(tmpdir(), "onex-project-sdk-empty-"));
    try {
      const shipped = ok(onex(empty, ["asyncapi", "v0.2"])).stdout;
      expect(shipped).not.toContain("asleep");
      expect(shipped).toBe(ok(onex(empty, ["asyncapi", "v0.2", "--schemas", join(PROJECT_ROOT, "schemas")])).stdout);
      ok(onex(empty, ["docs", "--out", "site"]));
      expect(await readFile(join(empty, "site", "index.html"), "utf8")).toContain("v0.2");
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
    ok(onex(root, ["generate"])); // the tests after this one run on a current SDK
  }, 120_000);
});

describe("the compiled-SDK cache", () => {
  // Files of another user can only be made by root, which the test command runs as (it installs
  // the servers the tests need): as another user, chown fails and so does the test, loudly.
  it("a ./schemas of another user's folder is not run on unless named: its generated code would run as this user", async () => {
    const theirs = await mkdtemp(join(tmpdir(), "onex-project-sdk-theirs-"));
    const marker = join(theirs, "ran");
    try {
      await cp(join(root, "schemas"), join(theirs, "schemas"), { recursive: true });
      await cp(join(root, "generated"), join(theirs, "generated"), { recursive: true });
      // Their generated v0.2, its header intact (so current), with a line of their own.
      await editFile(join(theirs, "generated", "v0.2", "index.ts"), (t) => `${t}\nimport { writeFileSync as markRun } from "node:fs";\nmarkRun(${JSON.stringify(marker)}, "ran");\n`);
      execFileSync("chown", ["-R", "65534:65534", theirs]);
      for (const args of [["validate", "v0.2", "-"], ["migrate", "v0.2", "v0.1", "-"], ["versions"], ["check", "--samples", "1"]]) {
        const refused = onex(theirs, args, await stateUpdate("running"));
        expect(refused.code, args.join(" ")).toBe(2);
        expect(refused.stderr).toContain(`error ${ErrorCode.Usage}: ${theirs} belongs to another user (uid 65534)`);
        await expect(stat(marker)).rejects.toMatchObject({ code: "ENOENT" });
      }
      // Named, it is the user's choice.
      ok(onex(theirs, ["validate", "v0.2", "-", "--schemas", "schemas"], await stateUpdate("running")));
      expect(await readFile(marker, "utf8")).toBe("ran");
    } finally {
      await rm(theirs, { recursive: true, force: true });
    }
  }, 180_000);

  it("is used only when no other user could swap it: under a folder others can write without the sticky bit, each run compiles into a private folder", async () => {
    const shared = await mkdtemp(join(tmpdir(), "onex-shared-parent-"));
    await chmod(shared, 0o777);
    const unsafe = join(shared, "cache");
    const previous = process.env.ONEX_CACHE_DIR;
    process.env.ONEX_CACHE_DIR = unsafe;
    try {
      ok(onex(root, ["versions"]));
      // The folder may be made, but nothing is cached in it.
      expect((await readdir(unsafe).catch(() => [] as string[])).filter((name) => /^[0-9a-f]{64}/.test(name))).toEqual([]);
      // The same command with the cache under a safe folder fills it.
      process.env.ONEX_CACHE_DIR = cache;
      ok(onex(root, ["versions"]));
      expect((await readdir(cache)).some((name) => /^[0-9a-f]{64}$/.test(name))).toBe(true);
    } finally {
      process.env.ONEX_CACHE_DIR = previous;
      await rm(shared, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the compiled-SDK cache's size and mode", () => {
  it("is made for this user alone (0700) and keeps the eight most recently made SDKs, with only the compiled files they use", async () => {
    const fresh = join(await mkdtemp(join(tmpdir(), "onex-cache-parent-")), "sdk");
    const previous = process.env.ONEX_CACHE_DIR;
    process.env.ONEX_CACHE_DIR = fresh;
    try {
      ok(onex(root, ["versions"]));
      expect((await stat(fresh)).mode & 0o777).toBe(0o700);
      // Nine SDKs made earlier, a day apart, each using a compiled file of its own.
      const name = (i: number) => i.toString(16).padStart(64, "0");
      for (let i = 1; i <= 9; i++) {
        await mkdir(join(fresh, name(i)));
        await writeFile(join(fresh, name(i), ".files"), `old-${i}\n`);
        await writeFile(join(fresh, "files", `old-${i}.js`), "");
        const at = new Date(Date.now() - (10 - i) * 86_400_000);
        await utimes(join(fresh, name(i)), at, at);
      }
      const made = (await readdir(fresh)).filter((entry) => /^[0-9a-f]{64}$/.test(entry) && !entry.startsWith("0".repeat(60)));
      // With its own SDK gone, the next run compiles it again and prunes the cache.
      await rm(join(fresh, made[0]!), { recursive: true });
      ok(onex(root, ["versions"]));
      const sdks = (await readdir(fresh)).filter((entry) => /^[0-9a-f]{64}$/.test(entry)).sort();
      expect(sdks).toEqual([...[3, 4, 5, 6, 7, 8, 9].map(name), made[0]!].sort());
      expect((await readdir(join(fresh, "files"))).filter((file) => file.startsWith("old-")).sort()).toEqual([3, 4, 5, 6, 7, 8, 9].map((i) => `old-${i}.js`));
    } finally {
      process.env.ONEX_CACHE_DIR = previous;
      await rm(dirname(fresh), { recursive: true, force: true });
    }
  }, 120_000);
});

describe("taking @onex/sdk's build as current", () => {
  it("only when every generated file is older than every bundled entry point, since one entry bundles many files", async () => {
    const { buildIsCurrent } = await import("../../cli/sdk.js");
    const { mkdir, utimes, writeFile } = await import("node:fs/promises");
    const dir = await mkdtemp(join(tmpdir(), "onex-build-current-"));
    try {
      const files = ["versions.ts", "v0.1/index.ts", "v0.1/validators.ts", "dist/versions.js", "dist/v0.1/index.js", "dist/v0.1/validators.js"];
      for (const file of files) {
        await mkdir(dirname(join(dir, file)), { recursive: true });
        await writeFile(join(dir, file), "");
      }
      const at = (file: string, seconds: number) => utimes(join(dir, file), seconds, seconds);
      for (const file of files) await at(file, file.startsWith("dist/") ? 2_000 : 1_000);
      expect(await buildIsCurrent(dir)).toBe(true);
      // validators.ts compiled again on its own: its .js is newer, but the bundle holding it is not.
      await at("v0.1/validators.ts", 3_000);
      await at("dist/v0.1/validators.js", 4_000);
      expect(await buildIsCurrent(dir)).toBe(false);
      await at("dist/v0.1/index.js", 5_000);
      await at("dist/versions.js", 5_000);
      expect(await buildIsCurrent(dir)).toBe(true);
      // An entry point that was never built.
      await rm(join(dir, "dist", "versions.js"));
      expect(await buildIsCurrent(dir)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
