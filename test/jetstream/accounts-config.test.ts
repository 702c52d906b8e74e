/**
 * The account layer of the config `onex nats-auth` writes, read as the server reads it. The
 * hostile-member suites test what a member can do against a running server; a mistake in the
 * imports and exports alone would hide behind the members' permissions there, so the layer's
 * own rules are checked here: a zone's exports reach its members' account and no other, a
 * members' account imports from its own zone only and only what that zone exports, and has no
 * JetStream of its own.
 */
import { describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { accountOf, membersAccountOf, natsAccountsConfig } from "../../runtime/jetstream/authorization.js";
import { encodeSubjectToken } from "../../runtime/subject-token.js";

interface Account {
  name: string;
  jetstream: boolean;
  exports: { subject: string; accounts: string[] }[];
  imports: { account: string; subject: string }[];
}

/** The accounts of a generated config, by the lines the generator writes. */
function accountsOf(config: string): Map<string, Account> {
  const accounts = new Map<string, Account>();
  let current: Account | undefined;
  for (const line of config.split("\n")) {
    const header = /^ {2}"([^"]+)": \{$/.exec(line);
    if (header) {
      current = { name: header[1]!, jetstream: false, exports: [], imports: [] };
      accounts.set(current.name, current);
      continue;
    }
    if (current === undefined) continue;
    if (/^ {4}jetstream:/.test(line)) current.jetstream = true;
    const exported = /\{ service: "([^"]+)", accounts: \[([^\]]*)\]/.exec(line);
    if (exported) current.exports.push({ subject: exported[1]!, accounts: [...exported[2]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!) });
    else if (/\{ service: "/.test(line)) current.exports.push({ subject: "(open to every account)", accounts: [] });
    const imported = /\{ service: \{ account: "([^"]+)", subject: "([^"]+)" \} \}/.exec(line);
    if (imported) current.imports.push({ account: imported[1]!, subject: imported[2]! });
  }
  return accounts;
}

describe("the accounts nats-auth writes", () => {
  const zones = ["zone.a", "zone.b.example"];
  const config = natsAccountsConfig(
    [v0_1, v0_2],
    zones.flatMap((zone, i) => [
      { user: `admin${i}`, password: "pw", zone, role: "admin" as const },
      { user: `member${i}`, password: "pw", zone },
    ]),
  );
  const accounts = accountsOf(config);

  it("gives each zone an account with JetStream and one for its members without", () => {
    expect([...accounts.keys()].sort()).toEqual(zones.flatMap((zone) => [accountOf(zone), membersAccountOf(zone)]).sort());
    for (const zone of zones) {
      expect(accounts.get(accountOf(zone))!.jetstream).toBe(true);
      expect(accounts.get(membersAccountOf(zone))!.jetstream).toBe(false);
    }
  });

  it("exports a zone's services to its own members' account only, and its members import from their zone only what it exports", () => {
    for (const zone of zones) {
      const own = accounts.get(accountOf(zone))!;
      const members = accounts.get(membersAccountOf(zone))!;
      expect(own.exports.length).toBeGreaterThan(0);
      for (const e of own.exports) expect([e.subject, e.accounts]).toEqual([e.subject, [members.name]]);
      expect(own.imports).toEqual([]);
      expect(members.exports).toEqual([]);
      expect(members.imports.map((i) => i.account)).toEqual(members.imports.map(() => own.name));
      expect(members.imports.map((i) => i.subject).sort()).toEqual(own.exports.map((e) => e.subject).sort());
      // Every subject but the JetStream API (narrowed by the members' permissions) names the zone.
      const token = encodeSubjectToken(zone);
      for (const { subject } of members.imports) if (subject !== "$JS.API.>") expect(subject).toContain(token);
    }
  });
});
