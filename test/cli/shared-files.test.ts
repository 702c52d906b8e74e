/**
 * Files the trust commands share with other runs and other users: a revocation list updated by
 * several runs at once, and outputs that must never land on a command's own key.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../trust/fixtures.js";
import { BIN, onex, scratch, type Run } from "./cli-harness.js";

const { dir, remove } = scratch("shared-files");
afterAll(remove);

const GRANTS = 12;

beforeAll(() => {
  expect(onex(dir, ["keygen", "--out", "ca"]).code).toBe(0);
  for (let i = 0; i < GRANTS; i++) {
    expect(onex(dir, ["grant", "issue", "--key", "ca.key", "--subject", `node-${i}`, "--zone", "zone.a", "--type", "*", "--expires-in", "1h", "--out", `g${i}.json`]).code).toBe(0);
  }
});

function onexAsync(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const revokedIds = (file: string) => (JSON.parse(readFileSync(join(dir, file), "utf8")) as { grant_id: string }[]).map((r) => r.grant_id).sort();
const grantIds = () => Array.from({ length: GRANTS }, (_, i) => (JSON.parse(readFileSync(join(dir, `g${i}.json`), "utf8")) as { grant_id: string }).grant_id).sort();

describe("a revocation list shared by runs", () => {
  it("revocations added by runs at once are all kept: none is lost to another run writing the list it read before", async () => {
    writeFileSync(join(dir, "revocations.json"), "[]\n");
    const runs = await Promise.all(Array.from({ length: GRANTS }, (_, i) => onexAsync(["grant", "revoke", `g${i}.json`, "--key", "ca.key", "--list", "revocations.json"])));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(revokedIds("revocations.json")).toEqual(grantIds());
    expect(readdirSync(dir).filter((name) => name.includes(".lock"))).toEqual([]);
  });

  it("a lock left by a process that is gone is taken over; one a live process holds is waited for", async () => {
    writeFileSync(join(dir, "left.json"), "[]\n");
    const gone = spawnSync("true").pid!;
    writeFileSync(join(dir, "left.json.lock"), `${gone}\n`);
    expect(onex(dir, ["grant", "revoke", "g0.json", "--key", "ca.key", "--list", "left.json"]).code).toBe(0);
    expect(revokedIds("left.json")).toHaveLength(1);
    expect(existsSync(join(dir, "left.json.lock"))).toBe(false);
    // A live holder that finishes in two seconds: the revoke waits for it, then takes its lock over and adds its revocation.
    const holder = spawn("sleep", ["2"]);
    writeFileSync(join(dir, "left.json.lock"), `${holder.pid}\n`);
    let holderGone = Infinity;
    holder.on("exit", () => (holderGone = Date.now()));
    const run = await onexAsync(["grant", "revoke", "g1.json", "--key", "ca.key", "--list", "left.json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(Date.now()).toBeGreaterThanOrEqual(holderGone);
    expect(revokedIds("left.json")).toHaveLength(2);
    expect(existsSync(join(dir, "left.json.lock"))).toBe(false);
  });

  it("a disk that refuses the lock's few bytes (a file size limit here, a full disk in use) is ONEX_E_WRITE_FAILED naming the lock, which is not left behind to stop every later run", () => {
    const list = "[]\n";
    writeFileSync(join(dir, "limited.json"), list);
    // `ulimit -f 0` in a child shell: every write to a file fails with EFBIG, as ENOSPC would on a full disk.
    const run = spawnSync("sh", ["-c", 'ulimit -f 0; exec "$0" "$@"', process.execPath, BIN, "grant", "revoke", "g2.json", "--key", "ca.key", "--list", "limited.json"], { cwd: dir, encoding: "utf8" });
    expect([run.status, run.stderr]).toEqual([73, expect.stringMatching(/^error ONEX_E_WRITE_FAILED: cannot write \S*limited\.json\.lock: /)]);
    expect(existsSync(join(dir, "limited.json.lock"))).toBe(false);
    expect(readFileSync(join(dir, "limited.json"), "utf8")).toBe(list);
    // The next run, with room to write, is not kept waiting by a lock no run holds.
    expect(onex(dir, ["grant", "revoke", "g2.json", "--key", "ca.key", "--list", "limited.json"]).code).toBe(0);
    expect(revokedIds("limited.json")).toHaveLength(1);
  });

  it("a list that is a folder, a FIFO or a device is refused before it is locked or read, with nothing left behind", () => {
    mkdirSync(join(dir, "list-folder"));
    expect(spawnSync("mkfifo", [join(dir, "list-fifo")]).status).toBe(0);
    const cases = [
      ["list-folder", 3, `${ErrorCode.FileUnreadable}: cannot read the revocation list list-folder: it is a folder (EISDIR)`],
      // A FIFO no one writes to waited for ever; the run killed then left its lock behind.
      ["list-fifo", 73, `${ErrorCode.WriteFailed}: cannot write list-fifo: it is not a regular file`],
      ["/dev/null", 73, `${ErrorCode.WriteFailed}: cannot write /dev/null: it is not a regular file`],
    ] as const;
    for (const [list, exit, says] of cases) {
      const run = spawnSync(process.execPath, [BIN, "grant", "revoke", "g3.json", "--key", "ca.key", "--list", list], { cwd: dir, encoding: "utf8", timeout: 30_000 });
      expect(run.status, run.stderr).toBe(exit);
      expect(run.stderr.startsWith(`error ${says}`), run.stderr).toBe(true);
    }
    expect(readdirSync(dir).filter((name) => name.includes(".lock"))).toEqual([]);
  });
});

describe("outputs that would land on a key", () => {
  it("grant issue --out naming its own --key, by path or through a link, is ONEX_E_USAGE even with --force, and the key stays", () => {
    const key = readFileSync(join(dir, "ca.key"), "utf8");
    symlinkSync("ca.key", join(dir, "ca-link.key"));
    for (const out of ["ca.key", "./ca.key", "ca-link.key"]) {
      const run = onex(dir, ["grant", "issue", "--key", "ca.key", "--subject", "s", "--zone", "zone.a", "--type", "*", "--expires-in", "1h", "--out", out, "--force"]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`${ErrorCode.Usage}: --out names the authority's key file`);
      expect(readFileSync(join(dir, "ca.key"), "utf8")).toBe(key);
    }
    expect(onex(dir, ["sign", "-", "--key", "ca.key"], "").code).toBe(0);
  });
});
