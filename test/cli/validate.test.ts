import { describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";

const good = v0_1.StateUpdate.create({
  source: { zone: "zone.a", entity_type: "node", entity_id: "n-1" },
  trust: { signer: "k", level: "basic", zone: "zone.a", expires_at: "2027-01-01T00:00:00Z" },
  payload: { state: "idle" },
});
const line = JSON.stringify(good);

describe("onex validate", () => {
  it("accepts valid NDJSON from stdin and exits 0", () => {
    const result = runCli(["validate", "v0.1", "-"], { input: `${line}\n${line}\n` });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("2 message(s) checked against v0.1: 2 valid, 0 invalid");
  });

  it("reports one line per failure with line number, type, schema path and code, and exits 1", () => {
    const badState = JSON.stringify({ ...good.toJSON(), payload: { state: "asleep" } });
    const input = [line, "", badState, "{not json", JSON.stringify({ type: "event.unknown.thing" })].join("\n");
    const result = runCli(["validate", "0.1"], { input });
    expect(result.status).toBe(1);
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^-:3: signal\.state\.update \S*enum ONEX_E_VALIDATION: /);
    expect(lines[1]).toMatch(/^-:4: - ONEX_E_JSON_SYNTAX: /);
    expect(lines[2]).toMatch(/^-:5: event\.unknown\.thing ONEX_E_UNKNOWN_TYPE: /);
    expect(result.stderr).toContain("4 message(s) checked against v0.1: 1 valid, 3 invalid");
  });

  it("reads a pretty-printed JSON document and a JSON array", () => {
    const pretty = JSON.stringify(good, null, 2);
    expect(runCli(["validate", "v0.1"], { input: pretty }).status).toBe(0);
    const array = JSON.stringify([good, good], null, 2);
    const result = runCli(["validate", "v0.1"], { input: array });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("2 message(s) checked");
  });

  it("--json prints failures and the summary as data", () => {
    const result = runCli(["validate", "v0.2", "--json"], { input: line });
    expect(result.status).toBe(1);
    const [failure, summary] = result.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(failure).toMatchObject({ line: 1, type: "signal.state.update", code: ErrorCode.ValidationFailed });
    expect(summary).toEqual({ checked: 1, valid: 0, invalid: 1, version: "0.2" });
  });

  it("an unknown version is a usage error (exit 2); a missing file is exit 3", () => {
    const unknown = runCli(["validate", "v9.9"], { input: line });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain(ErrorCode.UnknownVersion);
    const missing = runCli(["validate", "v0.1", "/nonexistent/messages.ndjson"]);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain(ErrorCode.FileNotFound);
  });
});
