/**
 * Every EXAMPLES line of every command's --help, run as a user copies it: in a fresh project
 * folder (the project's schemas/ and generated SDK, docs/examples, a copy of templates/ as
 * my-templates, and the keys and logs the examples name), through sh, with the built CLI as
 * `onex`. No server runs, and the addresses the examples name are rewritten to a closed
 * loopback port; `onex keygen`'s examples write into a folder of their own. An example may succeed, fail because the server or peer it needs is not
 * there (exit 69), or fail because a file it names does not exist (exit 3,
 * ONEX_E_FILE_NOT_FOUND naming it); nothing else: not a flag the command lacks, not an
 * argument it refuses, not a run on the command's own sample data that reports problems.
 */
import { spawnSync } from "node:child_process";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BUNDLED_VERSION_FOLDERS } from "../support/bundled-versions.js";
import { freePort } from "../support/nats-server.js";
import { runCli } from "../support/run-cli.js";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

interface ManifestCommand {
  examples?: (string | { command: string })[];
}

/** The examples of every command, as oclif prints them (`<%= config.bin %>` is `onex`). */
async function examples(): Promise<{ command: string; line: string }[]> {
  const manifest = JSON.parse(await readFile(join(PROJECT_ROOT, "oclif.manifest.json"), "utf8")) as { commands: Record<string, ManifestCommand> };
  return Object.entries(manifest.commands).flatMap(([command, c]) =>
    (c.examples ?? []).map((e) => ({ command, line: (typeof e === "string" ? e : e.command).replaceAll("<%= config.bin %>", "onex") })),
  );
}

/** A project folder with what the examples read. */
async function project(): Promise<string> {
  const dir = await tempDir("onex-help-examples-");
  await cp(join(PROJECT_ROOT, "schemas"), join(dir, "schemas"), { recursive: true });
  for (const part of [...BUNDLED_VERSION_FOLDERS, "transforms", "versions.ts"]) await cp(join(PROJECT_ROOT, "generated", part), join(dir, "generated", part), { recursive: true });
  await cp(join(PROJECT_ROOT, "templates"), join(dir, "my-templates"), { recursive: true });
  await mkdir(join(dir, "docs"));
  await cp(join(PROJECT_ROOT, "docs", "examples"), join(dir, "docs", "examples"), { recursive: true });
  for (const key of ["node-1", "node-2", "zone-ca", "peer", "publisher"]) expect(runCli(["keygen", "--out", key], { cwd: dir }).status).toBe(0);
  // keygen's own examples write their keys here: it refuses to replace a key, which is its point.
  await mkdir(join(dir, "new-keys"));
  const v0_1 = (await readFile(join(dir, "docs", "examples", "v0.1.ndjson"), "utf8")).trim().split("\n");
  const ofType = (type: string) => v0_1.find((l) => (JSON.parse(l) as { type: string }).type === type)!;
  await writeFile(join(dir, "task.json"), ofType("signal.task.dispatch"));
  await writeFile(join(dir, "dispatch.json"), ofType("signal.task.dispatch"));
  await writeFile(join(dir, "result.json"), ofType("signal.result.ready"));
  await writeFile(join(dir, "messages.ndjson"), v0_1.join("\n") + "\n");
  // To be signed now and verified at once: created now, valid for an hour.
  const fresh = v0_1.map((l) => {
    const m = JSON.parse(l) as { time: string; trust: { expires_at: string } };
    m.time = new Date().toISOString();
    m.trust.expires_at = new Date(Date.now() + 3_600_000).toISOString();
    return JSON.stringify(m);
  });
  await writeFile(join(dir, "outbox.ndjson"), fresh.join("\n") + "\n");
  await cp(join(dir, "docs", "examples", "v0.2.ndjson"), join(dir, "log.ndjson"));
  await writeFile(join(dir, "identities.yaml"), "- { user: node-a, password: a-pw, zone: zone.a }\n- { user: admin-a, password: admin-a-pw, zone: zone.a, role: admin }\n", { mode: 0o600 });
  return dir;
}

describe("the examples of every command's --help", () => {
  it("run, or fail only for lack of a server, a peer or a file they name", async () => {
    const dir = await project();
    const closed = `127.0.0.1:${await freePort()}`;
    const all = await examples();
    expect(all.length).toBeGreaterThan(40);
    const wrong: string[] = [];
    for (const { command, line } of all) {
      const script = line.replace(/^\$ /, "").replace(/127\.0\.0\.1:\d+/g, closed);
      const run = spawnSync("sh", ["-c", `onex() { node "$ONEX_BIN" "$@"; }\n${script}`], {
        cwd: command === "keygen" ? join(dir, "new-keys") : dir,
        encoding: "utf8",
        env: { ...process.env, ONEX_BIN: join(PROJECT_ROOT, "bin", "onex.js"), NATS_URL: `nats://${closed}`, ONEX_REGISTRY: "" },
        timeout: 60_000,
      });
      const missing = /ONEX_E_FILE_NOT_FOUND: .*?([\w./-]+): no such file|ONEX_E_FILE_NOT_FOUND: (?:schemas|templates) folder (\S+)/.exec(run.stderr);
      const missingNamed = run.status === 3 && missing !== null && line.includes((missing[1] ?? missing[2]!).replace(`${dir}/`, ""));
      if (!(run.status === 0 || run.status === 69 || missingNamed)) wrong.push(`${command}: ${line} -> exit ${run.status}: ${run.stderr.trim().split("\n").at(-1)}`);
    }
    expect(wrong).toEqual([]);
  }, 300_000);
});
