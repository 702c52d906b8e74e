/** The residue protocol on hand-picked messages: what a downgrade keeps, and entries that only look like residue. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { migrate, migrateV0_2ToV0_1, migrateV0_1ToV0_2 } from "../../generated/transforms/index.js";
import type * as V01 from "../../generated/v0.1/types.js";
import type * as V02 from "../../generated/v0.2/types.js";
import { parseJson, stringifyJson } from "../../runtime/json-text.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const envelope02 = {
  id: "9b2f8a57-5b8e-4a53-9e43-1b1f4f7f0a10",
  time: "2025-01-01T00:00:00Z",
  protocol: { version: "0.2", compatible_with: ["0.1"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.2/manifest.yaml" },
  source: { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" },
  trust: { signer: "k1", level: "verified", zone: "zone.trusted.org", expires_at: "2026-01-01T00:00:00Z" },
} as const;

const stateUpdate = (state: V02.StateUpdate["payload"]["state"], residue?: V02.StateUpdate["_residue"]): V02.StateUpdate => ({
  ...envelope02,
  protocol: { ...envelope02.protocol, compatible_with: ["0.1"] },
  source: { ...envelope02.source },
  trust: { ...envelope02.trust },
  type: "signal.state.update",
  payload: { state },
  ...(residue ? { _residue: residue } : {}),
});

describe("residue", () => {
  it("keeps a value the older enum cannot hold, keyed by the version it belongs to", () => {
    const down = migrateV0_2ToV0_1.stateUpdate(stateUpdate("degraded"));
    expect(down.payload.state).toBe("busy");
    expect(down._residue).toEqual({ "0.2": { "/payload/state": "degraded" } });
    expect(down.protocol).toEqual({ version: "0.1", compatible_with: ["0.0.9"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.1/manifest.yaml" });
    expect(migrateV0_1ToV0_2.stateUpdate(down)).toEqual(stateUpdate("degraded"));
  });

  it("writes no residue when the older version can say it all", () => {
    const down = migrateV0_2ToV0_1.stateUpdate(stateUpdate("running"));
    expect(down.payload.state).toBe("busy");
    expect(down).not.toHaveProperty("_residue");
  });

  it("leaves an entry that only looks like residue untouched in both directions", () => {
    // `running` is not what the downgrade of an `idle` message would keep, so the upgrade must not apply it.
    const old = { ...migrateV0_2ToV0_1.stateUpdate(stateUpdate("idle")), _residue: { "0.2": { "/payload/state": "running" } } } as V01.StateUpdate;
    const up = migrateV0_1ToV0_2.stateUpdate(old);
    expect(up.payload.state).toBe("idle");
    expect(up._residue).toEqual({ "0.2": { "/payload/state": "running" } });
    expect(migrateV0_2ToV0_1.stateUpdate(up)).toEqual(old);
  });

  it("nests an entry the message already carried under `_prior`", () => {
    const carried = { "0.2": { note: "from an earlier hop" }, other: { x: 1 } };
    const down = migrateV0_2ToV0_1.stateUpdate(stateUpdate("degraded", carried));
    expect(down._residue).toEqual({ "0.2": { "/payload/state": "degraded", _prior: { note: "from an earlier hop" } }, other: { x: 1 } });
    expect(migrateV0_1ToV0_2.stateUpdate(down)).toEqual(stateUpdate("degraded", carried));
  });

  it("remembers an empty `_residue` with `_keep`", () => {
    const down = migrateV0_2ToV0_1.stateUpdate(stateUpdate("degraded", {}));
    expect(down._residue).toEqual({ "0.2": { "/payload/state": "degraded", _keep: true } });
    expect(migrateV0_1ToV0_2.stateUpdate(down)).toEqual(stateUpdate("degraded", {}));
  });

  it("composes v0.2 -> v0.0.9 with one entry per version the data belongs to", () => {
    const m = stateUpdate("degraded");
    const oldest = migrate(m, "0.2", "0.0.9");
    expect(oldest).toMatchObject({ protocol_version: "0.0.9", zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1", timestamp: "2025-01-01T00:00:00Z" });
    expect((oldest.trust as { level: string }).level).toBe("low");
    expect(oldest._residue).toEqual({ "0.2": { "/payload/state": "degraded" }, "0.1": { "/trust/level": "verified" } });
    expect(migrate(oldest, "0.0.9", "0.2")).toEqual(m);
  });

  it("restores a dropped member holding an integer beyond 2^53, as migrate reads it (BigInt), digit for digit", async () => {
    const examples = await readFile(join(PROJECT_ROOT, "docs", "examples", "v0.2.ndjson"), "utf8");
    const dispatch = examples.split("\n").find((line) => line.includes('"signal.task.dispatch"') && line.includes('"backoff_ms":'))!;
    const text = dispatch.replace(/"backoff_ms":\d+/, '"backoff_ms":9007199254740993');
    const message = parseJson(text, { bigIntegers: "bigint" });
    const down = migrate(message, "0.2", "0.1");
    // v0.1 has no retry: the member travels in the residue.
    expect(stringifyJson(down._residue)).toContain('"backoff_ms":9007199254740993');
    const back = migrate(parseJson(stringifyJson(down), { bigIntegers: "bigint" }), "0.1", "0.2");
    expect(back).toEqual(message);
  });
});
