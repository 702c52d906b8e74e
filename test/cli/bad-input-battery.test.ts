/**
 * The bad-input battery: every command, fed what careless or hostile users feed it (missing,
 * empty, a folder, binary, huge, the wrong key type, an unwritable output, a closed pipe),
 * ends with its documented code and exit status, no stack trace, and no file left behind.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, cpSync, mkdirSync, openSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeFor } from "../../cli/exit-codes.js";
import { ErrorCode } from "../trust/fixtures.js";
import { assertNoCrash, BIN, dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("battery");
const SCHEMAS = fileURLToPath(new URL("../../schemas", import.meta.url));
afterAll(remove);

beforeAll(() => {
  expect(onex(dir, ["keygen", "--out", "k"]).code).toBe(0);
  // The wrong key type: an RSA key from OpenSSL, owner-only like a real key.
  expect(spawnSync("openssl", ["genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", join(dir, "rsa.key")]).status).toBe(0);
  chmodSync(join(dir, "rsa.key"), 0o600);
  writeFileSync(join(dir, "weak.pub"), "ed25519-pub:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
  writeFileSync(join(dir, "empty.json"), "");
  chmodSync(join(dir, "empty.json"), 0o600);
  mkdirSync(join(dir, "folder"));
  symlinkSync("folder", join(dir, "link-into-folder"));
  cpSync(SCHEMAS, join(dir, "schemas-copy"), { recursive: true });
  symlinkSync(join("schemas-copy", "v0.2"), join(dir, "link-into-schemas"));
  writeFileSync(join(dir, "binary.dat"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 151 + 7) % 256)));
  writeFileSync(join(dir, "dup.json"), '{"grant_id":"g","grant_id":"h"}');
  // A "billion laughs" YAML document: each line's aliases multiply the one before nine times.
  writeFileSync(join(dir, "laughs.yaml"), ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]", ..."bcdefg".split("").map((name, i) => `${name}: &${name} [${Array(9).fill(`*${"abcdefg"[i]}`).join(", ")}]`)].join("\n") + "\n");
  writeFileSync(join(dir, "dup-registration.json"), '{"entry":{"capabilities":["evil"]},"entry":{},"identity":{}}');
  writeFileSync(join(dir, "exists.out"), "keep\n");
  // A task and a result whose only fault is a member named twice (the second value would win in JSON.parse).
  writeFileSync(join(dir, "dup-task.json"), JSON.stringify(dispatch(1)).replace('"priority":5', '"priority":5,"priority":6'));
  writeFileSync(join(dir, "dup-result.json"), '{"task_id":"t-1","status":"succeeded","status":"failed"}');
  writeFileSync(join(dir, "one-task.json"), JSON.stringify(dispatch(1)));
  writeFileSync(join(dir, "no-grants.json"), "[]");
  // Identities nats-server would refuse, or would let connect with no password.
  writeFileSync(join(dir, "ids-empty-password.yaml"), '- { user: admin-a, password: "", zone: zone.a, role: admin }\n');
  writeFileSync(join(dir, "ids-empty-user.yaml"), '- { user: "", password: p, zone: zone.a }\n');
  writeFileSync(join(dir, "ids-empty-list.yaml"), "[]\n");
  writeFileSync(join(dir, "ids-twice.yaml"), "- { user: admin-a, password: p, zone: zone.a, role: admin }\n- { user: admin-a, password: q, zone: zone.b }\n");
  writeFileSync(join(dir, "ids.yaml"), "- { user: admin-a, password: p, zone: zone.a, role: admin }\n");
  writeFileSync(join(dir, "msgs.ndjson"), [1, 2, 3].map((n) => JSON.stringify(dispatch(n))).join("\n") + "\n");
  // Huge: a 24 MB array on one line (valid), and a 24 MB line of nothing that is JSON.
  writeFileSync(join(dir, "huge.json"), JSON.stringify(Array.from({ length: 40_000 }, (_, n) => dispatch(n))));
  writeFileSync(join(dir, "huge-garbage.ndjson"), "x".repeat(24 * 1024 * 1024));
});

interface Case {
  args: string[];
  code: string | null;
  exit: number;
  /** Files that must not exist afterwards. */
  absent?: string[];
  /** What the message must say: the flag or argument at fault, in the user's terms. */
  says?: string;
}

