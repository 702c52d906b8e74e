/**
 * User names and passwords are the identities' own text, and `onex nats-auth` writes them into
 * the config nats-server loads for every zone. One identity whose password holds a control
 * character must not take the server down: nats-server reads a config string's escapes its own
 * way (only \xXX, \t, \n, \r, \" and \\), and refused the whole config for JSON's \u0001 or \b.
 * Tested against a server started with the config as generated.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect as natsConnect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { inboxPrefixOf, natsAccountsConfig, type AuthIdentity } from "../../runtime/jetstream/authorization.js";
import { runCli } from "../support/run-cli.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";

let server: NatsServer | undefined;

afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

/** Identities as a tenant may choose them: each password and name is text the server must read back exactly. */
const IDENTITIES = [
  { user: "admin-a", password: "admin-a-pw", zone: "zone.a", role: "admin" },
  { user: "node-a", password: "bell\u0007 backspace\b feed\f tab\t line\n del\u007f", zone: "zone.a", role: "member" },
  { user: "quote\u0001d", password: 'say "hi" \\ $HOME # } ]', zone: "zone.a", role: "member" },
  { user: "node-b", password: "b-pw é 🔑", zone: "zone.b", role: "member" },
];

describe("identities whose names and passwords hold any text", () => {
  it("give a config nats-server loads, in which each identity connects with its own password and no other", async () => {
    const dir = await tempDir();
    const identities = join(dir, "identities.json");
    await writeFile(identities, JSON.stringify(IDENTITIES), { mode: 0o600 });
    const generated = runCli(["nats-auth", identities]);
    expect([generated.status, generated.stderr]).toEqual([0, ""]);
    // With the escapes JSON writes, this was "Parse error ... Invalid escape character 'u'": no server at all.
    server = await startNatsServer({ config: generated.stdout });
    const attempt = async (user: string, pass: string) => {
      try {
        await (await natsConnect({ servers: server!.url, user, pass, inboxPrefix: inboxPrefixOf(user) })).close();
        return "connected";
      } catch (error) {
        return String((error as Error).message);
      }
    };
    for (const { user, password } of IDENTITIES) {
      expect([user, await attempt(user, password)]).toEqual([user, "connected"]);
      // The text as JSON spells it (where that differs) is another password.
      const spelled = JSON.stringify(password).slice(1, -1);
      if (spelled !== password) expect([user, await attempt(user, spelled)]).toEqual([user, expect.stringMatching(/authorization violation/i)]);
    }
  });

  it("refuses a name or password no config file can hold, naming the user (the CLI's reader refuses them first)", () => {
    const refusal = (identity: AuthIdentity) => {
      try {
        natsAccountsConfig([v0_1], [identity]);
        return "written";
      } catch (error) {
        return error instanceof OnexError ? [error.code, error.message] : String(error);
      }
    };
    // Written out as UTF-8, a lone surrogate became U+FFFD: the server would hold another password.
    expect(refusal({ user: "node-s", password: "half \ud800 a pair", zone: "zone.a" })).toEqual([ErrorCode.Usage, expect.stringContaining('user "node-s" has a password that is no text (a lone UTF-16 surrogate)')]);
    expect(refusal({ user: "node-\udc00", password: "pw", zone: "zone.a" })).toEqual([ErrorCode.Usage, expect.stringContaining("a user name that is no text (a lone UTF-16 surrogate)")]);
  });

  it("refuses no identities at all: a config of accounts with no user lets every client in without credentials", () => {
    expect(() => natsAccountsConfig([v0_1], [])).toThrow(expect.objectContaining({ code: ErrorCode.Usage, message: expect.stringContaining("no identities: a server configured with no users runs without authentication") }));
  });
});
