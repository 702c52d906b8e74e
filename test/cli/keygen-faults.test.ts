/**
 * `keygen --force` replaces a key pair all or nothing, under real faults of the OS at each step
 * of the replacement: the temporaries written (a file size limit, a full disk), the lock taken
 * (a full disk), the old file kept aside (no inode left for its second name), and each of the two
 * moves into place (a mount point at the target: EBUSY). After a failure the old pair is in
 * place, byte for byte, with nothing else beside it. Once a .pub that could not be moved left the
 * new .key beside the old .pub, and the old private key was gone.
 *
 * Each case runs in its own mount namespace on a small tmpfs, so no mount outlives the test: as
 * root `unshare -m`, else a user namespace (`unshare -rm`), where a file cannot be made immutable
 * and those cases fail, saying so. Where no namespace can be made the test fails too, rather than
 * pass unseen.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { importPrivateKey, importPublicKey } from "../../runtime/trust/keys.js";
import { BIN, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("keygen-faults");
afterAll(remove);

// The pair every case starts from, made once outside any mount.
const OLD = join(dir, "old");
mkdirSync(OLD);
const made = onex(OLD, ["keygen", "--out", "pair"]);

interface Fault {
  /** tmpfs options: its size and inode count are the full disk. */
  mount?: string;
  /** Shell run in the folder after the old pair is copied in, before keygen. */
  setup?: string;
  /** Shell run before keygen's own process only (a `ulimit`). */
  limit?: string;
  /** Shell run after keygen, before the folder is read (unmounting what setup mounted). */
  teardown?: string;
}

interface Outcome {
  status: number;
  stderr: string;
  files: Record<string, { text: string; mode: number }>;
}

/** Runs `keygen --out pair --force` in a tmpfs holding the old pair, with `fault`, and reads what it left. */
function keygenWith(fault: Fault, name: string): Outcome {
  const report = join(dir, name);
  mkdirSync(join(report, "after"), { recursive: true });
  mkdirSync(join(report, "mnt"));
  const script = `
    set -e
    mnt=$1; report=$2; old=$3; shift 3
    mount -t tmpfs -o "${fault.mount ?? "size=1m"}" tmpfs "$mnt"
    cp -p "$old/pair.key" "$old/pair.pub" "$mnt/"
    cd "$mnt"
    ${fault.setup ?? ":"}
    set +e
    # Its stderr goes through a pipe: a file size limit would refuse the error message a file.
    { sh -c '${fault.limit ?? ":"}; exec "$0" "$@"' "$@" 2>&1 >/dev/null; echo $? >"$report/status"; } | cat >"$report/stderr"
    set -e
    ${fault.teardown ?? ":"}
    rm -f filler
    cp -a . "$report/after/"`;
  const run = spawnSync("unshare", [process.getuid?.() === 0 ? "-m" : "-rm", "sh", "-c", script, "sh", join(report, "mnt"), report, OLD, process.execPath, BIN, "keygen", "--out", "pair", "--force"], { encoding: "utf8", timeout: 120_000 });
  expect(run.status, `the fault could not be set up here (root or user namespaces are needed to mount a tmpfs, root to make a file immutable): ${run.stderr}`).toBe(0);
  const after = join(report, "after");
  const files = Object.fromEntries(readdirSync(after).map((file) => [file, { text: readFileSync(join(after, file), "utf8"), mode: statSync(join(after, file)).mode & 0o777 }]));
  return { status: Number(readFileSync(join(report, "status"), "utf8")), stderr: readFileSync(join(report, "stderr"), "utf8"), files };
}

function oldPair() {
  return {
    "pair.key": { text: readFileSync(join(OLD, "pair.key"), "utf8"), mode: 0o600 },
    "pair.pub": { text: readFileSync(join(OLD, "pair.pub"), "utf8"), mode: 0o644 },
  };
}

// A full disk to the page: filled to the last page, then `pages` of them given back.
const freePages = (pages: number) => `dd if=/dev/zero of=filler bs=4096 2>/dev/null || true; truncate -s -${pages * 4096} filler`;
// The tmpfs's root folder and the old pair take three inodes; `spare` more are left.
const spareInodes = (spare: number) => `size=1m,nr_inodes=${3 + spare}`;
// A file mounted over a target: renaming onto a mount point fails with EBUSY, as on a busy or locked file.
const mountedOver = (target: string) => ({ setup: `echo held >held && mount --bind held ${target}`, teardown: `umount ${target}; rm held` });
// A file its owner protected (`chattr +i`): it can be neither renamed onto, nor given a second name, nor moved.
const immutable = (target: string) => ({ setup: `chattr +i ${target}`, teardown: `chattr -i ${target}` });

