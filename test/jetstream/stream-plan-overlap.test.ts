/**
 * A version that adds a subject template whose subjects another template also matches (a v0.3
 * `job` template ending in `.events`, say): every zone would get two streams for one subject.
 * The server refused the second only after the first streams were made, and a message on such
 * a subject was stored by whichever stream the server had; the plan now refuses it up front.
 */
import { describe, expect, it } from "vitest";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import { planStreams } from "../../runtime/jetstream/streams.js";
import type { ProtocolSdk, SubjectTemplate } from "../../runtime/protocol-sdk.js";

const event = v0_2.subjectTemplates.event as SubjectTemplate;

/** v0.2 grown by one template, `key`, built like `event` but for the literal token where `event` has `.events`. */
function grownBy(key: string, template: string, suffix: string): ProtocolSdk {
  const added: SubjectTemplate = { ...event, key, template, filter: (parts) => event.filter(parts).replace(/\.events$/, suffix) };
  return { ...(v0_2 as unknown as ProtocolSdk), version: "0.3", subjectTemplates: { ...v0_2.subjectTemplates, [key]: added } };
}

describe("streams whose subjects would overlap", () => {
  it("are refused before anything is sent, naming both streams, shared or per zone", () => {
    const overlapping = grownBy("job", "jetstream.onex.zone.{zone_id}.{entity_type}.{entity_id}.events", ".events");
    for (const zones of [[], ["zone.a", "zone.b"]]) {
      let caught: unknown;
      try {
        planStreams([v0_2 as unknown as ProtocolSdk, overlapping], {}, {}, zones);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: ErrorCode.StreamConfig, details: { streams: zones.length === 0 ? ["ONEX_EVENT", "ONEX_JOB"] : ["ONEX_EVENT~zone~2Ea", "ONEX_JOB~zone~2Ea"] } });
    }
  });

  it("a template whose subjects are dead letters' is refused too: its messages would be stored, and listed, as letters", () => {
    const letters: SubjectTemplate = { ...event, key: "letters", template: "onex.dlq.{zone_id}.{entity_type}.{entity_id}", filter: (parts) => event.filter(parts).replace(/^jetstream\.onex\.zone\./, "onex.dlq.").replace(/\.events$/, "") };
    const grown: ProtocolSdk = { ...(v0_2 as unknown as ProtocolSdk), version: "0.3", subjectTemplates: { ...v0_2.subjectTemplates, letters } };
    for (const [zones, streams] of [
      [[], ["ONEX_DLQ", "ONEX_LETTERS"]],
      [["zone.a"], ["ONEX_DLQ~zone~2Ea", "ONEX_LETTERS~zone~2Ea"]],
    ] as const) {
      let caught: unknown;
      try {
        planStreams([v0_2 as unknown as ProtocolSdk, grown], {}, {}, zones);
      } catch (error) {
        caught = error;
      }
      const { code, details } = caught as { code: string; details: { streams: string[] } };
      expect([code, [...details.streams].sort()]).toEqual([ErrorCode.StreamConfig, streams]);
    }
  });

  it("a template with subjects of its own gets its streams beside the others", () => {
    const disjoint = grownBy("task", "jetstream.onex.zone.{zone_id}.{entity_type}.{entity_id}.tasks", ".tasks");
    const names = planStreams([v0_2 as unknown as ProtocolSdk, disjoint], {}, {}, ["zone.a"]).map((p) => [p.name, p.subjects]);
    expect(names).toEqual([
      ["ONEX_DLQ", ["onex.dlq.~.>"]],
      ["ONEX_DLQ~zone~2Ea", ["onex.dlq.zone~2Ea.>"]],
      ["ONEX_EVENT~zone~2Ea", ["jetstream.onex.zone.zone~2Ea.*.*.events"]],
      ["ONEX_TASK~zone~2Ea", ["jetstream.onex.zone.zone~2Ea.*.*.tasks"]],
    ]);
  });
});
