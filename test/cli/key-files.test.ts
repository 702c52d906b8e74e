/** Finding 7: key material handled as ssh handles it. */
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { OutputFile } from "../../cli/output-file.js";
import { importPrivateKey, importPublicKey } from "../../runtime/trust/keys.js";
import { ErrorCode } from "../trust/fixtures.js";
import { dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("keys");
afterAll(remove);

describe("key files", () => {
  it("keygen --force runs at once into one prefix leave one run's pair, never one's .key beside another's .pub", async () => {
    // Two runs as two threads (the built CLI's own function, as keygen calls it), let go at one
    // instant each round: processes start too unevenly to meet in the moment the files are moved.
    // Without one run at a time, a mixed pair came in about one round in five.
    const rounds = 50;
    const gate = new Int32Array(new SharedArrayBuffer(12));
    const code = `
      const { workerData } = await import("node:worker_threads");
      const { readFileSync } = await import("node:fs");
      const { writeKeyPairFiles } = await import(workerData.keyFiles);
      const { generateKeyPair, importPrivateKey, importPublicKey } = await import(workerData.runtime);
      const gate = new Int32Array(workerData.gate);
      for (let round = 1; round <= workerData.rounds; round++) {
        const key = generateKeyPair();
        Atomics.add(gate, 0, 1);
        while (Atomics.load(gate, 0) < round * 2);
        writeKeyPairFiles(workerData.prefix, key, "compact", true);
        Atomics.add(gate, 1, 1);
        while (Atomics.load(gate, 1) < round * 2);
        // One thread looks at the pair both left, before either starts the next round.
        if (workerData.checks && importPrivateKey(readFileSync(workerData.prefix + ".key", "utf8")).publicKey.keyId !== importPublicKey(readFileSync(workerData.prefix + ".pub", "utf8")).keyId) Atomics.add(gate, 2, 1);
      }`;
    const built = (path: string) => fileURLToPath(new URL(path, import.meta.url));
    const workerData = { gate: gate.buffer, rounds, prefix: join(dir, "raced"), keyFiles: built("../../dist/cli/key-files.js"), runtime: built("../../runtime/dist/index.js") };
    const threads = [true, false].map((checks) => new Worker(code, { eval: true, workerData: { ...workerData, checks } }));
    await Promise.all(threads.map((thread) => new Promise((resolve, reject) => thread.on("exit", resolve).on("error", reject))));
    expect(Atomics.load(gate, 2)).toBe(0);
    expect(readdirSync(dir).filter((name) => name.startsWith(".raced.") || name.endsWith(".lock"))).toEqual([]);
  });

  it("a secret is owner-only from its first byte: the temporary file already has mode 0600 before anything is written", () => {
    const secret = umaskless(() => OutputFile.create(join(dir, "secret.txt"), { force: false, mode: 0o600 }));
    const temp = readdirSync(dir).find((name) => name.startsWith(".secret.txt."));
    expect(temp).toBeDefined();
    expect(statSync(join(dir, temp!)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, temp!)).size).toBe(0);
    secret.write("s3cret\n");
    secret.commit();
    expect(statSync(join(dir, "secret.txt")).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((name) => name.startsWith(".secret.txt."))).toEqual([]);
  });

  it("keygen --force never writes through a symlink at the target: the link is replaced and the file it named is untouched", () => {
    writeFileSync(join(dir, "victim.txt"), "precious\n");
    symlinkSync(join(dir, "victim.txt"), join(dir, "linked.key"));
    const refused = onex(dir, ["keygen", "--out", "linked"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(ErrorCode.FileExists);
    expect(existsSync(join(dir, "linked.pub"))).toBe(false);
    expect(onex(dir, ["keygen", "--out", "linked", "--force"]).code).toBe(0);
    expect(readFileSync(join(dir, "victim.txt"), "utf8")).toBe("precious\n");
    expect(lstatSync(join(dir, "linked.key")).isSymbolicLink()).toBe(false);
    expect(statSync(join(dir, "linked.key")).mode & 0o777).toBe(0o600);
  });

  it("keygen with an existing .pub writes nothing, so no private key is left that does not match its .pub", () => {
    writeFileSync(join(dir, "pair.pub"), "someone else's key\n");
    const run = onex(dir, ["keygen", "--out", "pair"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(ErrorCode.FileExists);
    expect(existsSync(join(dir, "pair.key"))).toBe(false);
    expect(readFileSync(join(dir, "pair.pub"), "utf8")).toBe("someone else's key\n");
    expect(onex(dir, ["keygen", "--out", "pair", "--force"]).code).toBe(0);
    const privateKey = importPrivateKey(readFileSync(join(dir, "pair.key"), "utf8"));
    expect(importPublicKey(readFileSync(join(dir, "pair.pub"), "utf8")).keyId).toBe(privateKey.keyId);
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("every command that signs refuses a private key others can read, before it writes or connects; --allow-unprotected-key lets the offline ones use it", () => {
    expect(onex(dir, ["keygen", "--out", "open"]).code).toBe(0);
    chmodSync(join(dir, "open.key"), 0o640);
    writeFileSync(join(dir, "open-task.json"), JSON.stringify(dispatch(1)));
    writeFileSync(join(dir, "open-result.json"), JSON.stringify({ task_id: "t-1", status: "succeeded" }));
    const issue = ["grant", "issue", "--key", "open.key", "--subject", "node-a", "--zone", "zone.trusted.org", "--type", "signal.task.dispatch", "--expires-in", "1h"];
    const issued = onex(dir, [...issue, "--allow-unprotected-key"]);
    expect(issued.code).toBe(0);
    writeFileSync(join(dir, "open-grant.json"), issued.stdout);
    // An address nothing listens on: a command that connected before it read the key would fail otherwise.
    const nowhere = ["--server", "nats://127.0.0.1:1"];
    const commands: Record<string, { args: string[]; offline: boolean }> = {
      sign: { args: ["sign", "open-task.json", "--key", "open.key"], offline: true },
      attest: { args: ["attest", "--key", "open.key", "--node", "node-a", "--task", "open-task.json", "--result", "open-result.json", "--outcome", "succeeded", "--trust-delta", "0", "--execution-time", "1"], offline: true },
      "grant issue": { args: issue, offline: true },
      "grant revoke": { args: ["grant", "revoke", "open-grant.json", "--key", "open.key", "--list", "open-revocations.json"], offline: true },
      "artifact publish": { args: ["artifact", "publish", "open-task.json", "--name", "models/x", "--version", "1", "--key", "open.key", "--zone", "zone.trusted.org", ...nowhere], offline: false },
      "artifact fetch": { args: ["artifact", "fetch", "models/x@1", "--key", "open.key", "--zone", "zone.trusted.org", "--out", "open-fetched.bin", ...nowhere], offline: false },
    };
    const outcomes = Object.fromEntries(
      Object.entries(commands).map(([name, { args }]) => {
        const run = onex(dir, args);
        return [name, { code: run.code, refused: run.stderr.includes(ErrorCode.KeyPermissions), stdout: run.stdout }];
      }),
    );
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(commands).map((name) => [name, { code: 3, refused: true, stdout: "" }])));
    expect(readdirSync(dir).filter((name) => name.startsWith("open-revocations") || name.startsWith("open-fetched"))).toEqual([]);
    for (const [name, { args, offline }] of Object.entries(commands)) {
      if (offline) expect([name, onex(dir, [...args, "--allow-unprotected-key"]).code]).toEqual([name, 0]);
    }
  });

  it("an identities file others can read is warned of (it holds every password); owner-only, piped or all bcrypt hashes, it is not", () => {
    const ids = "- {user: a, password: pw-a, zone: zone.a, role: admin}\n";
    writeFileSync(join(dir, "readable-ids.yaml"), ids);
    chmodSync(join(dir, "readable-ids.yaml"), 0o644);
    for (const args of [["nats-auth", "readable-ids.yaml"], ["streams", "apply", "--identities", "readable-ids.yaml", "--dry-run", "--server", "nats://127.0.0.1:1"]]) {
      const run = onex(dir, args);
      expect(run.stderr.match(/^warning: readable-ids.yaml holds passwords and other users can read it \(mode 0644\); run `chmod 600 readable-ids.yaml`$/gm), args.join(" ")).toHaveLength(1);
    }
    chmodSync(join(dir, "readable-ids.yaml"), 0o600);
    expect(onex(dir, ["nats-auth", "readable-ids.yaml"]).stderr).toBe("");
    expect(onex(dir, ["nats-auth", "-"], ids).stderr).toBe("");
    writeFileSync(join(dir, "hashed-ids.yaml"), '- {user: a, password: "$2a$11$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV", zone: zone.a}\n');
    chmodSync(join(dir, "hashed-ids.yaml"), 0o644);
    expect(onex(dir, ["nats-auth", "hashed-ids.yaml"]).stderr).toBe("");
  });

  it("nats-auth --out writes 0600 and never replaces an existing (0644) file without --force", () => {
    writeFileSync(join(dir, "ids.yaml"), "- {user: a, password: pw-a, zone: zone.a}\n");
    writeFileSync(join(dir, "auth.conf"), "old\n", { mode: 0o644 });
    chmodSync(join(dir, "auth.conf"), 0o644);
    const refused = onex(dir, ["nats-auth", "ids.yaml", "--out", "auth.conf"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(ErrorCode.FileExists);
    expect(readFileSync(join(dir, "auth.conf"), "utf8")).toBe("old\n");
    expect(onex(dir, ["nats-auth", "ids.yaml", "--out", "auth.conf", "--force"]).code).toBe(0);
    expect(statSync(join(dir, "auth.conf")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "auth.conf"), "utf8")).toContain("pw-a");
  });
});

/** Runs `fn` with a permissive umask, so the mode seen is the one onex asked for, not the umask's. */
function umaskless<T>(fn: () => T): T {
  const old = process.umask(0);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}
