/**
 * `onex migrate` hands batches to its workers in shared memory slots of fixed size (cli/migrate-pool.ts)
 * and falls back to memory of a batch's own when a batch is larger than a slot or its output
 * outgrows one. Lines of several hundred KB force both, between ordinary batches that use
 * the slots: the output must still be byte for byte that of one thread (`--workers 0`).
 */
import { afterAll, describe, expect, it } from "vitest";
import { scratch } from "../cli/cli-harness.js";
import { examples, expectSameOutput, onex } from "./migrate-harness.js";

const dispatch = examples.find((l) => l.includes('"type":"signal.task.dispatch"'))!;

const { dir, remove } = scratch("migrate-shared-slots");
afterAll(remove);

describe("onex migrate on workers, batches larger than a shared slot", () => {
  it("writes what one thread writes when lines are larger than a slot, alone or among ordinary ones", () => {
    const lines: string[] = [];
    for (let i = 0; i < 4_000; i++) {
      // Now and then a task whose input holds 300 or 600 KB: its batch, or its output, outgrows a slot.
      const big = i % 700 === 350 ? dispatch.replace('"input":{', `"input":{"blob":"${"é".repeat(150_000 + (i % 2) * 150_000)}",`) : undefined;
      lines.push(big ?? examples[i % examples.length]!.replace(/"id":"([0-9a-f-]{24})[0-9]{12}"/, (_m, p: string) => `"id":"${p}${String(i).padStart(12, "0")}"`));
    }
    const input = lines.join("\n") + "\n";
    const pooled = onex(dir, ["migrate", "v0.2", "v0.1", "-", "--workers", "2"], input);
    const alone = onex(dir, ["migrate", "v0.2", "v0.1", "-", "--workers", "0"], input);
    expect(pooled.code).toBe(0);
    expect(pooled.stderr).toContain("4000 read, 4000 written, 0 skipped, 0 dead-lettered");
    expectSameOutput(pooled.stdout, alone.stdout);
    expect(pooled.stdout.split("\n").filter((l) => l.includes('"blob"'))).toHaveLength(6);
  });
});
