/**
 * A message holding a string that escapes a lone surrogate (`"\ud800"`) is a bad message like any
 * other: validate and migrate judged it so (exit 1), while sign and verify, which end on its code,
 * exited 3, "an input file is broken". All four now agree on 1, and verify's line for such input
 * (no message read: no type, no id) shows one "-" as validate's and migrate's do, not "- -".
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeFor } from "../../cli/exit-codes.js";
import { ErrorCode } from "../trust/fixtures.js";
import { assertNoCrash, dispatch, onex, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("lone-surrogate");
afterAll(remove);

/** A v0.1 dispatch whose payload holds `"a\ud800b"`, escaped as JSON text escapes it. */
const lone = JSON.stringify(dispatch(1, { input: { s: "LONE" } })).replace('"LONE"', '"a\\ud800b"');

beforeAll(() => {
  expect(onex(dir, ["keygen", "--out", "k"]).code).toBe(0);
  writeFileSync(join(dir, "lone.ndjson"), `${lone}\n`);
});

describe("a message with a lone surrogate", () => {
  it("is exit 1 with ONEX_E_CANONICAL_JSON at its line in validate, migrate, sign and verify alike", () => {
    const runs = {
      validate: onex(dir, ["validate", "v0.1", "lone.ndjson"]),
      migrate: onex(dir, ["migrate", "v0.1", "v0.2", "lone.ndjson"]),
      sign: onex(dir, ["sign", "lone.ndjson", "--key", "k.key"]),
      verify: onex(dir, ["verify", "lone.ndjson", "--key", "k.pub"]),
    };
    for (const [command, run] of Object.entries(runs)) {
      assertNoCrash(run);
      expect([command, run.code]).toEqual([command, 1]);
      // `file:line: type CODE: ...` (validate, migrate, verify) or `error CODE: file:line: ...` (sign, which stops there).
      expect([command, run.stdout + run.stderr]).toEqual([command, expect.stringMatching(/lone\.ndjson:1: .*ONEX_E_CANONICAL_JSON: .*lone UTF-16 surrogate|ONEX_E_CANONICAL_JSON: lone\.ndjson:1: .*lone UTF-16 surrogate/)]);
    }
    // The same condition as a line that is no JSON: one exit status for both.
    expect(exitCodeFor(ErrorCode.CanonicalJson)).toBe(exitCodeFor(ErrorCode.JsonSyntax));
  });

  it("is reported by verify as unreadable input: one '-' where a message's type and id would stand, as validate and migrate print it", () => {
    writeFileSync(join(dir, "unreadable.ndjson"), `${lone}\n{not json\n`);
    const verify = onex(dir, ["verify", "unreadable.ndjson", "--key", "k.pub"]);
    expect(verify.code).toBe(1);
    const lines = verify.stdout.trim().split("\n");
    expect(lines).toEqual([expect.stringMatching(/^unreadable\.ndjson:1: - ONEX_E_CANONICAL_JSON: not valid JSON at line 1 column \d+: a string escapes a lone UTF-16 surrogate/), expect.stringMatching(/^unreadable\.ndjson:2: - ONEX_E_JSON_SYNTAX: /)]);
    expect(verify.stdout).not.toContain("- -");
    const validate = onex(dir, ["validate", "v0.1", "unreadable.ndjson"]);
    expect(validate.stdout).toMatch(/^unreadable\.ndjson:1: - ONEX_E_CANONICAL_JSON: /);
    // A message that was read keeps its two columns: its type, and "-" for the id it lacks.
    const noId = onex(dir, ["verify", "-", "--key", "k.pub"], JSON.stringify({ type: "signal.task.dispatch" }));
    expect(noId.stdout).toMatch(/^-:1: signal\.task\.dispatch - ONEX_E_/);
  });

  it("in a grants file is exit 1 too, as a grants file that is no JSON is", () => {
    writeFileSync(join(dir, "grants-lone.json"), '{"grant":"\\udc00"}');
    writeFileSync(join(dir, "grants-broken.json"), '{"grant":');
    const signed = onex(dir, ["sign", "-", "--key", "k.key"], JSON.stringify(dispatch(2)));
    expect(signed.code).toBe(0);
    for (const [grants, code] of [["grants-lone.json", ErrorCode.CanonicalJson], ["grants-broken.json", ErrorCode.JsonSyntax]] as const) {
      const run = onex(dir, ["verify", "-", "--key", "k.pub", "--authority", "zone.trusted.org=k.pub", "--grants", grants], signed.stdout);
      assertNoCrash(run);
      expect([grants, run.code, run.stderr]).toEqual([grants, 1, expect.stringContaining(`error ${code}: the grants file ${grants}`)]);
    }
  });
});
