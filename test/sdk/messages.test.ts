import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as v0_0_9 from "../../generated/v0.0.9/index.js";
import * as v0_1 from "../../generated/v0.1/index.js";
import * as v0_2 from "../../generated/v0.2/index.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { decodeInput } from "../../runtime/message.js";

const trust = { signer: "key-1", level: "basic", zone: "zone.trusted.org", expires_at: "2026-12-01T00:00:00Z" } as const;
const source = { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" } as const;

describe("generated message classes", () => {
  it("create fills in the envelope and validates", () => {
    const msg = v0_1.NodeFailed.create({ source, trust, payload: { node_id: "n-1", reason: "disk full", severity: "error" } });
    expect(msg.type).toBe("event.node.failed");
    expect(msg.protocol).toEqual(v0_1.protocolBlock());
    expect(msg.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(msg.time)).not.toBeNaN();
    expect(msg.payload.reason).toBe("disk full");
  });

  it("encode and parse are inverses, and parse accepts bytes, strings and objects", () => {
    const msg = v0_1.StateUpdate.create({ source, trust, payload: { state: "idle" } });
    const bytes = msg.encode();
    for (const input of [bytes, new TextDecoder().decode(bytes), JSON.parse(new TextDecoder().decode(bytes)) as object]) {
      const back = v0_1.StateUpdate.parse(input);
      expect(back).toBeInstanceOf(v0_1.StateUpdate);
      expect(back.toJSON()).toEqual(msg.toJSON());
    }
  });

  it("parse reports the failing schema path with a stable code", () => {
    const bad = { ...v0_1.StateUpdate.create({ source, trust, payload: { state: "idle" } }).toJSON(), payload: { state: "asleep" } };
    const error = catchError(() => v0_1.StateUpdate.parse(bad));
    expect(error.code).toBe(ErrorCode.ValidationFailed);
    expect(error.details.instancePath).toBe("/payload/state");
    expect(String(error.details.schemaPath)).toContain("enum");
  });

  it("create rejects values the schema forbids", () => {
    const error = catchError(() => v0_1.NodeFailed.create({ source: { ...source, zone: "Not A Zone" }, trust, payload: { node_id: "n", reason: "r", severity: "error" } }));
    expect(error.code).toBe(ErrorCode.ValidationFailed);
    expect(error.details.instancePath).toBe("/source/zone");
  });

  it("create given no object (null from a config, a string, a number) is ONEX_E_VALIDATION, not a TypeError", () => {
    for (const fields of [null, undefined, "x".repeat(100_000), 42]) {
      for (const create of [v0_1.StateUpdate.create, v0_2.TaskDispatch.create]) expect(catchError(() => create(fields as never)).code, String(fields).slice(0, 20)).toBe(ErrorCode.ValidationFailed);
    }
  });

  it("create fills in a field left out or undefined, but refuses a null one instead of replacing it", () => {
    const filled = v0_2.StateUpdate.create({ source, trust: { ...trust, level: "verified" }, payload: { state: "idle" }, id: undefined });
    expect(filled.id).toMatch(/^[0-9a-f-]{36}$/);
    // `type` too, as a spread of plain data with it cleared gives it (it overwrote the class's type, and validation refused the message).
    expect(v0_2.StateUpdate.create({ source, trust: { ...trust, level: "verified" }, payload: { state: "idle" }, type: undefined } as never).type).toBe("signal.state.update");
    expect(catchError(() => v0_2.StateUpdate.create({ source, trust: { ...trust, level: "verified" }, payload: { state: "idle" }, type: null } as never)).details.instancePath).toBe("/type");
    // A null from a config or a JSON document is the caller's value: it was silently swapped for a fresh one.
    for (const field of ["id", "time", "protocol"] as const) {
      const error = catchError(() => v0_2.StateUpdate.create({ source, trust: { ...trust, level: "verified" }, payload: { state: "idle" }, [field]: null as never }));
      expect([error.code, error.details.instancePath], field).toEqual([ErrorCode.ValidationFailed, `/${field}`]);
    }
    // v0.0.9's flat envelope fills in fields of other names the same way.
    for (const field of ["timestamp", "protocol_version"]) {
      const fields = { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1", trust: { ...trust, level: "high" }, payload: { state: "idle" }, [field]: null };
      const error = catchError(() => v0_0_9.StateUpdate.create(fields as never));
      expect([error.code, error.details.instancePath], field).toEqual([ErrorCode.ValidationFailed, `/${field}`]);
    }
  });

  it("parse rejects invalid JSON and invalid UTF-8 with ONEX_E_JSON_SYNTAX", () => {
    expect(catchError(() => v0_1.StateUpdate.parse("{nope")).code).toBe(ErrorCode.JsonSyntax);
    expect(catchError(() => v0_1.StateUpdate.parse(new Uint8Array([0xff, 0xfe]))).code).toBe(ErrorCode.JsonSyntax);
  });

  it("parse and parseMessage ignore one leading byte order mark in bytes and in a string alike; a second one, or one elsewhere, is ONEX_E_JSON_SYNTAX", () => {
    const msg = v0_1.StateUpdate.create({ source, trust, payload: { state: "idle" } });
    const text = new TextDecoder().decode(msg.encode());
    const utf8 = (s: string) => new TextEncoder().encode(s);
    // A file read as text (readFileSync(f, "utf8")) keeps its BOM: it was refused as a string and accepted as bytes.
    for (const input of [utf8("\ufeff" + text), "\ufeff" + text]) {
      expect(v0_1.StateUpdate.parse(input).toJSON()).toEqual(msg.toJSON());
      expect(v0_1.parseMessage(input)).toBeInstanceOf(v0_1.StateUpdate);
    }
    for (const bad of ["\ufeff\ufeff" + text, " \ufeff" + text, text.replace(",", ",\ufeff")]) {
      for (const input of [utf8(bad), bad]) expect(catchError(() => v0_1.StateUpdate.parse(input)).code).toBe(ErrorCode.JsonSyntax);
    }
  });

  it("fuzz: a text and its UTF-8 bytes decode alike, byte order marks anywhere in them or not", () => {
    const outcome = (input: string | Uint8Array) => {
      try {
        return { value: decodeInput(input, "0.1") };
      } catch (error) {
        return { code: (error as OnexError).code };
      }
    };
    const piece = fc.oneof(fc.json({ maxDepth: 2 }), fc.constantFrom("\ufeff", " ", "{", "}", "[", "]", ",", ":", '"', "1"));
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 4 }), (pieces) => {
        const text = pieces.join("");
        expect(outcome(new TextEncoder().encode(text))).toEqual(outcome(text));
      }),
      { numRuns: 500 },
    );
  });

  it("parseMessage dispatches on type and rejects unknown types", () => {
    const msg = v0_2.AgentStopped.create({ source, trust: { ...trust, level: "verified" }, payload: { agent_id: "a", node_id: "n" } });
    const parsed = v0_2.parseMessage(msg.encode());
    expect(parsed).toBeInstanceOf(v0_2.AgentStopped);
    expect(catchError(() => v0_1.parseMessage(msg.encode())).code).toBe(ErrorCode.UnknownType);
    expect(catchError(() => v0_1.parseMessage({})).code).toBe(ErrorCode.UnknownType);
  });

  it("static metadata names type, version and schema id", () => {
    expect(v0_2.TaskDispatch.type).toBe("signal.task.dispatch");
    expect(v0_2.TaskDispatch.version).toBe("0.2");
    expect(v0_2.TaskDispatch.schemaId).toBe("https://onex.dev/schemas/v0.2/TaskDispatch.json");
    expect(Object.keys(v0_2.messageClasses)).toContain("event.agent.stopped");
    expect(Object.keys(v0_1.messageClasses)).not.toContain("event.agent.stopped");
  });

  it("a message knows its subject, and the subject parses back", () => {
    const msg = v0_1.StateUpdate.create({ source, trust, payload: { state: "busy" } });
    expect(msg.subject()).toBe("jetstream.onex.zone.zone~2Etrusted~2Eorg.node.n-1.events");
    expect(v0_1.parseEventSubject(msg.subject())).toEqual({ zone_id: "zone.trusted.org", entity_type: "node", entity_id: "n-1" });
  });
});

function catchError(fn: () => unknown): OnexError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OnexError) return error;
    throw error;
  }
  throw new Error("expected an OnexError");
}
