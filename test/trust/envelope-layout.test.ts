/**
 * The runtime reads envelopes only through the layouts generated SDKs emit: v0.0.9's flat
 * `zone`/`entity_id`/`timestamp`/`protocol_version` and v0.2's nested `source`/`time`/
 * `protocol` are read the same way, from `envelope` in each version's manifest.ts, and a
 * layout the runtime has never seen (a version with yet another shape) works the moment its
 * SDK registers it.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { versions } from "../../generated/versions.js";
import { ErrorCode } from "../../runtime/errors.js";
import {
  createdAtOf,
  declaredVersionOf,
  envelopeLayoutOf,
  envelopeLayouts,
  envelopeSourceFields,
  registerEnvelopeLayout,
  sourceEntityOf,
  sourceZoneOf,
  unsignedEnvelope,
  type Envelope,
} from "../../runtime/trust/envelope.js";
import { canonicalize } from "../../runtime/trust/canonical-json.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { judge } from "../../runtime/trust/policy.js";
import { checkZone, signMessage, verifyMessage } from "../../runtime/trust/sign-message.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";
import { catchOnexError, NOW } from "./fixtures.js";

const ZONE = "zone.trusted.org";
const TIME = new Date(NOW - 1000).toISOString();
const TRUST = { signer: "k", zone: ZONE, expires_at: "2026-12-31T00:00:00Z" };

const flat = () =>
  v0_0_9.StateUpdate.create({ timestamp: TIME, zone: ZONE, entity_type: "node", entity_id: "n-old", trust: { ...TRUST, level: "high" }, payload: { state: "idle" } }).toJSON() as Envelope;
const nested = () =>
  v0_2.StateUpdate.create({ time: TIME, source: { zone: ZONE, entity_type: "node", entity_id: "n-new" }, trust: { ...TRUST, level: "verified" }, payload: { state: "idle" } }).toJSON() as Envelope;

describe("envelope layouts from generated code", () => {
  it("every generated version exports its layout, and loading the SDK registers it", async () => {
    for (const load of Object.values(versions)) {
      const sdk = (await load()) as { version: string; envelope: { version: string } };
      expect(sdk.envelope.version).toBe(sdk.version);
      expect(envelopeLayouts()).toContainEqual(sdk.envelope);
    }
    expect(v0_0_9.envelope).toMatchObject({ declaredVersion: "/protocol_version", time: "/timestamp", zone: "/zone", entityType: "/entity_type", entityId: "/entity_id", signature: "/trust/signature" });
    expect(v0_2.envelope).toMatchObject({ declaredVersion: "/protocol/version", time: "/time", zone: "/source/zone", entityType: "/source/entity_type", entityId: "/source/entity_id" });
    expect(Object.isFrozen(v0_1.envelope)).toBe(true);
  });

  it("reads a v0.0.9 envelope through v0.0.9's layout", () => {
    const data = flat();
    expect(envelopeLayoutOf(data)).toBe(v0_0_9.envelope);
    expect(declaredVersionOf(data)).toBe("0.0.9");
    expect(sourceZoneOf(data)).toBe(ZONE);
    expect(sourceEntityOf(data)).toBe("n-old");
    expect(createdAtOf(data)).toBe(NOW - 1000);
  });

  it("reads a v0.2 envelope through v0.2's layout", () => {
    const data = nested();
    expect(envelopeLayoutOf(data)).toBe(v0_2.envelope);
    expect(declaredVersionOf(data)).toBe("0.2");
    expect(sourceZoneOf(data)).toBe(ZONE);
    expect(sourceEntityOf(data)).toBe("n-new");
    expect(createdAtOf(data)).toBe(NOW - 1000);
  });

  it("checks the zone a v0.0.9 message claims, and signs and verifies both shapes", () => {
    const key = generateKeyPair();
    expect(catchOnexError(() => checkZone({ ...flat(), zone: "zone.other.org" })).code).toBe(ErrorCode.ZoneMismatch);
    expect(catchOnexError(() => checkZone({ ...nested(), source: { zone: "zone.other.org", entity_type: "node", entity_id: "n" } })).code).toBe(ErrorCode.ZoneMismatch);
    for (const data of [flat(), nested()]) {
      const signed = signMessage(data, key);
      expect(verifyMessage(signed, { keys: keyRing([key.publicKey]), zone: ZONE, now: NOW }).keyId).toBe(key.keyId);
      expect(unsignedEnvelope(signed).trust).not.toHaveProperty("signature");
      // origin_check reads the source entity where the version keeps it.
      const verdict = judge(signed, { keys: keyRing([key.publicKey]), now: NOW, keyOfEntity: (id) => (id === sourceEntityOf(data) ? key.keyId : undefined) });
      expect(verdict.warnings).toEqual([]);
    }
  });

  it("leaves out the signature alone: members named __proto__ stay data, the message is not changed", () => {
    const data = JSON.parse('{"__proto__":{"x":1},"type":"signal.state.update","protocol":{"version":"0.1"},"trust":{"__proto__":"t","signer":"k","signature":"ed25519:x","level":"basic"},"payload":{}}') as Envelope;
    const before = canonicalize(data);
    const unsigned = unsignedEnvelope(data);
    expect(canonicalize(unsigned)).toBe('{"__proto__":{"x":1},"payload":{},"protocol":{"version":"0.1"},"trust":{"__proto__":"t","level":"basic","signer":"k"},"type":"signal.state.update"}');
    expect(Object.getPrototypeOf(unsigned.trust)).toBe(Object.prototype);
    expect(canonicalize(data)).toBe(before);
  });

  it("reads a message of a version it does not know with the newest layout under which it declares one", () => {
    const data = { ...nested(), protocol: { ...(nested().protocol as object), version: "9.9" } } as Envelope;
    expect(declaredVersionOf(data)).toBe("9.9");
    expect(sourceEntityOf(data)).toBe("n-new");
  });

  it("reads a shape it has never seen once a layout for it is registered", () => {
    const layout = registerEnvelopeLayout({ version: "7.0", declaredVersion: "/meta/spec", time: "/meta/at", zone: "/from/realm", entityType: "/from/kind", entityId: "/from/name", signature: "/seal/sig" });
    const data = { type: "signal.state.update", meta: { spec: "7.0", at: TIME }, from: { realm: ZONE, kind: "node", name: "n-7" }, seal: { sig: "ed25519:x" }, trust: { ...TRUST, level: "basic" }, payload: {} } as unknown as Envelope;
    expect(envelopeLayoutOf(data)).toBe(layout);
    expect([declaredVersionOf(data), sourceZoneOf(data), sourceEntityOf(data), createdAtOf(data)]).toEqual(["7.0", ZONE, "n-7", NOW - 1000]);
    expect(unsignedEnvelope(data)).not.toHaveProperty("seal.sig");
    expect(envelopeSourceFields(layout, { zone: ZONE, entityType: "node", entityId: "n-7" })).toEqual({ from: { realm: ZONE, kind: "node", name: "n-7" } });
    // Registering an SDK does not disturb the versions already known.
    expect(envelopeLayoutOf(flat())).toBe(v0_0_9.envelope);
  });

  it("places a source address where each version's layout says", () => {
    const source = { zone: ZONE, entityType: "agent", entityId: "a-1" };
    expect(envelopeSourceFields(v0_0_9.envelope, source)).toEqual({ zone: ZONE, entity_type: "agent", entity_id: "a-1" });
    expect(envelopeSourceFields(v0_2.envelope, source)).toEqual({ source: { zone: ZONE, entity_type: "agent", entity_id: "a-1" } });
    expect(catchOnexError(() => envelopeSourceFields({ version: "7.1", declaredVersion: "/v" }, source)).code).toBe(ErrorCode.SdkMismatch);
  });

  it("refuses to judge a zone when no SDK is loaded, rather than letting an unread zone pass (built runtime, fresh process)", () => {
    const runtime = pathToFileURL(join(PROJECT_ROOT, "runtime", "dist", "index.js")).href;
    const sdk = pathToFileURL(join(PROJECT_ROOT, "generated", "dist", "v0.1", "index.js")).href;
    const script = (load: string) =>
      `${load}const { checkZone } = await import(${JSON.stringify(runtime)});
       try { checkZone({ source: { zone: "zone.a.org", entity_type: "node", entity_id: "n" }, protocol: { version: "0.1" }, trust: { zone: "zone.b.org" } }); console.log("passed"); }
       catch (error) { console.log(error.code); }`;
    const run = (load: string) => spawnSync(process.execPath, ["--input-type=module", "-e", script(load)], { encoding: "utf8" }).stdout.trim();
    expect(run("")).toBe(ErrorCode.UnknownVersion);
    expect(run(`await import(${JSON.stringify(sdk)});\n`)).toBe(ErrorCode.ZoneMismatch);
  });
});
