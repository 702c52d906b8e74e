/**
 * An escape function that never returns on some message must not make `onex migrate`
 * unkillable: transforms run on worker threads, so the command's thread answers SIGTERM and
 * SIGINT (exit 143, 130) and removes its temporary outputs. Before, the first messages (and
 * every message of a small input) were migrated on the command's thread, whose signal
 * handlers then never ran: only SIGKILL ended it, and `.out.<pid>-….tmp` files stayed.
 */
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, dispatch } from "../cli/cli-harness.js";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

const LOOPING_ID = "6f1c2a4e-1111-4000-8000-000000000002";

async function loopingProject(): Promise<{ root: string; schemas: string }> {
  const { root, schemas } = await copySchemas();
  await editFile(join(schemas, "v0.2", "from-v0.1.ts"), (t) =>
    t.replace(
      "export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n",
      `export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {\n  while (scope.id === "${LOOPING_ID}") { /* retry until resolvable */ }\n`,
    ),
  );
  expect(runCli(["generate", "--schemas", schemas, "--out", join(root, "generated")]).status).toBe(0);
  return { root, schemas };
}

/** Starts migrate, waits until it has made its temporary outputs and is busy in the loop, sends `signal`; its exit status, or "hung" after 10 s. */
async function migrateThenSignal(root: string, schemas: string, signal: NodeJS.Signals, extra: string[]): Promise<number | string> {
  const child = spawn(process.execPath, [BIN, "migrate", "v0.1", "v0.2", join(root, "in.ndjson"), "--schemas", schemas, "--out", join(root, "out.ndjson"), "--dead-letter", join(root, "dl.ndjson"), ...extra], { cwd: root, stdio: "ignore" });
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, sig) => resolve(code ?? String(sig))));
  // Its signal handlers are in place once its temporary outputs exist: a signal before that (a slow
  // start on a busy machine) ends it as any process ends, which is not what this tests.
  while (child.exitCode === null && !readdirSync(root).some((name) => name.startsWith(".out.ndjson.") && name.endsWith(".tmp"))) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  child.kill(signal);
  const status = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve("hung"), 10_000))]);
  if (status === "hung") child.kill("SIGKILL");
  return status;
}

describe("onex migrate with an escape function that never returns", () => {
  for (const [signal, status, extra] of [
    ["SIGTERM", 143, []],
    ["SIGINT", 130, ["--workers", "0"]],
  ] as const) {
    it(`ends on ${signal} (exit ${status}) and leaves no temporary file${extra.length > 0 ? `, with ${extra.join(" ")}` : ""}`, async () => {
      const { root, schemas } = await loopingProject();
      writeFileSync(join(root, "in.ndjson"), [1, 2, 3].map((n) => JSON.stringify(dispatch(n))).join("\n") + "\n");
      expect(await migrateThenSignal(root, schemas, signal, [...extra])).toBe(status);
      expect(readdirSync(root).filter((name) => name.endsWith(".tmp"))).toEqual([]);
      expect(readdirSync(root)).not.toContain("out.ndjson");
    }, 60_000);
  }
});

describe("onex migrate --message-timeout", () => {
  it("stops a message whose escape function runs past the limit and dead-letters it as ONEX_E_TRANSFORM_UNSOUND; the others are written in order", async () => {
    const { root, schemas } = await loopingProject();
    const input = [1, 2, 3, 4].map((n) => JSON.stringify(dispatch(n))).join("\n") + "\n";
    const letters = join(root, "dl.ndjson");
    const run = spawnSync(process.execPath, [BIN, "migrate", "v0.1", "v0.2", "-", "--schemas", schemas, "--dead-letter", letters, "--message-timeout", "1s"], { cwd: root, input, encoding: "utf8", timeout: 30_000 });
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([1, 3, 4].map((n) => dispatch(n).id));
    expect(run.stderr).toContain(`-:2: signal.task.dispatch ${ErrorCode.TransformUnsound}: the transform v0.1 -> v0.2 of signal.task.dispatch did not finish within 1000 ms on this message`);
    const lettered = readFileSync(letters, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { line: number; code: string; input: { id: string } });
    expect(lettered.map((l) => [l.line, l.code, l.input.id])).toEqual([[2, ErrorCode.TransformUnsound, LOOPING_ID]]);
  }, 90_000);
});
