// `tail -f log | onex migrate v0.1 v0.2`: what a pipe has sent is migrated and written while the
// pipe stays open, not held until 256 KiB more arrive or the pipe closes (it looked like a hang).
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, dispatch, scratch } from "./cli-harness.js";

const { dir, remove } = scratch("live-pipe");
afterAll(remove);

/** Resolves with the lines on `stdout` once `count` have come. */
function linesOut(stdout: NodeJS.ReadableStream, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    let text = "";
    const read = (chunk: Buffer) => {
      text += chunk.toString();
      const lines = text.split("\n").filter((line) => line !== "");
      if (lines.length < count) return;
      stdout.off("data", read);
      resolve(lines);
    };
    stdout.on("data", read);
  });
}

describe("onex migrate reading a pipe that stays open", () => {
  for (const workers of ["0", "2"]) {
    it(`writes each message the pipe has sent before the pipe closes (--workers ${workers})`, async () => {
      const child = spawn(process.execPath, [BIN, "migrate", "v0.1", "v0.2", "-", "--workers", workers], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      // A first burst, then one line at a time, the pipe open throughout: each is read back migrated before the next is sent.
      const burst = Array.from({ length: 500 }, (_, n) => JSON.stringify(dispatch(n))).join("\n") + "\n";
      const seen = linesOut(child.stdout, 500);
      child.stdin.write(burst);
      const first = await seen;
      expect(first.map((line) => (JSON.parse(line) as { protocol: { version: string } }).protocol.version)).toEqual(Array(500).fill("0.2"));
      for (const n of [500, 501]) {
        const next = linesOut(child.stdout, 1);
        child.stdin.write(JSON.stringify(dispatch(n)) + "\n");
        expect((JSON.parse((await next)[0]!) as { payload: { task_id: string } }).payload.task_id).toBe(`t-${n}`);
      }
      child.stdin.end();
      expect(await exited).toBe(0);
    });
  }
});
