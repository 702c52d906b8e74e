/**
 * A zone member runs the CLI under the configuration `onex nats-auth` writes, where it may read
 * replies only under its own inbox prefix (_INBOX_<user>). Every command's requests wait for a
 * reply, so without --inbox-prefix each was refused for a subscription to `_INBOX.…`, saying
 * nothing of what to do; with it, the member's commands reach the server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxPrefixOf } from "../../runtime/jetstream/authorization.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { startTwoZones, update, ZONE_A, type TwoZones } from "./zones.js";

let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones();
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

describe("the CLI as a zone member", () => {
  const asMember = (args: string[]) => runCli([...args, "--server", zones.server.url, "--user", "node-a"], { env: { NATS_PASSWORD: "a-pw" } });
  const replay = ["replay", "--zone", "zone.a", "--from-seq", "1", "--limit", "1"];
  const negotiate = ["negotiate", "--peer", "deployment-x", "--timeout", "1s"];

  it("without --inbox-prefix is refused, told the prefix to give", () => {
    for (const args of [replay, negotiate]) {
      const run = asMember(args);
      expect([args[0], run.status, run.stderr]).toEqual([args[0], 1, expect.stringContaining(ErrorCode.PermissionDenied)]);
      expect(run.stderr).toContain(`give --inbox-prefix ${inboxPrefixOf("node-a")}`);
    }
  });

  it("with --inbox-prefix _INBOX_<user> reaches the server: replay reads the zone's stream, negotiate meets the refusal meant for members", async () => {
    const published = update(ZONE_A, "a-1", "busy");
    await (await zones.member("a")).publish(published);
    const prefix = ["--inbox-prefix", inboxPrefixOf("node-a")];
    const read = asMember([...replay, ...prefix]);
    expect([read.status, read.stderr]).toEqual([0, "1 message(s)\n"]);
    expect(read.stdout).toContain(published.id);
    // Negotiation runs where zones meet: a member may not publish its requests (docs/versioning.md),
    // and that, not the inbox, is now what refuses it.
    const asked = asMember([...negotiate, ...prefix]);
    expect(asked.stderr).toContain('Permissions Violation for Publish to "onex.schemas.deployment-x"');
    expect(asked.stderr).not.toContain("Subscription to");
  });

  it("refuses an --inbox-prefix that is no subject without wildcards (ONEX_E_USAGE, exit 2)", () => {
    for (const bad of ["_INBOX.>", "a..b", "with space"]) {
      const run = asMember([...replay, "--inbox-prefix", bad]);
      expect([bad, run.status, run.stderr]).toEqual([bad, 2, expect.stringContaining(`${ErrorCode.Usage}: --inbox-prefix`)]);
    }
  });
});