const task = ["--node", "n-1", "--result", "msgs.ndjson", "--outcome", "succeeded", "--trust-delta", "0", "--execution-time", "1"];
const grant = ["--subject", "s", "--zone", "zone.a", "--type", "*", "--expires-in", "1h"];
const { FileNotFound, FileUnreadable, JsonSyntax, KeyInvalid, KeyWeak, WriteFailed, FileExists, Usage, JsonDuplicateKey, ValidationFailed, YamlSyntax } = ErrorCode;

const CASES: Record<string, Case> = {
  "validate: missing file": { args: ["validate", "v0.1", "nope.json"], code: FileNotFound, exit: 3 },
  "validate: a folder": { args: ["validate", "v0.1", "folder"], code: FileUnreadable, exit: 3 },
  "validate: empty file": { args: ["validate", "v0.1", "empty.json"], code: null, exit: 0 },
  "validate: binary": { args: ["validate", "v0.1", "binary.dat"], code: ValidationFailed, exit: 1 },
  "validate: huge one-line array": { args: ["validate", "v0.1", "huge.json"], code: null, exit: 0 },
  "validate: huge garbage line": { args: ["validate", "v0.1", "huge-garbage.ndjson"], code: ValidationFailed, exit: 1 },
  "validate: missing version": { args: ["validate"], code: Usage, exit: 2 },
  "migrate: missing file": { args: ["migrate", "v0.1", "v0.2", "nope.json", "--out", "m1.out"], code: FileNotFound, exit: 3, absent: ["m1.out"] },
  "migrate: a folder": { args: ["migrate", "v0.1", "v0.2", "folder", "--out", "m2.out"], code: FileUnreadable, exit: 3, absent: ["m2.out"] },
  "migrate: binary": { args: ["migrate", "v0.1", "v0.2", "binary.dat", "--out", "m3.out"], code: JsonSyntax, exit: 1, absent: ["m3.out"] },
  "migrate: unwritable --out": { args: ["migrate", "v0.1", "v0.2", "msgs.ndjson", "--out", "no/such/m4.out"], code: WriteFailed, exit: 73 },
  "migrate: --out is a folder": { args: ["migrate", "v0.1", "v0.2", "msgs.ndjson", "--out", "folder"], code: WriteFailed, exit: 73 },
  "migrate: --out exists": { args: ["migrate", "v0.1", "v0.2", "msgs.ndjson", "--out", "exists.out"], code: FileExists, exit: 2 },
  // oclif took --force=false for --force and an input file named "false"; exists.out stays as it is.
  "migrate: --force=false": { args: ["migrate", "v0.1", "v0.2", "--out", "exists.out", "--force=false"], code: Usage, exit: 2, says: "--force takes no value (--force=false was given)" },
  "keygen: --stdout=true": { args: ["keygen", "--stdout=true"], code: Usage, exit: 2, says: "--stdout takes no value" },
  "migrate: --on-error fail with --dead-letter": { args: ["migrate", "v0.1", "v0.2", "msgs.ndjson", "--on-error", "fail", "--dead-letter", "dl.ndjson"], code: Usage, exit: 2, absent: ["dl.ndjson"] },
  "migrate: unknown version": { args: ["migrate", "v0.1", "v9", "msgs.ndjson"], code: ErrorCode.UnknownVersion, exit: 2 },
  "sign: missing key": { args: ["sign", "msgs.ndjson", "--key", "nope.key"], code: FileNotFound, exit: 3 },
  "sign: key is a folder": { args: ["sign", "msgs.ndjson", "--key", "folder"], code: FileUnreadable, exit: 3 },
  "sign: RSA key": { args: ["sign", "msgs.ndjson", "--key", "rsa.key"], code: KeyInvalid, exit: 3 },
  "sign: public key as --key": { args: ["sign", "msgs.ndjson", "--key", "k.pub"], code: KeyInvalid, exit: 3 },
  "sign: empty key": { args: ["sign", "msgs.ndjson", "--key", "empty.json"], code: KeyInvalid, exit: 3 },
  "sign: binary input": { args: ["sign", "binary.dat", "--key", "k.key"], code: JsonSyntax, exit: 1 },
  "sign: missing input": { args: ["sign", "nope.json", "--key", "k.key"], code: FileNotFound, exit: 3 },
  "verify: missing key": { args: ["verify", "msgs.ndjson", "--key", "nope.pub"], code: FileNotFound, exit: 3 },
  "verify: binary key": { args: ["verify", "msgs.ndjson", "--key", "binary.dat"], code: KeyInvalid, exit: 3 },
  "verify: RSA key": { args: ["verify", "msgs.ndjson", "--key", "rsa.key"], code: KeyInvalid, exit: 3 },
  "verify: weak key": { args: ["verify", "msgs.ndjson", "--key", "weak.pub"], code: KeyWeak, exit: 3 },
  "verify: duplicate names in grants": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--authority", "zone.a=k.pub", "--grants", "dup.json"], code: JsonDuplicateKey, exit: 1 },
  "verify: grants is a folder": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--authority", "zone.a=k.pub", "--grants", "folder"], code: FileUnreadable, exit: 3 },
  "verify: bad --at": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--at", "Dec 31 2099"], code: Usage, exit: 2 },
  "keygen: unwritable --out": { args: ["keygen", "--out", "no/such/key"], code: WriteFailed, exit: 73 },
  "keygen: existing files": { args: ["keygen", "--out", "k"], code: FileExists, exit: 2 },
  "keygen: empty --out": { args: ["keygen", "--out", ""], code: Usage, exit: 2 },
  "keygen: --out a folder path": { args: ["keygen", "--out", "keys/"], code: Usage, exit: 2 },
  "keygen: --stdout --json": { args: ["keygen", "--stdout", "--json"], code: Usage, exit: 2 },
  // The key was printed and no file written where one was asked for.
  "keygen: --stdout --out": { args: ["keygen", "--stdout", "--out", "k2"], code: Usage, exit: 2, says: "--out=k2 cannot also be provided when using --stdout", absent: ["k2.key", "k2.pub"] },
  "keygen: --stdout --force": { args: ["keygen", "--stdout", "--force"], code: Usage, exit: 2, says: "cannot also be provided when using --stdout" },
  "attest: missing task": { args: ["attest", "--key", "k.key", "--task", "nope.json", ...task], code: FileNotFound, exit: 3 },
  "attest: binary task": { args: ["attest", "--key", "k.key", "--task", "binary.dat", ...task], code: JsonSyntax, exit: 1 },
  "attest: RSA key": { args: ["attest", "--key", "rsa.key", "--task", "msgs.ndjson", ...task], code: KeyInvalid, exit: 3 },
  "attest: duplicate names in the task": { args: ["attest", "--key", "k.key", "--task", "dup-task.json", ...task], code: JsonDuplicateKey, exit: 1 },
  "attest: duplicate names in the result": { args: ["attest", "--key", "k.key", "--task", "one-task.json", ...task.map((a) => (a === "msgs.ndjson" ? "dup-result.json" : a))], code: JsonDuplicateKey, exit: 1 },
  "verify: duplicate names in revocations": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--authority", "zone.a=k.pub", "--grants", "no-grants.json", "--revocations", "dup.json"], code: JsonDuplicateKey, exit: 1 },
  "grant issue: missing key": { args: ["grant", "issue", "--key", "nope.key", ...grant], code: FileNotFound, exit: 3 },
  "grant issue: unwritable --out": { args: ["grant", "issue", "--key", "k.key", ...grant, "--out", "no/such/g.json"], code: WriteFailed, exit: 73 },
  "grant issue: --out exists": { args: ["grant", "issue", "--key", "k.key", ...grant, "--out", "exists.out"], code: FileExists, exit: 2 },
  "grant issue: lenient time": { args: ["grant", "issue", "--key", "k.key", "--subject", "s", "--zone", "zone.a", "--type", "*", "--expires-at", "2099"], code: Usage, exit: 2 },
  "grant issue: empty --id": { args: ["grant", "issue", "--key", "k.key", ...grant, "--id", ""], code: Usage, exit: 2 },
  "grant issue: --expires-in past the year 9999": { args: ["grant", "issue", "--key", "k.key", "--subject", "s", "--zone", "zone.a", "--type", "*", "--expires-in", "99999999999999d"], code: Usage, exit: 2 },
  "grant issue: a misspelt --type": { args: ["grant", "issue", "--key", "k.key", "--subject", "s", "--zone", "zone.a", "--type", "signal.task.dispach", "--expires-in", "1h"], code: Usage, exit: 2 },
  "grant revoke: binary grant": { args: ["grant", "revoke", "binary.dat", "--key", "k.key"], code: JsonSyntax, exit: 1 },
  "grant revoke: --list is a folder": { args: ["grant", "revoke", "dup.json", "--key", "k.key", "--list", "folder"], code: JsonDuplicateKey, exit: 1 },
  "grant inspect: empty": { args: ["grant", "inspect", "empty.json"], code: JsonSyntax, exit: 1 },
  "grant inspect: a folder": { args: ["grant", "inspect", "folder"], code: FileUnreadable, exit: 3 },
  "migrate: an empty --out": { args: ["migrate", "v0.1", "v0.2", "msgs.ndjson", "--out", ""], code: Usage, exit: 2, says: "--out is empty" },
  "migrate: an empty --dead-letter": { args: ["migrate", "v0.1", "v0.2", "msgs.ndjson", "--dead-letter", ""], code: Usage, exit: 2, says: "--dead-letter is empty" },
  "nats-auth: missing": { args: ["nats-auth", "nope.yaml"], code: FileNotFound, exit: 3 },
  "nats-auth: binary": { args: ["nats-auth", "binary.dat"], code: JsonSyntax, exit: 1 },
  "nats-auth: an empty identities file": { args: ["nats-auth", "empty.json"], code: Usage, exit: 2 },
  "nats-auth: not YAML": { args: ["nats-auth", "msgs.ndjson"], code: YamlSyntax, exit: 3 },
  // YAML is read whole: a device that never ends is refused at the limit, not read until the heap runs out.
  "nats-auth: a device that never ends": { args: ["nats-auth", "/dev/zero"], code: FileUnreadable, exit: 3, says: "more than 64 MiB of YAML" },
  "validate: YAML from a device that never ends": { args: ["validate", "v0.2", "/dev/zero", "--format", "yaml"], code: FileUnreadable, exit: 3, says: "more than 64 MiB of YAML" },
  "streams apply: --identities a device that never ends": { args: ["streams", "apply", "--identities", "/dev/zero", "--server", "nats://127.0.0.1:1"], code: FileUnreadable, exit: 3 },
  "nats-auth: an identity with an empty password": { args: ["nats-auth", "ids-empty-password.yaml"], code: Usage, exit: 2, says: 'ids-empty-password.yaml: user "admin-a" has an empty password' },
  "nats-auth: an identity with an empty user name": { args: ["nats-auth", "ids-empty-user.yaml"], code: Usage, exit: 2, says: "identity 1 has an empty user name" },
  "nats-auth: an empty list of identities": { args: ["nats-auth", "ids-empty-list.yaml"], code: Usage, exit: 2, says: "ids-empty-list.yaml must be a list of {user, password, zone, role?}" },
  "nats-auth: a user name twice": { args: ["nats-auth", "ids-twice.yaml"], code: Usage, exit: 2, says: 'user "admin-a" is listed twice' },
  "streams apply: a user name twice in --identities": { args: ["streams", "apply", "--identities", "ids-twice.yaml", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: 'user "admin-a" is listed twice' },
  // Even with --force: the identities file would be replaced by the config.
  "nats-auth: --out names the identities file": { args: ["nats-auth", "ids.yaml", "--out", "ids.yaml", "--force"], code: Usage, exit: 2, says: "--out names the identities file" },
  "diff: --schemas missing": { args: ["diff", "v0.1", "v0.2", "--schemas", "nope"], code: FileNotFound, exit: 3 },
  "diff: --schemas a file": { args: ["diff", "v0.1", "v0.2", "--schemas", "binary.dat"], code: FileNotFound, exit: 3 },
  "check: --schemas missing": { args: ["check", "--schemas", "nope", "--samples", "1"], code: FileNotFound, exit: 3 },
  "versions: extra argument": { args: ["versions", "extra"], code: Usage, exit: 2 },
  "negotiate: peer file missing": { args: ["negotiate", "--peer", "./nope.json"], code: ErrorCode.SchemaIndexUnavailable, exit: 69 },
  "negotiate: peer file binary": { args: ["negotiate", "--peer", "./binary.dat"], code: ErrorCode.NegotiationInvalid, exit: 3 },
  // Node's timers hold at most 2^31 - 1 ms: a longer --timeout (nats.js arms one) fired at once.
  "negotiate: --timeout longer than a timer can wait": { args: ["negotiate", "--peer", "./nope.json", "--timeout", "30d"], code: Usage, exit: 2 },
  // nats.js takes a request timeout of 0 as none given, and waited its default second.
  "negotiate: --timeout of 0": { args: ["negotiate", "--peer", "./nope.json", "--timeout", "0s"], code: Usage, exit: 2 },
  // A limit of 0 printed one message (replay) or listed nothing (dlq list); a negative sequence read from the start.
  "replay: --limit 0": { args: ["replay", "--limit", "0", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  "replay: --from-seq below 0": { args: ["replay", "--from-seq=-5", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  // Refused as readHistory's stream, not named as the flag.
  "replay: --subject that is no template key": { args: ["replay", "--subject", "a.b", "--from-seq", "1", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  "dlq list: --limit 0": { args: ["dlq", "list", "--limit", "0", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  "dlq list: --from below 0": { args: ["dlq", "list", "--from=-1", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  // Durations that must be more than none, refused by the flag rather than by the option under it.
  "verify: --replay-window of 0": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--replay-window", "0s"], code: Usage, exit: 2 },
  "streams apply: --max-age of 0": { args: ["streams", "apply", "--max-age", "0s", "--dry-run", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  "grant issue: --expires-in of 0": { args: ["grant", "issue", "--key", "k.key", "--subject", "s", "--zone", "zone.a", "--type", "*", "--expires-in", "0s"], code: Usage, exit: 2 },
  // JetStream takes max_age in nanoseconds as a 64-bit integer: the server answered "invalid JSON".
  "streams apply: --max-age past what JetStream holds": { args: ["streams", "apply", "--max-age", "999999999999d", "--dry-run", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  "streams apply: --dlq-max-age that is no duration": { args: ["streams", "apply", "--dlq-max-age", "a month", "--dry-run", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  // Bounds the SDK holds too, said under the flag's name rather than the option's (maxAgeMs, maxMessages, ...).
  "streams apply: --max-age under JetStream's shortest": { args: ["streams", "apply", "--max-age", "50ms", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--max-age: 50ms is shorter than the 100 ms it must be at least" },
  "streams apply: --dlq-max-age under JetStream's shortest": { args: ["streams", "apply", "--dlq-max-age", "10ms", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--dlq-max-age: 10ms" },
  // The de-duplication window, as the ages are: JetStream refused one under 100 ms only after the streams before it were made.
  "streams apply: --duplicate-window that is no duration": { args: ["streams", "apply", "--duplicate-window", "5", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: '--duplicate-window: "5" is not a duration (add a unit: 5ms or 5s)' },
  "streams apply: --duplicate-window of 0": { args: ["streams", "apply", "--duplicate-window", "0s", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--duplicate-window: 0s is shorter than the 100 ms it must be at least" },
  "streams apply: --duplicate-window under JetStream's shortest": { args: ["streams", "apply", "--duplicate-window", "50ms", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--duplicate-window: 50ms is shorter than the 100 ms it must be at least" },
  "streams apply: --duplicate-window past what JetStream holds": { args: ["streams", "apply", "--duplicate-window", "999999999999d", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--duplicate-window: 999999999999d is longer than" },
  "streams apply: --duplicate-window longer than --max-age": { args: ["streams", "apply", "--max-age", "1h", "--duplicate-window", "2h", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--duplicate-window 2h is longer than --max-age 1h" },
  "streams apply: --max-msgs past an exact number": { args: ["streams", "apply", "--max-msgs", "99999999999999999999", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--max-msgs" },
  "dlq list: --from past an exact number": { args: ["dlq", "list", "--from", "99999999999999999999", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--from" },
  "replay: --from-seq past an exact number": { args: ["replay", "--from-seq", "99999999999999999999", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--from-seq" },
  "replay: --since that is no RFC 3339 time": { args: ["replay", "--since", "0", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--since" },
  "verify: --replay-window longer than a Date spans": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--replay-window", "100000001d"], code: Usage, exit: 2, says: "--replay-window: 100000001d is longer than" },
  "check: --samples more than can be held": { args: ["check", "--samples", "99999999999999999999"], code: Usage, exit: 2, says: "--samples" },
  "check: --seed past fast-check's 32 bits": { args: ["check", "--seed", "4294967296"], code: Usage, exit: 2, says: "--seed" },
  "attest: --execution-time below 0": { args: ["attest", "--key", "k.key", "--task", "one-task.json", ...task.map((a) => (a === "1" ? "-1" : a))], code: Usage, exit: 2, says: "--execution-time must be 0 or more, not -1" },
  "attest: --trust-delta outside [-1, 1]": { args: ["attest", "--key", "k.key", "--task", "one-task.json", ...task.map((a) => (a === "0" ? "1.5" : a))], code: Usage, exit: 2, says: "--trust-delta must be within [-1, 1], not 1.5" },
  // A dead-letter sequence of 0 went to the server, whose "bad request" read as a failed connection (69).
  "dlq show: sequence 0": { args: ["dlq", "show", "0", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2 },
  "dlq replay: a later sequence that is no number": { args: ["dlq", "replay", "1", "abc", "--key", "k.pub", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: '"abc" is no dead-letter sequence' },
  // An address that is no address is the flag's fault (2), not the network's (69, "try again").
  "dlq list: --server with a port past 65535": { args: ["dlq", "list", "--server", "nats://127.0.0.1:99999"], code: Usage, exit: 2, says: "--server: nats://127.0.0.1:99999 is no NATS server address" },
  "dlq list: an empty --server": { args: ["dlq", "list", "--server", ""], code: Usage, exit: 2, says: "--server" },
  "artifact ls: --wait of 0": { args: ["artifact", "ls", "--wait", "0s", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--wait must be longer than 0" },
  "artifact publish: --upload-limit under the slowest a piece may move": { args: ["artifact", "publish", "msgs.ndjson", "--name", "m/x", "--version", "1", "--upload-limit", "1", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], code: Usage, exit: 2, says: "--upload-limit" },
  // FILE is checked before anything connects (none listens at this address): a misspelt FILE was ONEX_E_CONNECTION, "try again".
  "artifact publish: missing file": { args: ["artifact", "publish", "nope.bin", "--name", "m/x", "--version", "1", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], code: FileNotFound, exit: 3, says: "nope.bin" },
  "artifact publish: a folder": { args: ["artifact", "publish", "folder", "--name", "m/x", "--version", "1", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], code: FileUnreadable, exit: 3, says: "it is a folder" },
  "artifact publish: a device": { args: ["artifact", "publish", "/dev/zero", "--name", "m/x", "--version", "1", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], code: FileUnreadable, exit: 3, says: "not a regular file" },
  // So is --out: a missing folder was ONEX_E_CONNECTION here, and with a server, found only after the artifact's announcement.
  "artifact fetch: --out in a missing folder": { args: ["artifact", "fetch", "m/x@1", "--out", "no/such/x.bin", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], code: WriteFailed, exit: 73, says: "no such file or folder (ENOENT)" },
  "artifact fetch: --out under a file": { args: ["artifact", "fetch", "m/x@1", "--out", "msgs.ndjson/x.bin", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], code: WriteFailed, exit: 73, says: "(ENOTDIR)" },
  "generate: --schemas missing": { args: ["generate", "--schemas", "nope"], code: FileNotFound, exit: 3 },
  "generate: --out inside --schemas": { args: ["generate", "--schemas", "folder", "--out", "folder/v0.2"], code: Usage, exit: 2 },
  "generate: --out the --schemas folder": { args: ["generate", "--schemas", "folder", "--out", "folder"], code: Usage, exit: 2 },
  "generate: --out a link into --schemas": { args: ["generate", "--schemas", "folder", "--out", "link-into-folder/generated"], code: Usage, exit: 2 },
  // Even with --force, as generate and asyncapi: the site went into the version folders, among the schemas.
  "docs: --out the --schemas folder": { args: ["docs", "--schemas", "schemas-copy", "--out", "schemas-copy", "--force"], code: Usage, exit: 2, says: "is inside the schemas folder" },
  "docs: --out through a link into --schemas": { args: ["docs", "--schemas", "schemas-copy", "--out", "link-into-schemas/site"], code: Usage, exit: 2, says: "is inside the schemas folder" },
  // Even with --force: the document would replace the version's manifest.
  "asyncapi: --out a manifest of --schemas": { args: ["asyncapi", "v0.2", "--schemas", "schemas-copy", "--out", "schemas-copy/v0.2/manifest.yaml", "--force"], code: Usage, exit: 2, says: "is inside the schemas folder" },
  "asyncapi: --out through a link into --schemas": { args: ["asyncapi", "v0.2", "--schemas", "schemas-copy", "--out", "link-into-schemas/manifest.yaml", "--force"], code: Usage, exit: 2, says: "is inside the schemas folder" },
  // Key, grant and record files that never end are refused once larger than any such file, not read until memory runs out.
  "sign: key is a device that never ends": { args: ["sign", "msgs.ndjson", "--key", "/dev/zero"], code: FileUnreadable, exit: 3 },
  "verify: key is a device that never ends": { args: ["verify", "msgs.ndjson", "--key", "/dev/zero"], code: FileUnreadable, exit: 3 },
  "verify: --entries a device that never ends": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--entries", "/dev/zero"], code: FileUnreadable, exit: 3 },
  "verify: --grants a device that never ends": { args: ["verify", "msgs.ndjson", "--key", "k.pub", "--authority", "zone.a=k.pub", "--grants", "/dev/zero"], code: FileUnreadable, exit: 3 },
  "grant inspect: a device that never ends": { args: ["grant", "inspect", "/dev/zero"], code: FileUnreadable, exit: 3 },
  "attest: --task a device that never ends": { args: ["attest", "--key", "k.key", "--task", "/dev/zero", ...task], code: FileUnreadable, exit: 3 },
  // A registration is read as every record file is, before any registry is asked (none listens at this address).
  "registry register: duplicate names": { args: ["registry", "register", "dup-registration.json", "--registry", "nats://127.0.0.1:1"], code: JsonDuplicateKey, exit: 1 },
  "registry register: invalid UTF-8": { args: ["registry", "register", "binary.dat", "--registry", "nats://127.0.0.1:1"], code: JsonSyntax, exit: 1 },
  "registry register: a folder": { args: ["registry", "register", "folder", "--registry", "nats://127.0.0.1:1"], code: FileUnreadable, exit: 3 },
  "registry register: a device that never ends": { args: ["registry", "register", "/dev/zero", "--registry", "nats://127.0.0.1:1"], code: FileUnreadable, exit: 3 },
};

const leftovers = () => readdirSync(dir).filter((name) => name.endsWith(".tmp"));

describe("the bad-input battery", () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, () => {
      const run = onex(dir, c.args);
      assertNoCrash(run);
      expect(run.code, run.stderr).toBe(c.exit);
      if (c.code === null) expect(run.stderr).not.toMatch(/^error /m);
      else {
        // The code ends the run ("error CODE: ..."), or is reported at its line when the command goes on (migrate, validate).
        expect(run.stderr + run.stdout).toMatch(new RegExp(`^(error |\\S+:\\d+:.* )${c.code}: `, "m"));
        expect(exitCodeFor(c.code)).toBe(c.exit);
      }
      if (c.says !== undefined) expect(run.stderr).toContain(c.says);
      for (const file of c.absent ?? []) expect(readdirSync(dir)).not.toContain(file);
      expect(leftovers()).toEqual([]);
    });
  }

  it("keygen --stdout and attest on a full disk: ONEX_E_WRITE_FAILED, with no line saying the key or attestation was printed", () => {
    writeFileSync(join(dir, "one-result.json"), '{"task_id":"t-1","status":"succeeded","output":{}}');
    for (const args of [["keygen", "--stdout"], ["attest", "--key", "k.key", "--task", "one-task.json", ...task.map((a) => (a === "msgs.ndjson" ? "one-result.json" : a))]]) {
      const full = openSync("/dev/full", "w");
      try {
        const run = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, stdio: ["ignore", full, "pipe"], encoding: "utf8", timeout: 60_000 });
        expect(run.status, run.stderr).toBe(exitCodeFor(WriteFailed));
        expect(run.stderr).toMatch(new RegExp(`^error ${WriteFailed}: `, "m"));
        expect(run.stderr).not.toMatch(/printed|attested/);
      } finally {
        closeSync(full);
      }
    }
  });

  it("artifact fetch: an --out in a read-only folder is ONEX_E_WRITE_FAILED before anything connects (it was ONEX_E_CONNECTION, exit 69: try again)", () => {
    mkdirSync(join(dir, "read-only"));
    // A read-only bind mount of the folder, in a mount namespace of its own: refused to root too.
    const script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"';
    const run = spawnSync("unshare", [process.getuid?.() === 0 ? "-m" : "-rm", "sh", "-c", script, "sh", join(dir, "read-only"), process.execPath, BIN, "artifact", "fetch", "m/x@1", "--out", "read-only/x.bin", "--key", "k.key", "--zone", "zone.a", "--server", "nats://127.0.0.1:1"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    assertNoCrash({ code: run.status, stdout: run.stdout, stderr: run.stderr });
    expect(run.status, run.stderr).toBe(exitCodeFor(WriteFailed));
    expect(run.stderr).toMatch(new RegExp(`^error ${WriteFailed}: cannot write \\S*read-only/x\\.bin: read-only file system \\(EROFS\\)`));
  });

  it("validate and migrate: a YAML document whose aliases would expand past the limit is ONEX_E_YAML_SYNTAX at its line", () => {
    for (const args of [["validate", "v0.2", "laughs.yaml"], ["migrate", "v0.2", "v0.1", "laughs.yaml", "--out", "m5.out"]]) {
      const run = onex(dir, args);
      assertNoCrash(run);
      expect(run.code).toBe(1);
      // At the alias that takes the document past the values its aliases may stand for: line 7's first.
      expect(run.stderr + run.stdout).toContain(`laughs.yaml:7: - ${YamlSyntax}: the aliases of a document stand for more than 1,000,000 values`);
    }
    expect(readdirSync(dir)).not.toContain("m5.out");
    expect(leftovers()).toEqual([]);
  });

  it("migrate: an alias inside the value it names, and an alias with no anchor, are ONEX_E_YAML_SYNTAX at their line", () => {
    writeFileSync(join(dir, "circular.yaml"), "type: signal.task.dispatch\nid: &x [*x]\n");
    writeFileSync(join(dir, "unanchored.yaml"), "type: signal.task.dispatch\nid: *nowhere\n");
    for (const [file, line, why] of [["circular.yaml", 2, "the alias *x is inside the value it names"], ["unanchored.yaml", 1, "Unresolved alias"]] as const) {
      const run = onex(dir, ["migrate", "v0.2", "v0.1", file]);
      assertNoCrash(run);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${file}:${line}: - ${YamlSyntax}: `);
      expect(run.stderr).toContain(why);
    }
  });

  for (const args of [["validate", "v0.1", "huge.json", "--json"], ["migrate", "v0.1", "v0.2", "huge.json"], ["sign", "huge.json", "--key", "k.key"], ["verify", "huge.json", "--key", "k.pub"], ["diff", "v0.1", "v0.2", "--schemas", SCHEMAS], ["versions"]]) {
    it(`${args[0]}: a closed pipe ends quietly with exit 0`, async () => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdout.once("data", () => child.stdout.destroy());
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(stderr).not.toMatch(/ONEX_E_INTERNAL|EPIPE|\n\s+at /);
      expect(code).toBe(0);
    }, 120_000);
  }
});
