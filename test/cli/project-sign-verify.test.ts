/**
 * `onex sign` and `onex verify` run on the project's own generated SDK, as validate and migrate
 * do: a project's v0.3 whose envelope renames `time` to `created_at` is signed with
 * `--version v0.3` and verified, each message read through its own version's envelope layout.
 * They used onex's bundled versions only: sign said ONEX_E_UNKNOWN_VERSION, and verify read the
 * creation time at `/time` (ONEX_E_REPLAY: no readable creation time). Run `npm run build` first:
 * the CLI is run as built.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { copySchemas, editFile, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";
import { copyV02AsV03, PROTOCOL_LENSES } from "../support/v03-from-v02.js";
import { onex, scratch, type Run } from "./cli-harness.js";

let root: string;
let schemas: string;
let cache: string;
const elsewhere = scratch("project-sign-verify");

function ok(run: Run): Run {
  if (run.code !== 0) throw new Error(`exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}

/** v0.2's types, each carried over unchanged by the v0.3 below. */
async function v02Types(): Promise<string[]> {
  const manifest = await readFile(join(schemas, "v0.2", "manifest.yaml"), "utf8");
  return [...manifest.matchAll(/^ {2}- type: (\S+)$/gm)].map((m) => m[1]!);
}

/** Writes a v0.3 that is v0.2 with the envelope's `time` renamed to `created_at`, and its transform. */
async function writeV03RenamingTime(): Promise<void> {
  const v03 = await copyV02AsV03(schemas, [["Envelope field `time` renamed to `created_at`.", "It says what the time is of."]]);
  await editFile(join(v03, "manifest.yaml"), (t) => t.replace("  time: now\n", "  created_at: now\n"));
  await editFile(join(v03, "envelope.yaml"), (t) => t.replace("required: [type, id, time,", "required: [type, id, created_at,").replace("\n  time:\n", "\n  created_at:\n"));
  await editFile(join(v03, "records", "protocol.yaml"), (t) => t.replace('const: "0.2"', 'const: "0.3"'));
  const types = await v02Types();
  await writeFile(
    join(v03, "from-v0.2.yaml"),
    [
      'from: "0.2"',
      'to: "0.3"',
      "description: The envelope's creation time is named created_at.",
      "functions: from-v0.2.ts",
      "",
      "envelope:",
      "  - escape: { up: protocolUp, down: protocolDown, touches: [protocol] }",
      "  - rename: { from: time, to: created_at }",
      "",
      "types:",
      ...types.map((type) => `  ${type}: []`),
      "",
    ].join("\n"),
  );
  await writeFile(join(v03, "from-v0.2.ts"), PROTOCOL_LENSES);
}

/** A v0.3 `signal.task.dispatch` created a second ago, from the v0.2 example. */
async function v03Dispatch(): Promise<Record<string, unknown>> {
  const example = (await readFile(join(PROJECT_ROOT, "docs", "examples", "v0.2.ndjson"), "utf8")).split("\n").find((line) => line.includes('"signal.task.dispatch"'))!;
  const { time: _time, ...message } = JSON.parse(example) as Record<string, unknown> & { protocol: object; trust: object };
  const now = Date.now();
  return {
    ...message,
    created_at: new Date(now - 1000).toISOString(),
    protocol: { ...message.protocol, version: "0.3", compatible_with: ["0.2"], schema_manifest_url: "https://onex.dev/schemas/v0.3/manifest.yaml" },
    trust: { ...message.trust, expires_at: new Date(now + 3_600_000).toISOString() },
  };
}

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), "onex-project-sign-verify-cache-"));
  process.env.ONEX_CACHE_DIR = cache;
  const project = await copySchemas();
  root = project.root;
  schemas = project.schemas;
  await writeV03RenamingTime();
  ok(onex(root, ["generate"]));
  ok(onex(root, ["keygen", "--out", "k"]));
  await writeFile(join(root, "m.json"), JSON.stringify(await v03Dispatch()));
}, 180_000);

afterAll(async () => {
  delete process.env.ONEX_CACHE_DIR;
  elsewhere.remove();
  await rm(cache, { recursive: true, force: true });
  await removeTempDirs();
});

