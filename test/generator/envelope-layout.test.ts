/**
 * The envelope layout each version's manifest.ts emits is derived from what the manifest
 * already says: `auto` fields of kind `protocol`/`version` (the declared version) and `now`
 * (the creation time), and the subject params carrying the source address.
 */
import { describe, expect, it } from "vitest";
import { deriveEnvelopeLayout, jsonPointer } from "../../generator/envelope-layout.js";
import type { SubjectModel } from "../../generator/model.js";
import { ErrorCode } from "../../runtime/errors.js";

const subject = (key: string, params: Record<string, string[]>): SubjectModel => ({ key, template: "t", tokens: [], params });
const nested = subject("event", { zone_id: ["source", "zone"], entity_type: ["source", "entity_type"], entity_id: ["source", "entity_id"] });

describe("deriveEnvelopeLayout", () => {
  it("places the declared version, time, source and signature", () => {
    expect(deriveEnvelopeLayout({ id: "uuid", time: "now", protocol: "protocol" }, [nested], ["type", "id", "time", "protocol", "source", "trust", "payload"])).toEqual({
      declaredVersion: "/protocol/version",
      time: "/time",
      zone: "/source/zone",
      entityType: "/source/entity_type",
      entityId: "/source/entity_id",
      signature: "/trust/signature",
    });
    const flat = subject("event", { zone_id: ["zone"], entity_type: ["entity_type"], entity_id: ["entity_id"] });
    expect(deriveEnvelopeLayout({ timestamp: "now", protocol_version: "version" }, [flat], ["timestamp", "protocol_version", "zone", "trust"])).toMatchObject({ declaredVersion: "/protocol_version", time: "/timestamp", zone: "/zone" });
  });

  it("leaves out what the manifest does not place", () => {
    expect(deriveEnvelopeLayout({ id: "uuid" }, [subject("event", { x: ["x"] })], ["id", "x"])).toEqual({});
  });

  it("refuses two places for one fact", () => {
    const problems = deriveEnvelopeLayout({ a: "now", b: "now", v: "version", p: "protocol" }, [nested, subject("other", { zone_id: ["trust", "zone"] })], ["a", "b", "v", "p", "trust"]);
    expect(Array.isArray(problems)).toBe(true);
    expect((problems as { code: string; path: unknown[] }[]).map((p) => [p.code, p.path])).toEqual([
      [ErrorCode.ManifestInvalid, ["auto", "p"]],
      [ErrorCode.ManifestInvalid, ["auto", "b"]],
      [ErrorCode.SubjectParam, ["subjects", "other", "params", "zone_id"]],
    ]);
  });

  it("escapes pointer segments", () => {
    expect(jsonPointer(["a/b", "c~d"])).toBe("/a~1b/c~0d");
  });
});
