/**
 * A subscriber that imports only v0.1 meets a v0.0.9 message, whose envelope declares its
 * version where v0.1's does not (`protocol_version`): it cannot read the version, so the
 * message is judged and, when trusted, left to the subscribers that read it; a forgery is
 * dead-lettered. This file imports no other version, so v0.0.9's layout is not loaded.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as v0_1 from "../../generated/v0.1/index.js";
import { ErrorCode } from "../../runtime/errors.js";
import type { TransportMessageClass } from "../../runtime/protocol-sdk.js";
import { typedPipeline, type Outcome } from "../../runtime/receive/pipeline.js";
import { declaredVersionOf } from "../../runtime/trust/envelope.js";
import { generateKeyPair, keyRing } from "../../runtime/trust/keys.js";
import { DEFAULT_TRUST_POLICY } from "../../runtime/trust/policy.js";
import { signMessage } from "../../runtime/trust/sign-message.js";
import { PROJECT_ROOT } from "../support/temp-schemas.js";

const key = generateKeyPair();
const stranger = generateKeyPair();
const oldest = readFileSync(join(PROJECT_ROOT, "docs", "examples", "v0.0.9.ndjson"), "utf8").split("\n").find((line) => line.includes('"signal.state.update"'))!;
const message = { ...(JSON.parse(oldest) as Record<string, unknown>), timestamp: new Date().toISOString(), trust: { signer: "k", level: "high", zone: "zone.trusted.org", expires_at: new Date(Date.now() + 3_600_000).toISOString() } };
const receive = (body: object) =>
  typedPipeline([v0_1.StateUpdate] as unknown as readonly TransportMessageClass[], { context: { keys: keyRing([key.publicKey]), zone: "zone.trusted.org" }, policy: DEFAULT_TRUST_POLICY }).receive({
    data: new TextEncoder().encode(JSON.stringify(body)),
    subject: v0_1.StateUpdate.create({ source: { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" }, trust: { signer: "k", level: "verified", zone: "zone.trusted.org", expires_at: new Date(Date.now() + 60_000).toISOString() }, payload: { state: "idle" } }).subject(),
    storedAs: "S#1",
    // As onex's publisher sends it: headers naming the type and the version, which no loaded layout can check here.
    typeHeader: "signal.state.update",
    versionHeader: "0.0.9",
  });
const codeOf = (outcome: Outcome) => (outcome.kind === "reject" ? outcome.error.code : outcome.kind);

describe("a message whose version no loaded layout reads", () => {
  it("is skipped when its signer is trusted, and dead-lettered with its trust failure when not", () => {
    expect(declaredVersionOf(message)).toBeUndefined();
    expect(codeOf(receive(signMessage(message, key)))).toBe("skip");
    expect(codeOf(receive(signMessage(message, stranger)))).toBe(ErrorCode.SignerUnknown);
  });
});
