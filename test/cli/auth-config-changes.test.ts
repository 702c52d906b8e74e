/**
 * The changes `onex nats-auth` reports against the config it replaces, over arbitrary
 * identities: names and passwords with quotes, backslashes and control characters (which the
 * config escapes), users moving between zones and roles, any order.
 */
import { readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { accountsOf, authConfigChanges, droppedLines } from "../../cli/auth-config-changes.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";
import { accountOf, membersAccountOf, natsAccountsConfig, type AuthIdentity } from "../../runtime/jetstream/authorization.js";

const text = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom("a", "b", '"', "\\", ",", " ", "\n", "\u0001", "{", "}", "é") });
const identity = fc.record({ user: text, password: text, zone: fc.constantFrom("zone.a", "zone.b"), role: fc.constantFrom("admin" as const, "member" as const) });
const identities = fc.uniqueArray(identity, { minLength: 1, maxLength: 6, selector: (i) => i.user });

const accountOfIdentity = (i: AuthIdentity) => (i.role === "admin" ? accountOf(i.zone) : membersAccountOf(i.zone));
const keyed = (list: AuthIdentity[]) => new Map(list.map((i) => [`${accountOfIdentity(i)}\u0000${i.user}`, i]));
/** Every zone has its account (its admins', perhaps none), and a members' account when it has members. */
const accountsIn = (list: AuthIdentity[]) => new Set(list.flatMap((i) => [accountOf(i.zone), accountOfIdentity(i)]));

