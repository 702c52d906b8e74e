import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dispatch } from "../cli/cli-harness.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";
import { trimToV02 } from "../support/v03-from-v02.js";

afterAll(removeTempDirs);

describe("onex check", () => {
  it("fails with ONEX_E_TRANSFORM_UNSOUND when a transform lets through what the target rejects", async () => {
    // v0.1 now allows priorities up to 99, but the v0.1 -> v0.2 transform still copies the
    // value into v0.2, whose maximum is 9.
    const { root, schemas } = await copySchemas();
    await editFile(join(schemas, "v0.1", "messages", "task-dispatch.yaml"), (t) => t.replace("    maximum: 9\n", "    maximum: 99\n"));
    // check runs on the transforms generated from these schemas: an edit not yet generated is ONEX_E_SDK_STALE.
    const stale = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "10"]);
    expect(stale.status).toBe(3);
    expect(stale.stderr).toContain(`error ${ErrorCode.SdkStale}:`);
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const result = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "300", "--seed", "7"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`error ${ErrorCode.TransformUnsound}: signal.task.dispatch v0.1 -> v0.2`);
    expect(result.stderr).toContain("/payload/priority");
    // The sample and the replay command each on a line of their own, not escaped into the message's line.
    expect(result.stderr).toMatch(/\n {2}sample: \{.*\}\n(.*\n)* {2}replay: onex check --seed 7\n/);
    expect(result.stderr).not.toContain("\\u{a}");
  });
});

describe("onex check on an escape function that throws", () => {
  it("fails with ONEX_E_TRANSFORM_UNSOUND and the sample, not as an internal error", async () => {
    const { root, schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "from-v0.1.ts"), (t) => t.replace("/** v0.2 `protocol` block -> v0.1 block. */\nexport function protocolDown(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n", '/** v0.2 `protocol` block -> v0.1 block. */\nexport function protocolDown(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n  if (scope.type === "signal.state.update") throw new Error("boom");\n'));
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const result = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "3", "--seed", "5"]);
    expect([result.status, result.stderr]).toEqual([1, expect.stringContaining(`error ${ErrorCode.TransformUnsound}: signal.state.update v0.2 -> v0.1: the transform failed: boom`)]);
    expect(result.stderr).toContain("replay: onex check --seed 5");
  });
});

describe("wrap and head of an array that may be empty", () => {
  it("round-trips the empty array through the residue when the single field may be left out", async () => {
    const { root, schemas } = await copySchemas();
    // Edited up to v0.2 only: a version after it, still requiring a target, would be a step the edit breaks.
    await trimToV02(schemas);
    // Both versions may leave the field out, and v0.2 may list no targets: [] has no head, so v0.1 leaves it out and keeps [] aside.
    await editFile(join(schemas, "v0.1", "messages", "task-dispatch.yaml"), (t) => t.replace("required: [task_id, target, action, priority]", "required: [task_id, action, priority]"));
    await editFile(join(schemas, "v0.0.9", "messages", "task-dispatch.yaml"), (t) => t.replace("required: [task_id, target, action]", "required: [task_id, action]"));
    await editFile(join(schemas, "v0.2", "messages", "task-dispatch.yaml"), (t) => t.replace("    minItems: 1\n", "    minItems: 0\n").replace("required: [task_id, targets, operation, priority]", "required: [task_id, operation, priority]"));
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const result = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "200", "--seed", "11"]);
    expect([result.status, result.stderr]).toEqual([0, expect.stringContaining("transforms sound")]);
    const v02 = runCli(["migrate", "v0.1", "v0.2", "-", "--schemas", join(root, "schemas")], { input: JSON.stringify(dispatch(1)) + "\n" });
    const up = JSON.parse(v02.stdout) as { payload: { targets: string[] } };
    up.payload.targets = [];
    const down = runCli(["migrate", "v0.2", "v0.1", "-", "--schemas", join(root, "schemas")], { input: JSON.stringify(up) + "\n" });
    expect(down.status).toBe(0);
    expect((JSON.parse(down.stdout) as { payload: Record<string, unknown> }).payload.target).toBeUndefined();
    const back = runCli(["migrate", "v0.1", "v0.2", "-", "--schemas", join(root, "schemas")], { input: down.stdout });
    expect(JSON.parse(back.stdout)).toEqual(up);
  }, 120_000);
});

