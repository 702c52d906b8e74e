/** Finding 14: usage that helps. */
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../trust/fixtures.js";
import { BIN, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("usage");
afterAll(remove);

describe("usage", () => {
  it("a missing argument or flag is named", () => {
    const arg = onex(dir, ["validate"]);
    expect(arg.code).toBe(2);
    expect(arg.stderr).toMatch(/^error ONEX_E_USAGE: Missing 1 required arg: version\b/);
    const flag = onex(dir, ["sign", "-"], "{}");
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/ONEX_E_USAGE: .*--key/);
  });

  it("an extra argument and an unknown flag are ONEX_E_USAGE", () => {
    const extra = onex(dir, ["validate", "v0.1", "a.json", "b.json"]);
    expect([extra.code, /ONEX_E_USAGE: Unexpected argument: b\.json/.test(extra.stderr)]).toEqual([2, true]);
    // A command that takes no arguments used to be looked up as "versions:extra" and fail outside the ONEX_E_ format.
    const none = onex(dir, ["versions", "extra"]);
    expect([none.code, none.stderr]).toEqual([2, 'error ONEX_E_USAGE: onex versions takes no arguments; unexpected "extra" (see `onex help versions`)\n']);
    const flag = onex(dir, ["validate", "v0.1", "--nope"]);
    expect([flag.code, flag.stderr.startsWith(`error ${ErrorCode.Usage}`)]).toEqual([2, true]);
  });

  it("a piece size a descriptor cannot have is ONEX_E_USAGE before anything connects", () => {
    const bad = onex(dir, ["artifact", "publish", "model.bin", "--name", "models/x", "--version", "1", "--key", "k.pem", "--zone", "z", "--piece-size", "1000"]);
    expect([bad.code, bad.stderr]).toEqual([2, "error ONEX_E_USAGE: --piece-size: piece_size 1000 is not a power of two from 16384 to 67108864\n"]);
  });

  it("a fetch that could never request a piece is ONEX_E_USAGE, not a wait for the stall", () => {
    for (const flag of ["--max-in-flight", "--per-peer"]) {
      const none = onex(dir, ["artifact", "fetch", "data/set@1", "--out", "x.bin", "--key", "k.pem", flag, "0"]);
      expect([none.code, none.stderr]).toEqual([2, expect.stringMatching(new RegExp(`^error ONEX_E_USAGE: Parsing ${flag}; Expected an integer greater than or equal to 1`))]);
    }
  });

  it("an unknown command gets ONEX_E_USAGE with a suggestion, also inside a topic", () => {
    const top = onex(dir, ["valdate", "v0.1"]);
    expect(top.code).toBe(2);
    expect(top.stderr).toBe('error ONEX_E_USAGE: unknown command "valdate"; did you mean "validate"? (see `onex help`)\n');
    const topic = onex(dir, ["grant", "isue"]);
    expect(topic.code).toBe(2);
    expect(topic.stderr).toContain('did you mean "grant issue"?');
    expect(onex(dir, ["zzzzzzzz"]).stderr).toBe('error ONEX_E_USAGE: unknown command "zzzzzzzz" (see `onex help`)\n');
  });

  it("onex help, help <command> and -h print help and exit 0", () => {
    for (const args of [["help"], ["-h"], ["help", "validate"], ["validate", "-h"], ["help", "grant", "issue"]]) {
      const run = onex(dir, args);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("USAGE");
    }
    expect(onex(dir, ["help", "validate"]).stdout).toContain("onex validate VERSION");
  });

  it("every topic has its own description, not its first command's summary", () => {
    const help = onex(dir, ["--help"]).stdout;
    expect(help).toMatch(/dlq\s+List, show and replay dead-lettered messages\./);
    expect(help).toMatch(/registry\s+Register, resolve, list and watch/);
    expect(help).toMatch(/streams\s+Create and update the JetStream streams/);
    expect(help).toMatch(/artifact\s+Publish, list and fetch/);
  });

  it("a command waiting on a terminal says so", () => {
    // script(1) gives the command a terminal as stdin; /dev/null ends it at once.
    const run = spawnSync("script", ["-qec", `${process.execPath} ${BIN} validate v0.1`, "/dev/null"], { cwd: dir, input: "", encoding: "utf8", timeout: 60_000 });
    expect(run.stdout).toContain("reading messages from the terminal; end with Ctrl-D");
  });
});
