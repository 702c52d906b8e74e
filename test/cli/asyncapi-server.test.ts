/**
 * `onex asyncapi --server` names the server of `servers.nats.host` (docs/asyncapi.md): host:port,
 * or a nats://host:port URL taken as its host:port. Anything else is ONEX_E_USAGE and writes no
 * document; "", "host:" or ":99999" used to be written as the host.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes.js";
import { ErrorCode } from "../../runtime/errors.js";
import { assertNoCrash, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("asyncapi-server");
afterAll(remove);

/** The server host of the JSON document `onex asyncapi v0.2 --server=<server>` writes. */
function hostWritten(server: string, out: string): string {
  const run = onex(dir, ["asyncapi", "v0.2", `--server=${server}`, "--out", out]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(readFileSync(join(dir, out), "utf8")).servers.nats.host;
}

describe("onex asyncapi --server", () => {
  it("writes host:port as given, and a nats:// URL as its host:port", () => {
    expect(hostWritten("nats.example.org:4222", "a.json")).toBe("nats.example.org:4222");
    expect(hostWritten("10.0.0.5:65535", "b.json")).toBe("10.0.0.5:65535");
    expect(hostWritten("[::1]:4222", "c.json")).toBe("[::1]:4222");
    expect(hostWritten("nats://h:1", "d.json")).toBe("h:1");
  });

  it("refuses what is not host:port with ONEX_E_USAGE, writing nothing", () => {
    const servers = ["", ":", "host:", ":99999", "host:-1", "host", "host:65536", "host:0", "host:04222", "-host:1", "a..b:1", "[zz]:1", "nats://", "nats://h", "nats://u:p@h:1", "tls://h:1", "h:1/"];
    for (const server of servers) {
      const out = `refused-${servers.indexOf(server)}.json`;
      const run = onex(dir, ["asyncapi", "v0.2", `--server=${server}`, "--out", out]);
      assertNoCrash(run);
      expect(run.code, server).toBe(ExitCode.Usage);
      expect(run.stderr, server).toMatch(new RegExp(`^error ${ErrorCode.Usage}: --server ".*" is not host:port \\(for example nats\\.example\\.org:4222`));
      expect(existsSync(join(dir, out)), server).toBe(false);
    }
    // On standard output too: no document at all.
    const stdout = onex(dir, ["asyncapi", "v0.2", "--server=host:"]);
    expect([stdout.code, stdout.stdout]).toEqual([ExitCode.Usage, ""]);
  });
});