describe("onex migrate on a transform that is wrong for some messages", () => {
  it("refuses each message a transform made invalid for the target, or failed on, with its line; the others are written", async () => {
    const { root, schemas } = await copySchemas();
    // As above: v0.1 allows priorities up to 99, v0.2 only up to 9, and the transform copies the value.
    await editFile(join(schemas, "v0.1", "messages", "task-dispatch.yaml"), (t) => t.replace("    maximum: 9\n", "    maximum: 99\n"));
    // And an escape function that fails on one message.
    await editFile(join(schemas, "v0.2", "from-v0.1.ts"), (t) =>
      t.replace("  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);\n  return undefined;\n}\n\n/** v0.2", '  if (scope.id === "6f1c2a4e-1111-4000-8000-000000000003") throw new Error("cannot convert this one");\n  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);\n  return undefined;\n}\n\n/** v0.2'),
    );
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const messages = [1, 2, 3, 4].map((n) => dispatch(n));
    (messages[1]!.payload as { priority: number }).priority = 50;
    const input = messages.map((m) => JSON.stringify(m)).join("\n") + "\n";
    const letters = join(root, "letters.ndjson");
    const run = runCli(["migrate", "v0.1", "v0.2", "-", "--schemas", join(root, "schemas"), "--dead-letter", letters], { input });
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([messages[0]!.id, messages[3]!.id]);
    expect(run.stderr).toContain(`-:2: signal.task.dispatch ${ErrorCode.TransformUnsound}: the transforms from v0.1 made a message v0.2 refuses: signal.task.dispatch (v0.2): /payload/priority`);
    expect(run.stderr).toContain(`-:3: signal.task.dispatch ${ErrorCode.TransformUnsound}: the transform v0.1 -> v0.2 of signal.task.dispatch failed on this message: cannot convert this one`);
    const lettered = readFileSync(letters, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { line: number; code: string; input: unknown });
    expect(lettered.map((l) => [l.line, l.code])).toEqual([[2, ErrorCode.TransformUnsound], [3, ErrorCode.TransformUnsound]]);
    expect(lettered.map((l) => l.input)).toEqual([messages[1], messages[2]]);
  });
});

describe("an escape function that writes into a value it was passed", () => {
  it("fails onex check, which runs transforms on frozen samples; migrate still checks a member it replaced", async () => {
    const { root, schemas } = await copySchemas();
    // `source` has the same schema in v0.1 and v0.2, so migrate takes it unchecked when the
    // step passes it on as it read it: writing into it in place would go unseen there.
    await editFile(join(schemas, "v0.2", "from-v0.1.ts"), (t) =>
      t.replace(
        "export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n",
        'export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n  if (scope.id === "6f1c2a4e-1111-4000-8000-000000000002") scope.source = { zone: "NOT A ZONE" };\n  else (scope.source as JsonObject).zone = String((scope.source as JsonObject).zone);\n',
      ),
    );
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const check = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "3", "--seed", "5"]);
    expect(check.status).toBe(1);
    expect(check.stderr).toMatch(/v0\.1 -> v0\.2: the transform failed: Cannot assign to read only property 'zone' .*\(a transform must not write into a value it was passed: copy it, change the copy\)/);
    // A member replaced by another value is checked in full, as any member the step changed.
    const input = [1, 2, 3].map((n) => JSON.stringify(dispatch(n))).join("\n") + "\n";
    const run = runCli(["migrate", "v0.1", "v0.2", "-", "--schemas", join(root, "schemas"), "--on-error", "skip"], { input });
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([dispatch(1).id, dispatch(3).id]);
    expect(run.stderr).toContain(`-:2: signal.task.dispatch ${ErrorCode.TransformUnsound}: the transforms from v0.1 made a message v0.2 refuses: signal.task.dispatch (v0.2): /source`);
  });
});

