import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";

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
    expect(result.stderr).toContain("replay: onex check --seed 7");
  });
});