describe("onex sign and verify on a project's own v0.3 (envelope `time` renamed to `created_at`)", () => {
  it("sign --version v0.3 validates and signs it, and verify accepts it, reading its creation time at /created_at", async () => {
    ok(onex(root, ["validate", "v0.3", "m.json"]));
    const signed = ok(onex(root, ["sign", "m.json", "--key", "k.key", "--version", "v0.3"])).stdout;
    expect(JSON.parse(signed)).toMatchObject({ created_at: expect.any(String), protocol: { version: "0.3" }, trust: { signature: expect.any(String) } });
    await writeFile(join(root, "signed.json"), signed);
    const verified = ok(onex(root, ["verify", "signed.json", "--key", "k.pub", "--zone", "zone.trusted.org", "--json"]));
    expect(JSON.parse(verified.stdout.split("\n")[0]!)).toMatchObject({ type: "signal.task.dispatch", accepted: true, code: null });
    // Judged as of ten minutes on, the time read is the message's: it is stale, not unreadable.
    const later = onex(root, ["verify", "signed.json", "--key", "k.pub", "--json", "--at", new Date(Date.now() + 10 * 60_000).toISOString()]);
    expect(JSON.parse(later.stdout.split("\n")[0]!)).toMatchObject({ accepted: false, code: ErrorCode.Replay, reason: "stale" });
  });

  it("take the project's schemas by --schemas from another folder", async () => {
    const signed = ok(onex(elsewhere.dir, ["sign", join(root, "m.json"), "--key", join(root, "k.key"), "--version", "0.3", "--schemas", schemas])).stdout;
    ok(onex(elsewhere.dir, ["verify", "-", "--key", join(root, "k.pub"), "--schemas", schemas], signed));
    // Without it, the folder has no schemas: onex's own versions, which know no v0.3.
    const bundled = onex(elsewhere.dir, ["sign", join(root, "m.json"), "--key", join(root, "k.key"), "--version", "v0.3"]);
    expect(bundled.code).toBe(2);
    expect(bundled.stderr).toContain(ErrorCode.UnknownVersion);
  });

  it("in a folder whose ./schemas is another tool's (no version in it), work on onex's own versions", async () => {
    const foreign = join(elsewhere.dir, "foreign");
    await mkdir(join(foreign, "schemas"), { recursive: true });
    await writeFile(join(foreign, "schemas", "user.json"), '{"type": "object"}\n');
    const v01 = (await readFile(join(PROJECT_ROOT, "docs", "examples", "v0.1.ndjson"), "utf8")).split("\n")[2]!;
    // It was ONEX_E_FILE_NOT_FOUND: "no version folders (v<version>/manifest.yaml)" in that folder.
    const signed = ok(onex(foreign, ["sign", "-", "--key", join(root, "k.key"), "--version", "v0.1"], v01)).stdout;
    const verified = ok(onex(foreign, ["verify", "-", "--key", join(root, "k.pub"), "--zone", "zone.trusted.org", "--at", "2025-06-01T12:01:00Z", "--json"], signed));
    expect(JSON.parse(verified.stdout.split("\n")[0]!)).toMatchObject({ type: "signal.task.dispatch", accepted: true });
  });

  it("sign reads the creation time where v0.3 keeps it, without --version too: one receivers would refuse is not signed", async () => {
    // The schemas' date-time format takes a space for the "T"; receivers that guard against replays do not.
    const loose = { ...(await v03Dispatch()), created_at: "2030-01-01 00:00:00Z" };
    const run = onex(root, ["sign", "-", "--key", "k.key"], JSON.stringify(loose));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${ErrorCode.ValidationFailed}`);
    expect(run.stderr).toContain("2030-01-01 00:00:00Z");
  });

  // Last: it leaves the SDK stale.
  it("with an SDK not current with the schemas, both are ONEX_E_SDK_STALE, as validate is", async () => {
    const signed = ok(onex(root, ["sign", "m.json", "--key", "k.key", "--version", "v0.3"])).stdout;
    await editFile(join(schemas, "v0.3", "manifest.yaml"), (t) => `# edited since onex generate\n${t}`);
    for (const [args, input] of [
      [["sign", "m.json", "--key", "k.key", "--version", "v0.3"], undefined],
      [["sign", "m.json", "--key", "k.key"], undefined],
      [["verify", "-", "--key", "k.pub"], signed],
    ] as const) {
      const run = onex(root, [...args], input);
      expect(run.code, args.join(" ")).toBe(3);
      expect(run.stderr).toContain(`error ${ErrorCode.SdkStale}: `);
      expect(run.stderr).toContain("v0.3 was generated from other schemas");
    }
  });
});
