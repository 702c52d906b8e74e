/**
 * The runtime checks zone names with one rule (runtime/zone-id.ts) for every version: the
 * zones `onex nats-auth`, `streams apply` and the `--zone` flags accept are those a message
 * can carry. Each bundled version's own validator is asked here, at the zone its envelope
 * layout locates, whether it takes a zone; it must answer as the rule does, so a version whose
 * schemas allowed other spellings would fail this test rather than leave its zones refused.
 */
import fc from "fast-check";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exampleMessage } from "../../generator/examples/example-message.js";
import { loadVersion } from "../../generator/load-version.js";
import type { MessageClass } from "../../runtime/message.js";
import type { ProtocolSdk } from "../../runtime/protocol-sdk.js";
import { isZoneId } from "../../runtime/zone-id.js";
import { BUNDLED_VERSIONS } from "../support/bundled-versions.js";
import { withAt } from "../support/json-paths.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const label = (n: number) => "a".repeat(n);
/** Near the rule's edges: case, `_`, empty and edge labels, `-` at either end, length 253 and 254, non-ASCII. */
const EDGES = [
  "zone.trusted.org",
  "a",
  "0",
  "a-b.c1",
  "x--y",
  `${label(63)}.${label(63)}.${label(63)}.${label(61)}`,
  `${label(63)}.${label(63)}.${label(63)}.${label(62)}`,
  "Zone.A",
  "zone_a",
  "zone.a_MEMBERS",
  "zone..a",
  ".zone",
  "zone.",
  "-zone",
  "zone-",
  "zone.-a",
  "zone a",
  "zöne",
  "zone~2Ea",
  "zone*",
  "",
];
const nearZones = fc.string({ unit: fc.constantFrom("a", "z", "0", "9", ".", "-", "_", "A", " ", "é"), maxLength: 12 });

describe.each(BUNDLED_VERSIONS)("the zones v%s messages can carry", (version) => {
  it("are exactly those the runtime's zone rule accepts", async () => {
    const sdk = (await import(/* @vite-ignore */ join(PROJECT_ROOT, "generated", `v${version}`, "index.js"))) as ProtocolSdk;
    const { model } = await loadVersion(join(PROJECT_ROOT, "schemas"), `v${version}`, PROJECT_ROOT);
    const { type, name } = model.messages[0]!;
    const cls = sdk.messageClasses[type] as MessageClass;
    const example = exampleMessage(model, name);
    const path = sdk.envelope.zone!.split("/").slice(1);
    expect(cls.validate(example)).toBe(true);
    const carries = (zone: string) => cls.validate(withAt(example, path, zone));
    expect(EDGES.map((zone) => [zone, carries(zone)])).toEqual(EDGES.map((zone) => [zone, isZoneId(zone)]));
    fc.assert(
      fc.property(nearZones, (zone) => carries(zone) === isZoneId(zone)),
      { seed: 20261205, numRuns: 500 },
    );
  });
});