const cases: [string, Fault, RegExp][] = [
  ["the private key's temporary cannot be written past the file size limit (EFBIG)", { limit: "ulimit -f 0" }, /^cannot write pair\.key: the file would grow past the size limit \(EFBIG\)$/],
  ["the disk is full before the private key's temporary is written", { setup: freePages(0) }, /^cannot write pair\.key: no space left on the device \(ENOSPC\)$/],
  ["the disk is full after the private key's temporary, before the public key's", { setup: freePages(1) }, /^cannot write pair\.pub: no space left on the device \(ENOSPC\)$/],
  ["the disk is full when the pair's lock is written", { setup: freePages(2) }, /^cannot write pair\.key\.lock: no space left on the device \(ENOSPC\)$/],
  ["no inode is left for the private key's temporary", { mount: spareInodes(0) }, /^cannot write pair\.key: no space left on the device \(ENOSPC\)$/],
  ["no inode is left for the public key's temporary", { mount: spareInodes(1) }, /^cannot write pair\.pub: no space left on the device \(ENOSPC\)$/],
  ["no inode is left for the pair's lock", { mount: spareInodes(2) }, /^cannot write pair\.key\.lock: no space left on the device \(ENOSPC\)$/],
  ["the old .pub cannot be kept aside (no inode for its second name)", { mount: spareInodes(3) }, /^cannot write pair\.pub: no space left on the device \(ENOSPC\)$/],
  // A mount point is no file a second name can be given on this mount (EXDEV): the first move is never made.
  ["the old .pub cannot be kept aside (it is a mount point)", mountedOver("pair.pub"), /^cannot write pair\.pub: EXDEV: cross-device link not permitted, link 'pair\.pub' -> '\.pair\.pub\.\d+-[0-9a-f]{8}\.old'$/],
  // The one failure after a move: the new .pub is in place, and the old one is put back.
  ["the new .key cannot be moved into place, after the new .pub was", mountedOver("pair.key"), /^cannot write pair\.key: EBUSY: resource busy or locked, rename '[^']+' -> 'pair\.key'$/],
  // No second name, and (a file system without hard links gives EPERM too) it cannot be renamed aside either.
  ["the old .pub is immutable", immutable("pair.pub"), /^cannot write pair\.pub: permission denied \(EPERM\)$/],
  ["the old .key is immutable: the new .key cannot replace it, after the new .pub was moved", immutable("pair.key"), /^cannot write pair\.key: permission denied \(EPERM\)$/],
  ["the file system is read-only", { setup: "mount -o remount,ro ." }, /^cannot write pair\.key: read-only file system \(EROFS\)$/],
];

describe("keygen --force under faults of the OS", () => {
  it("the old pair is made", () => {
    expect(made.code).toBe(0);
  });

  it.each(cases)("%s: the old pair stays, and nothing else", (name, fault, message) => {
    const outcome = keygenWith(fault, name.replace(/\W+/g, "-"));
    // What is left first: a lost private key is the failure that matters most.
    expect(outcome.files).toEqual(oldPair());
    expect(outcome.status).toBe(73);
    expect(outcome.stderr).toMatch(/^error ONEX_E_WRITE_FAILED: /);
    expect(outcome.stderr.slice("error ONEX_E_WRITE_FAILED: ".length).trimEnd()).toMatch(message);
  });

  it.each([
    ["with three pages of the disk free", { setup: freePages(3) }],
    ["with four inodes free", { mount: spareInodes(4) }],
  ] as [string, Fault][])("%s (as many as the run needs) the new pair replaces the old, and nothing else is left", (name, fault) => {
    const outcome = keygenWith(fault, name.replace(/\W+/g, "-"));
    expect([outcome.status, outcome.stderr]).toEqual([0, expect.stringMatching(/^wrote pair\.key/)]);
    expect(Object.keys(outcome.files).sort()).toEqual(["pair.key", "pair.pub"]);
    expect(outcome.files["pair.key"]!.text).not.toBe(oldPair()["pair.key"].text);
    expect(importPublicKey(outcome.files["pair.pub"]!.text).keyId).toBe(importPrivateKey(outcome.files["pair.key"]!.text).keyId);
  });
});
