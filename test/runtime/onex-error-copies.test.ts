/**
 * Two copies of @onex/runtime in one process (a service's own and its SDK's, in two node_modules
 * folders) each have their own OnexError class. An error made by one copy was no OnexError to the
 * other: `isOnexError` said false and `instanceof` failed, so a service (or the runtime itself,
 * catching what the SDK's copy threw) handled a typed failure as an unknown crash. Each copy here
 * is runtime/errors.ts loaded under a query string of its own, which the module loader keeps as a
 * separate module with its own class.
 */
import { describe, expect, it } from "vitest";

type ErrorsModule = typeof import("../../runtime/errors.js");

/** runtime/errors.ts as a module of its own, kept apart from every other load of it by `copy`. */
const load = (copy: string): Promise<ErrorsModule> => import(/* @vite-ignore */ new URL(`../../runtime/errors.ts?copy=${copy}`, import.meta.url).href);
const copyA = await load("a");
const copyB = await load("b");

describe("an OnexError of another copy of the runtime", () => {
  it("is two copies with two classes (the premise of the test)", () => {
    expect(copyA.OnexError).not.toBe(copyB.OnexError);
  });

  it("is recognised by isOnexError and instanceof of the other copy, with or without its code", () => {
    const error = new copyA.OnexError(copyA.ErrorCode.ValidationFailed, "payload.state must be one of idle, busy", { instancePath: "/payload/state" });
    expect(copyB.isOnexError(error)).toBe(true);
    expect(copyB.isOnexError(error, copyB.ErrorCode.ValidationFailed)).toBe(true);
    expect(copyB.isOnexError(error, copyB.ErrorCode.Usage)).toBe(false);
    expect(error instanceof copyB.OnexError).toBe(true);
    // And the other way round.
    const back = new copyB.OnexError(copyB.ErrorCode.NoStream, "no stream accepts subject a.b");
    expect(copyA.isOnexError(back, copyA.ErrorCode.NoStream)).toBe(true);
    expect(back instanceof copyA.OnexError).toBe(true);
  });

  it("keeps what a handler reads of it: code, message, details, location, cause", () => {
    const cause = new Error("underneath");
    const error: unknown = new copyA.OnexError(copyA.ErrorCode.JsonSyntax, "unexpected end", { file: "log.ndjson", line: 3, column: 7 }, { cause });
    if (!copyB.isOnexError(error)) throw new Error("not recognised");
    expect([error.code, error.message, error.details.line, error.location, error.cause]).toEqual([copyA.ErrorCode.JsonSyntax, "unexpected end", 3, "log.ndjson:3:7", cause]);
  });

  it("is recognised for a code the other copy does not know (a newer release's)", () => {
    const newer = new copyA.OnexError("ONEX_E_SOMETHING_NEW" as never, "a failure of a later release");
    expect(copyB.isOnexError(newer)).toBe(true);
  });

  it("lets nothing else pass: plain objects, other errors, an error without a code spelt as codes are", () => {
    const brand = Symbol.for("@onex/runtime.OnexError");
    const fakes: [string, unknown][] = [
      ["null", null],
      ["a string", "ONEX_E_USAGE"],
      ["a plain object with a code", { name: "OnexError", code: "ONEX_E_USAGE", message: "m", details: {} }],
      ["a plain object with the mark", { [brand]: true, code: "ONEX_E_USAGE", message: "m", details: {} }],
      ["an Error with a code", Object.assign(new Error("m"), { name: "OnexError", code: "ONEX_E_USAGE", details: {} })],
      ["a marked Error with no code", Object.assign(new Error("m"), { [brand]: true, details: {} })],
      ["a marked Error with a code of another spelling", Object.assign(new Error("m"), { [brand]: true, code: "ERR_INVALID_ARG_TYPE", details: {} })],
      ["a marked Error without details", Object.assign(new Error("m"), { [brand]: true, code: "ONEX_E_USAGE" })],
      ["an object made from the other copy's prototype", Object.create(copyA.OnexError.prototype)],
    ];
    for (const [label, value] of fakes) {
      expect([label, copyB.isOnexError(value)]).toEqual([label, false]);
      expect([label, value instanceof copyB.OnexError]).toEqual([label, false]);
    }
  });

  it("does not show the mark in a spread, Object.keys or JSON", () => {
    const error = new copyA.OnexError(copyA.ErrorCode.Usage, "m", { a: 1 });
    expect(Object.getOwnPropertySymbols(error)).toEqual([]);
    expect(Object.getOwnPropertySymbols({ ...error })).toEqual([]);
    expect(JSON.parse(JSON.stringify(error))).toEqual({ name: "OnexError", code: copyA.ErrorCode.Usage, details: { a: 1 } });
  });

  it("leaves instanceof of a class of one's own that extends OnexError to the prototype chain", () => {
    class Narrower extends copyB.OnexError {}
    expect(new Narrower(copyB.ErrorCode.Usage, "m") instanceof Narrower).toBe(true);
    expect(new copyB.OnexError(copyB.ErrorCode.Usage, "m") instanceof Narrower).toBe(false);
    expect(new copyA.OnexError(copyA.ErrorCode.Usage, "m") instanceof Narrower).toBe(false);
  });
});
