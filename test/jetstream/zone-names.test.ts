/**
 * Zone names are the tenants' own (`zone.trusted.org`), and each names NATS accounts and
 * streams. A zone no message can name (`Zone.A`, `zone.a_MEMBERS`: the schemas' zones are
 * lower-case DNS labels) gets accounts and streams that serve nothing, and its spelling
 * (`_` stands for itself in a token) was the way one zone's account could be named after
 * another's. Every command that takes a zone refuses one with ONEX_E_USAGE, naming the zone and
 * the rule, before it writes or connects to anything.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { natsAccountsConfig } from "../../runtime/jetstream/authorization.js";
import { planStreams } from "../../runtime/jetstream/streams.js";
import { ZONE_ID_RULE } from "../../runtime/zone-id.js";
import { importPrivateKey } from "../../runtime/trust/keys.js";
import { signRecord } from "../../runtime/trust/record-signature.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs, tempDir } from "../support/temp-schemas.js";

/** The name the members' account of zone.a once had (`ONEX_ZONE_zone~2Ea_MEMBERS`) as a zone's account. */
const SQUATTER = "zone.a_MEMBERS";
const UNREACHABLE = "nats://127.0.0.1:1";

afterAll(async () => {
  await removeTempDirs();
});

function refusal(run: () => unknown): [string, string] | "accepted" {
  try {
    run();
    return "accepted";
  } catch (error) {
    return [(error as OnexError).code, (error as Error).message];
  }
}

describe("onex nats-auth and a zone no message can name", () => {
  it("refuses it with ONEX_E_USAGE (exit 2), naming the identity, the zone and the rule, and writes no config", async () => {
    const dir = await tempDir();
    const identities = join(dir, "identities.yaml");
    await writeFile(identities, [`- { user: admin-a, password: admin-a-pw, zone: zone.a, role: admin }`, `- { user: node-m, password: m-pw, zone: ${SQUATTER} }`].join("\n"), { mode: 0o600 });
    const out = join(dir, "auth.conf");
    const result = runCli(["nats-auth", identities, "--out", out]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`ONEX_E_USAGE: ${identities}: identity 2 (user "node-m"): zone "${SQUATTER}" is no zone a message can name: a zone id is ${ZONE_ID_RULE}`);
    expect(existsSync(out)).toBe(false);
    // `streams apply --identities` reads the same file, and refuses it the same way before connecting.
    const applied = runCli(["streams", "apply", "--identities", identities, "--server", UNREACHABLE]);
    expect([applied.status, applied.stderr]).toEqual([2, expect.stringContaining(`zone "${SQUATTER}" is no zone a message can name`)]);
  });

  it("is refused by the runtime functions the commands call, as ONEX_E_USAGE", () => {
    for (const zone of ["Zone.A", "zone_a", "zone..a", "-zone", "z".repeat(254)]) {
      expect(refusal(() => natsAccountsConfig([v0_1], [{ user: "u", password: "p", zone }]))).toEqual([ErrorCode.Usage, expect.stringContaining(`identity 1 (user "u"): zone `)]);
      expect(refusal(() => planStreams([v0_1], {}, {}, [zone]))).toEqual([ErrorCode.Usage, expect.stringContaining(`zone streams: zone `)]);
    }
    expect(refusal(() => natsAccountsConfig([v0_1], [{ user: "u", password: "p", zone: "zone.trusted.org" }]))).toBe("accepted");
    expect(refusal(() => planStreams([v0_1], {}, {}, ["zone.trusted.org"]))).toBe("accepted");
  });
});