describe("a step's output check on a message holding an integer beyond 2^53", () => {
  it("refuses what the target refuses once the integer is read as a number, as the full check does", async () => {
    const { root, schemas } = await copySchemas();
    // `seq` has the same schema in both versions, so the output check leaves it out; v0.2 refuses
    // any message whose `seq` is above 1000, which only a number (not a BigInt) shows.
    const seq = "  seq:\n    type: integer\n";
    await editFile(join(schemas, "v0.1", "envelope.yaml"), (t) => t + seq);
    await editFile(join(schemas, "v0.2", "envelope.yaml"), (t) => t + seq + "if:\n  required: [seq]\n  properties:\n    seq: { type: integer, minimum: 1001 }\nthen: false\n");
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const started = readFileSync(join(PROJECT_ROOT, "docs/examples/v0.1.ndjson"), "utf8").split("\n").find((line) => line.includes('"event.agent.started"'))!;
    const input = [started.replace(/}$/, ',"seq":5}'), started.replace(/}$/, ',"seq":1152921504606846976}')].join("\n") + "\n";
    const run = runCli(["migrate", "v0.1", "v0.2", "-", "--schemas", join(root, "schemas"), "--on-error", "skip"], { input });
    expect(run.stdout.trim().split("\n")).toHaveLength(1);
    expect(run.stdout).toContain('"seq":5}');
    expect(run.stderr).toContain(`-:2: event.agent.started ${ErrorCode.TransformUnsound}: the transforms from v0.1 made a message v0.2 refuses`);
  });
});

describe("onex check on an escape function that never returns", () => {
  // Before, the check ran transforms on its own thread: it never ended (only a signal stopped it).
  it("stops the check at --message-timeout with ONEX_E_TRANSFORM_UNSOUND naming the function and the step", async () => {
    const { root, schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "from-v0.1.ts"), (t) =>
      t.replace(
        "export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n",
        "export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n  for (;;) { /* never returns */ }\n",
      ),
    );
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const result = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "5", "--seed", "3", "--message-timeout", "1s"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`error ${ErrorCode.TransformUnsound}: \\S+ v0\\.1 -> v0\\.2: the transform did not finish within 1000 ms on a sample \\(escape function protocolUp of schemas/v0\\.2/from-v0\\.1\\.ts never returned\\?\\)`));
    expect(result.stderr).toContain("replay: onex check --seed 3");
  }, 120_000);

  it("stops a check whose escape-function file never finishes loading (a loop at its top level) at --message-timeout", async () => {
    const { root, schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "from-v0.1.ts"), (t) => `${t}\nlet spin = 0;\nwhile (spin >= 0) spin++;\n`);
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const result = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "1", "--message-timeout", "1s"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`error ${ErrorCode.TransformUnsound}: loading the transforms did not finish within 1000 ms`);
  }, 120_000);

  it("says a functions module that throws at its top level is the transforms' fault (ONEX_E_TRANSFORM_UNSOUND, no stack), in check and in migrate", async () => {
    const { root, schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "from-v0.1.ts"), (t) => `${t}
throw new Error("boom at load");
`);
    expect(runCli(["generate", "--schemas", join(root, "schemas"), "--out", join(root, "generated")]).status).toBe(0);
    const said = `error ${ErrorCode.TransformUnsound}: loading the transforms ran their functions modules' top-level code, which threw: boom at load\n`;
    const check = runCli(["check", "--schemas", join(root, "schemas"), "--samples", "1"]);
    expect([check.status, check.stderr]).toEqual([1, said]);
    const migrate = runCli(["migrate", "v0.1", "v0.2", "-", "--schemas", join(root, "schemas")], { input: JSON.stringify(dispatch(1)) + "\n" });
    expect([migrate.status, migrate.stdout, migrate.stderr]).toEqual([1, "", said]);
  }, 120_000);

  it("has the flag migrate has, with its default", () => {
    const help = runCli(["check", "--help"]);
    expect(help.stdout).toMatch(/--message-timeout=<value>\s+\[default: 10s\]/);
  });
});
