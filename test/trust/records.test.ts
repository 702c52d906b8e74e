/**
 * The runtime's trust record types mirror the manifest's record schemas. This file fails
 * the typecheck (`tsc -p tsconfig.json`) when a schema changes and the runtime does not.
 */
import { describe, expectTypeOf, it } from "vitest";
import type * as v0_0_9 from "../../generated/v0.0.9/index.js";
import type * as v0_1 from "../../generated/v0.1/index.js";
import type * as v0_2 from "../../generated/v0.2/index.js";
import type { AgentKeyRecord, ExecutionAttestationRecord, NodeIdentityRecord, RegistryEntryRecord, SessionGrantRecord } from "../../runtime/trust/records.js";

describe("trust record types match the generated record types", () => {
  it("v0.1", () => {
    expectTypeOf<AgentKeyRecord>().toEqualTypeOf<v0_1.AgentKey>();
    expectTypeOf<NodeIdentityRecord>().toEqualTypeOf<v0_1.NodeIdentity>();
    expectTypeOf<RegistryEntryRecord>().toEqualTypeOf<v0_1.RegistryEntry>();
    expectTypeOf<SessionGrantRecord>().toEqualTypeOf<v0_1.SessionGrant>();
    expectTypeOf<ExecutionAttestationRecord>().toEqualTypeOf<v0_1.ExecutionAttestation>();
  });

  it("v0.2", () => {
    expectTypeOf<AgentKeyRecord>().toEqualTypeOf<v0_2.AgentKey>();
    expectTypeOf<NodeIdentityRecord>().toEqualTypeOf<v0_2.NodeIdentity>();
    expectTypeOf<RegistryEntryRecord>().toEqualTypeOf<v0_2.RegistryEntry>();
    expectTypeOf<SessionGrantRecord>().toEqualTypeOf<v0_2.SessionGrant>();
    expectTypeOf<ExecutionAttestationRecord>().toEqualTypeOf<v0_2.ExecutionAttestation>();
  });

  it("v0.0.9 (which has no grants or attestations)", () => {
    expectTypeOf<AgentKeyRecord>().toEqualTypeOf<v0_0_9.AgentKey>();
    expectTypeOf<NodeIdentityRecord>().toEqualTypeOf<v0_0_9.NodeIdentity>();
    expectTypeOf<RegistryEntryRecord>().toEqualTypeOf<v0_0_9.RegistryEntry>();
  });
});
