/** Finding 6: `onex verify` reports replays and stale or future times, never echoes control characters; policy names are checked. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTrustPolicy } from "../../runtime/trust/policy.js";
import { catchOnexError, ErrorCode } from "../trust/fixtures.js";
import { dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("verify");
afterAll(remove);
let signed: string;
beforeAll(() => {
  expect(onex(dir, ["keygen", "--out", "k"]).code).toBe(0);
  signed = onex(dir, ["sign", "-", "--key", "k.key"], JSON.stringify(dispatch(1))).stdout.trim();
});

describe("onex verify", () => {
  it("rejects the same message twice in its input with ONEX_E_REPLAY", () => {
    writeFileSync(join(dir, "twice.ndjson"), `${signed}\n${signed}\n`);
    const run = onex(dir, ["verify", "twice.ndjson", "--key", "k.pub", "--json"]);
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ line: 1, accepted: true });
    expect(lines[1]).toMatchObject({ line: 2, accepted: false, code: ErrorCode.Replay, reason: "duplicate" });
  });

  it("rejects a message created before the replay window, or in the future, with ONEX_E_REPLAY", () => {
    const later = onex(dir, ["verify", "-", "--key", "k.pub", "--json", "--at", new Date(Date.now() + 10 * 60_000).toISOString()], signed);
    expect(JSON.parse(later.stdout.split("\n")[0]!)).toMatchObject({ accepted: false, code: ErrorCode.Replay, reason: "stale" });
    const earlier = onex(dir, ["verify", "-", "--key", "k.pub", "--json", "--at", new Date(Date.now() - 10 * 60_000).toISOString()], signed);
    expect(JSON.parse(earlier.stdout.split("\n")[0]!)).toMatchObject({ accepted: false, code: ErrorCode.Replay, reason: "future" });
    const wide = onex(dir, ["verify", "-", "--key", "k.pub", "--json", "--replay-window", "1h", "--at", new Date(Date.now() + 10 * 60_000).toISOString()], signed);
    expect(JSON.parse(wide.stdout.split("\n")[0]!)).toMatchObject({ accepted: true });
  });

  it("never prints a message's control characters: a forged id cannot add an OK line or a terminal escape", () => {
    const evil = { ...dispatch(2), id: "x\nforged.ndjson:9: OK signal.task.dispatch fake\u001b[2K\u009b31m\u202e" };
    const evilSigned = onex(dir, ["sign", "-", "--key", "k.key"], JSON.stringify(evil)).stdout;
    for (const json of [false, true]) {
      const run = onex(dir, ["verify", "-", "--key", "k.pub", ...(json ? ["--json"] : [])], evilSigned);
      expect(run.stdout.trim().split("\n")).toHaveLength(json ? 2 : 1);
      expect(run.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      if (!json) expect(run.stdout).toContain("\\u{1b}");
    }
  });

  it("an authority needs a zone, and a grant from zone.a's authority does not count in zone.b", () => {
    expect(onex(dir, ["keygen", "--out", "a"]).code).toBe(0);
    expect(onex(dir, ["keygen", "--out", "b"]).code).toBe(0);
    const keyId = onex(dir, ["keygen", "--out", "n"]).stdout.trim();
    const crossZone = onex(dir, ["grant", "issue", "--key", "a.key", "--subject", keyId, "--zone", "zone.a", "--in-zone", "zone.b", "--type", "*", "--expires-in", "1h"]);
    expect(crossZone.code).toBe(2);
    expect(crossZone.stderr).toContain(ErrorCode.Usage);
    const grant = onex(dir, ["grant", "issue", "--key", "a.key", "--subject", keyId, "--zone", "zone.a", "--type", "*", "--expires-in", "1h", "--out", "grant.json"]);
    expect(grant.code).toBe(0);
    const message = { ...dispatch(3), source: { zone: "zone.b", entity_type: "node", entity_id: "node-a" }, trust: { ...(dispatch(3).trust as object), zone: "zone.b" } };
    const inB = onex(dir, ["sign", "-", "--key", "n.key"], JSON.stringify(message)).stdout;
    const bare = onex(dir, ["verify", "-", "--key", "n.pub", "--authority", "a.pub", "--grants", "grant.json"], inB);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/ONEX_E_USAGE: --authority a\.pub names no zone/);
    const run = onex(dir, ["verify", "-", "--key", "n.pub", "--zone", "zone.b", "--authority", "zone.a=a.pub", "--authority", "zone.b=b.pub", "--grants", "grant.json", "--json"], inB);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout.split("\n")[0]!)).toMatchObject({ accepted: false, code: ErrorCode.GrantInvalid });
  });
});

describe("policy names", () => {
  it("__proto__, constructor and repeated names are refused, not silently ignored", () => {
    expect(catchOnexError(() => parseTrustPolicy("__proto__=off")).code).toBe(ErrorCode.PolicyInvalid);
    expect(catchOnexError(() => parseTrustPolicy("constructor=off")).code).toBe(ErrorCode.PolicyInvalid);
    expect(catchOnexError(() => parseTrustPolicy("signature=off,signature=strict")).code).toBe(ErrorCode.PolicyInvalid);
    const run = onex(dir, ["verify", "-", "--key", "k.pub", "--policy", "__proto__=off"], signed);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(ErrorCode.PolicyInvalid);
  });
});