describe("every command that takes --zone", () => {
  // Each with what else it requires; a key or message file that is not there, a server that is not listening: the zone is refused first.
  const commands: [string, string[]][] = [
    ["streams apply", ["streams", "apply", "--server", UNREACHABLE]],
    ["replay", ["replay", "--server", UNREACHABLE]],
    ["dlq list", ["dlq", "list", "--server", UNREACHABLE]],
    ["dlq show", ["dlq", "show", "1", "--server", UNREACHABLE]],
    ["dlq replay", ["dlq", "replay", "1", "--key", "missing.pub", "--server", UNREACHABLE]],
    ["registry list", ["registry", "list", "--registry", UNREACHABLE]],
    ["registry watch", ["registry", "watch", "--registry", UNREACHABLE]],
    ["verify", ["verify", "missing.json", "--key", "missing.pub"]],
    ["grant issue", ["grant", "issue", "--key", "missing.key", "--subject", "node-1", "--type", "*", "--expires-in", "1h"]],
    ["artifact publish", ["artifact", "publish", "missing.bin", "--name", "model", "--version", "1", "--key", "missing.key", "--server", UNREACHABLE]],
    ["artifact fetch", ["artifact", "fetch", "model@1", "--out", "missing.out", "--key", "missing.key", "--publisher", "missing.pub", "--server", UNREACHABLE]],
    ["artifact ls", ["artifact", "ls", "--key", "missing.key", "--server", UNREACHABLE]],
  ];
  it.each(commands)("%s refuses a zone no message can name with ONEX_E_USAGE (exit 2), and checks a valid one no further", (_name, args) => {
    const refused = runCli([...args, "--zone", "Zone_A"]);
    expect([refused.status, refused.stderr]).toEqual([2, expect.stringContaining(`ONEX_E_USAGE: --zone: zone "Zone_A" is no zone a message can name: a zone id is ${ZONE_ID_RULE}`)]);
    const valid = runCli([...args, "--zone", "zone.a"]);
    expect(valid.status).not.toBe(0);
    expect(valid.stderr).not.toContain("is no zone a message can name");
  });

  it("grant issue refuses an --in-zone no message can name, and takes *", () => {
    const base = ["grant", "issue", "--key", "missing.key", "--subject", "node-1", "--type", "*", "--expires-in", "1h", "--zone", "zone.a"];
    const refused = runCli([...base, "--in-zone", "zone.a", "--in-zone", "ZONE.A"]);
    expect([refused.status, refused.stderr]).toEqual([2, expect.stringContaining(`ONEX_E_USAGE: --in-zone: zone "ZONE.A" is no zone a message can name`)]);
    expect(runCli([...base, "--in-zone", "*"]).stderr).not.toContain("is no zone a message can name");
  });
});

describe("every --authority ZONE=FILE", () => {
  // A real authority key and grant, so that each command reaches its --authority; the zone is refused before the key file is read.
  async function authority(): Promise<{ dir: string; grant: string; pub: string }> {
    const dir = await tempDir();
    const prefix = join(dir, "ca");
    expect(runCli(["keygen", "--out", prefix]).status).toBe(0);
    const grant = join(dir, "grant.json");
    const issued = runCli(["grant", "issue", "--key", `${prefix}.key`, "--subject", "node-1", "--type", "*", "--expires-in", "1h", "--zone", "zone.a", "--out", grant]);
    expect(issued.status).toBe(0);
    return { dir, grant, pub: `${prefix}.pub` };
  }

  // Each with what it prints once it has taken the authority: verify judges its input (here the grant, which is no message), inspect checks the signature.
  it.each([
    ["verify", (a: { grant: string; pub: string }) => ["verify", a.grant, "--key", a.pub, "--grants", a.grant], "ONEX_E_VALIDATION: the message has no trust block"],
    ["grant inspect", (a: { grant: string; pub: string }) => ["grant", "inspect", a.grant], "signature   valid"],
  ])("%s refuses a ZONE no message can name with ONEX_E_USAGE (exit 2), and takes a zone id", async (_name, argsOf, taken) => {
    const a = await authority();
    const refused = runCli([...argsOf(a), "--authority", `Zone_A=${a.pub}`]);
    expect([refused.status, refused.stderr]).toEqual([2, expect.stringContaining(`ONEX_E_USAGE: --authority: zone "Zone_A" is no zone a message can name: a zone id is ${ZONE_ID_RULE}`)]);
    // Refused before the key file is read: a missing one is not what is said.
    expect(runCli([...argsOf(a), "--authority", `zone..a=${join(a.dir, "missing.pub")}`]).stderr).toContain(`ONEX_E_USAGE: --authority: zone "zone..a" is no zone a message can name`);
    const valid = runCli([...argsOf(a), "--authority", `zone.a=${a.pub}`]);
    expect(valid.stderr).not.toContain("is no zone a message can name");
    expect(valid.stdout).toContain(taken);
  });

  it("grant inspect refuses a bare --authority FILE for a grant whose own zone no message can name, naming the flag", async () => {
    const a = await authority();
    // Signed by hand: issueSessionGrant and grant issue refuse such a zone. Inspected, it was "valid".
    const key = importPrivateKey(await readFile(join(a.dir, "ca.key"), "utf8"));
    const { signature: _signature, ...issued } = JSON.parse(await readFile(a.grant, "utf8")) as { signature: string; zone: string };
    const forged = signRecord<{ zone: string; signature?: string }>({ ...issued, zone: "Zone.A" }, key);
    await writeFile(a.grant, JSON.stringify(forged));
    const refused = runCli(["grant", "inspect", a.grant, "--authority", a.pub]);
    expect([refused.status, refused.stderr]).toEqual([2, expect.stringContaining(`ONEX_E_USAGE: --authority ${a.pub}: zone "Zone.A" is no zone a message can name`)]);
  });
});
