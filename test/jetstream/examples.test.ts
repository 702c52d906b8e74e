// The control-plane example in docs/examples runs as the README says: a node registers and
// reports its state; an agent receives every message, verified.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

let server: NatsServer;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer();
  dir = await tempDir();
  expect(runCli(["streams", "apply", "--server", server.url]).status).toBe(0);
});
afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

function runExample(name: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["--import", "tsx", join(PROJECT_ROOT, "docs", "examples", "control-plane", `${name}.ts`)], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, NATS_URL: server.url, ONEX_EXAMPLE_DIR: dir, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
}

describe("docs/examples/control-plane", () => {
  it("the node publishes and the agent receives every message, verified", () => {
    const node = runExample("node");
    expect(node.stderr).toBe("");
    expect(node.stdout).toMatch(/^registered node-1 on jetstream\.onex\.zone\.zone~2Etrusted~2Eorg\.node\.node-1\.events/);
    const agent = runExample("agent", { EXAMPLE_COUNT: "4" });
    expect(agent.stderr).toBe("");
    expect(agent.stdout.trim().split("\n")).toEqual([
      "node node-1 registered at onex://zone.trusted.org/node/node-1",
      "node node-1 is idle",
      "node node-1 is busy",
      "node node-1 is idle",
    ]);
  });
});