describe("nats-auth's changes against the config it replaces", () => {
  it("lists exactly the users added, removed and given another password, and nothing for the same identities", () => {
    fc.assert(
      fc.property(identities, identities, (before, after) => {
        const a = accountsOf(natsAccountsConfig([v0_1], before))!;
        const b = accountsOf(natsAccountsConfig([v0_1], after))!;
        expect(authConfigChanges(a, accountsOf(natsAccountsConfig([v0_1], [...before].reverse()))!)).toEqual([]);
        const was = keyed(before);
        const now = keyed(after);
        const accountsBefore = accountsIn(before);
        const accountsAfter = accountsIn(after);
        // Users of an account that comes or goes are counted in the account's line.
        const added = [...now.keys()].filter((k) => !was.has(k) && accountsBefore.has(accountOfIdentity(now.get(k)!))).length;
        const removed = [...was.keys()].filter((k) => !now.has(k) && accountsAfter.has(accountOfIdentity(was.get(k)!))).length;
        const changed = [...now.keys()].filter((k) => was.has(k) && was.get(k)!.password !== now.get(k)!.password).length;
        const lines = authConfigChanges(a, b);
        expect(lines.filter((l) => l.startsWith("added user ")).length).toBe(added);
        expect(lines.filter((l) => l.startsWith("removed user ")).length).toBe(removed);
        expect(lines.filter((l) => l.startsWith("changed the password ")).length).toBe(changed);
        expect(lines.filter((l) => l.startsWith("changed the permissions ")).length).toBe(0);
        expect(lines.filter((l) => l.startsWith("added account ")).length).toBe([...accountsAfter].filter((x) => !accountsBefore.has(x)).length);
        expect(lines.filter((l) => l.startsWith("removed account ")).length).toBe([...accountsBefore].filter((x) => !accountsAfter.has(x)).length);
        for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f]/);
      }),
      { numRuns: 300 },
    );
  });

  it("the config it wrote, kept with CRLF line endings and a byte order mark, is the same config", () => {
    const identities: AuthIdentity[] = [
      { user: "adm", password: "p", zone: "zone.a", role: "admin" },
      { user: "node", password: "q", zone: "zone.a", role: "member" },
    ];
    const written = natsAccountsConfig([v0_1], identities);
    const kept = `\uFEFF${written.replaceAll("\n", "\r\n")}`;
    expect(authConfigChanges(accountsOf(kept)!, accountsOf(written)!)).toEqual([]);
    expect(authConfigChanges(accountsOf(kept)!, accountsOf(natsAccountsConfig([v0_1], identities.slice(0, 1)))!)).toEqual([`removed account "ONEX_ZONE_zone~2Ea~MEMBERS" and its 1 user(s)`, `account "ONEX_ZONE_zone~2Ea": its exports or imports changed`]);
  });

  it("the same accounts and users with other exports or imports (an onex of another version wrote it) are a change", () => {
    const identities: AuthIdentity[] = [
      { user: "adm", password: "p", zone: "zone.a", role: "admin" },
      { user: "node", password: "q", zone: "zone.a", role: "member" },
    ];
    const written = natsAccountsConfig([v0_1], identities);
    const older = written.replace('response_threshold: "3s"', 'response_threshold: "2m"').replace(/ {6}\{ service: \{ account: [^\n]*events" \} \},\n/, "");
    expect(older).not.toBe(written);
    expect(authConfigChanges(accountsOf(older)!, accountsOf(written)!)).toEqual([`account "ONEX_ZONE_zone~2Ea": its exports or imports changed`, `account "ONEX_ZONE_zone~2Ea~MEMBERS": its exports or imports changed`]);
  });

  it("a config onex did not write is not read", () => {
    expect(accountsOf("accounts { A: { users: [ { user: x, password: y } ] } }\n")).toBeUndefined();
  });

  it("drops no line of a config it wrote, whatever the identities and limits before and after", () => {
    const limits = fc.record({ maxFileBytes: fc.option(fc.integer({ min: 1, max: 1e9 }), { nil: undefined }), maxConnections: fc.option(fc.integer({ min: 1, max: 99 }), { nil: undefined }) });
    fc.assert(
      fc.property(identities, identities, limits, limits, (before, after, was, now) => {
        const strip = (l: typeof was) => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined));
        expect(droppedLines(natsAccountsConfig([v0_1], before, strip(was)), natsAccountsConfig([v0_1], after, strip(now)))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it("names each hand-added line a regeneration drops, where it was and what it set, never its value", () => {
    const identities: AuthIdentity[] = [
      { user: "adm", password: "p", zone: "zone.a", role: "admin" },
      { user: "node", password: "q", zone: "zone.a", role: "member" },
    ];
    const written = natsAccountsConfig([v0_1], identities);
    const edited = written
      .replace("accounts {\n", 'system_account: "SYS-secret-1"\naccounts {\n  # kept for the audit: secret-2\n')
      .replace("    users: [\n      { user: \"adm\"", '    mappings: { "secret-3": "x" }\n    nkeys: [\n      "secret-4"\n      secret-6\n      7secret\n    ]\n    "SYS-5": {}\n    users: [\n      { user: "adm"')
      // A user added by hand after one onex wrote: it is dropped, and the user before it is as it was.
      .replace('{ user: "adm", password: "p" }\n', '{ user: "adm", password: "p" },\n      {user: backup, password: secret-7, permissions: {subscribe: ">"}}\n')
      .replaceAll("\n", "\r\n");
    const lines = edited.split("\r\n");
    const at = (text: string) => lines.findIndex((l) => l.startsWith(text)) + 1;
    expect(droppedLines(edited, written)).toEqual([
      `line ${at("system_account")}: system_account …`,
      `line ${at("  # kept")}: a comment`,
      `line ${at("    mappings")} (account "ONEX_ZONE_zone~2Ea"): mappings …`,
      `line ${at("    nkeys")} (account "ONEX_ZONE_zone~2Ea"): nkeys …`,
      `line ${at('      "secret-4"')} (account "ONEX_ZONE_zone~2Ea"): a line beginning "\\""`,
      // Unquoted as well as quoted, a word alone on its line is a value (a list's entry), not a key.
      `line ${at("      secret-6")} (account "ONEX_ZONE_zone~2Ea"): a value alone`,
      `line ${at("      7secret")} (account "ONEX_ZONE_zone~2Ea"): a value alone`,
      `line ${at('    "SYS-5"')} (account "ONEX_ZONE_zone~2Ea"): "SYS-5" …`,
      `line ${at("      {user: backup")} (account "ONEX_ZONE_zone~2Ea"): a line beginning "{"`,
    ]);
    expect(droppedLines(edited, written).join("\n")).not.toMatch(/secret/);
    // Nothing else changed: the hand edits are all a regeneration loses.
    expect(authConfigChanges(accountsOf(edited)!, accountsOf(written)!)).toEqual([]);
  });
});

describe("onex nats-auth --out FILE --force over a file", () => {
  afterAll(removeTempDirs);

  it("says what a regeneration drops of a hand-edited config, and warns when the file replaced is not one it wrote", async () => {
    const dir = await tempDir("onex-auth-dropped-");
    const ids = join(dir, "identities.yaml");
    const auth = join(dir, "auth.conf");
    await writeFile(ids, "- { user: adm, password: pa, zone: zone.a, role: admin }\n", { mode: 0o600 });
    expect(runCli(["nats-auth", ids, "--out", auth]).status).toBe(0);
    const written = await readFile(auth, "utf8");
    await writeFile(auth, written.replace("accounts {\n", "system_account: SYS\naccounts {\n"), { mode: 0o600 });
    const again = runCli(["nats-auth", ids, "--out", auth, "--force"]);
    expect([again.status, again.stdout]).toEqual([0, `${auth}: 1 change(s); reload nats-server (nats-server --signal reload) to apply them\n  dropped line 4: system_account …, in no form onex writes (a hand edit?)\n`]);
    expect(await readFile(auth, "utf8")).toBe(written);

    await writeFile(auth, "port: 4222\naccounts { A: { users: [ { user: x, password: y } ] } }\n", { mode: 0o600 });
    const over = runCli(["nats-auth", ids, "--out", auth, "--force"]);
    expect([over.status, over.stdout]).toEqual([0, ""]);
    expect(over.stderr).toContain(`warning: ${auth} (67 bytes) was not written by \`onex nats-auth\`; --force replaced it with the generated config`);
    expect(await readFile(auth, "utf8")).toBe(written);

    // One it cannot read (a server's config owned by another user; root reads past mode 000, so here: larger than any config).
    await truncate(auth, 65 * 1024 * 1024);
    const unread = runCli(["nats-auth", ids, "--out", auth, "--force"]);
    expect([unread.status, unread.stdout]).toEqual([0, ""]);
    expect(unread.stderr).toContain(`warning: ${auth} could not be read (unreadable, or larger than any config onex writes); --force replaced it with the generated config`);
    expect(await readFile(auth, "utf8")).toBe(written);
  });
});
