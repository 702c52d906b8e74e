// Packs onex as npm would publish it, installs the tarball into a fresh project, and
// compiles a consumer with `tsc --strict` — the way users meet the SDK.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

const CONSUMER = `
import { OnexError, isOnexError } from "@onex/runtime";
import * as v0_0_9 from "@onex/sdk/v0.0.9";
import * as v0_1 from "@onex/sdk/v0.1";
import * as v0_2 from "@onex/sdk/v0.2";

const source = { zone: "zone.trusted.org", entity_type: "node", entity_id: "n-1" } as const;
const expires_at = "2030-01-01T00:00:00Z";

const a = v0_1.NodeFailed.create({
  source,
  trust: { signer: "k1", level: "verified", zone: "zone.trusted.org", expires_at },
  payload: { node_id: "n-1", reason: "disk full", severity: "fatal" },
});
const b = v0_2.AgentStopped.create({
  source,
  trust: { signer: "k1", level: "trusted", zone: "zone.trusted.org", expires_at },
  payload: { agent_id: "a-1", node_id: "n-1", exit_code: 0 },
});
const c = v0_0_9.AgentStarted.create({
  zone: "zone.trusted.org", entity_type: "agent", entity_id: "a-1",
  trust: { signer: "k1", level: "high", zone: "zone.trusted.org", expires_at },
  payload: { agent_id: "a-1", node_id: "n-1", capability: "gpu" },
});

const back: v0_1.NodeFailed = v0_1.NodeFailed.parse(a.encode());
const severity: "warning" | "error" | "fatal" = back.payload.severity;
const any: v0_2.AnyMessage = v0_2.parseMessage(b.encode());
const parts: v0_1.EventSubjectParts = v0_1.parseEventSubject(a.subject());

// Never called: these lines only have to (fail to) compile.
export function compileTimeChecks(): void {
  // @ts-expect-error a field the schema does not have is a compile error
  v0_1.StateUpdate.create({ source, trust: { signer: "k", level: "basic", zone: "z", expires_at }, payload: { state: "idle", mood: "happy" } });
  // @ts-expect-error an enum value of another version is a compile error
  v0_1.StateUpdate.create({ source, trust: { signer: "k", level: "basic", zone: "z", expires_at }, payload: { state: "running" } });
  // @ts-expect-error v0.0.9 has no \`source\` object
  v0_0_9.StateUpdate.create({ source, trust: { signer: "k", level: "low", zone: "z", expires_at }, payload: { state: "idle" } });
}

let code = "none";
try {
  v0_1.StateUpdate.parse("{}");
} catch (error) {
  if (isOnexError(error)) code = error.code;
}
console.log(JSON.stringify({
  a: a.type, b: any.type, c: c.protocol_version, severity, zone: parts.zone_id, code,
  requireDefined: typeof (globalThis as { require?: unknown }).require !== "undefined", isError: new OnexError("ONEX_E_USAGE", "x") instanceof Error,
}));
`;

let project: string;

beforeAll(async () => {
  const packDir = await tempDir("onex-pack-");
  // dist/ is already built by the test command; skip prepare so packing stays fast.
  execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", packDir], { cwd: PROJECT_ROOT, stdio: "pipe" });
  const tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith(".tgz"))!);
  project = await tempDir("onex-consumer-");
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", tarball, "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts"], { cwd: project, stdio: "pipe" });
  await mkdir(join(project, "src"));
  await writeFile(join(project, "src", "main.ts"), CONSUMER);
  // The TypeScript examples of the README and docs compile against the package as shipped.
  for (const doc of ["README.md", ...readdirSync(join(PROJECT_ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]) {
    const text = await readFile(join(PROJECT_ROOT, doc), "utf8");
    const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    for (const [i, block] of blocks.entries()) {
      await writeFile(join(project, "src", `${doc.replace(/\W/g, "-")}-${i}.ts`), `${block}\nexport {};\n`);
    }
  }
  await writeFile(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", outDir: "out", skipLibCheck: true },
      include: ["src"],
    }),
  );
}, 240_000);

afterAll(removeTempDirs);

describe("the packed SDK in a fresh project", () => {
  it("compiles under tsc --strict (with the README's and docs' examples), wrong fields rejected at compile time", () => {
    const tsc = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", project, "--strict"], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  }, 120_000);

  it("runs as pure ESM: creates, encodes, parses and builds subjects of every version", () => {
    const result = spawnSync(process.execPath, [join(project, "out", "main.js")], { cwd: project, encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({
      a: "event.node.failed",
      b: "event.agent.stopped",
      c: "0.0.9",
      severity: "fatal",
      zone: "zone.trusted.org",
      code: "ONEX_E_VALIDATION",
      requireDefined: false,
      isError: true,
    });
  });

  it("loads through require() in a CommonJS consumer (Node's require(esm), unflagged from 20.19 and 22.12, as the README says)", async () => {
    const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
    const unflagged = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
    await writeFile(
      join(project, "main.cjs"),
      `const { TaskDispatch } = require("@onex/sdk/v0.2");\nconst { ErrorCode } = require("@onex/runtime");\nconsole.log(JSON.stringify({ type: TaskDispatch.type, code: ErrorCode.ValidationFailed }));\n`,
    );
    const result = spawnSync(process.execPath, [join(project, "main.cjs")], { cwd: project, encoding: "utf8" });
    if (!unflagged) {
      expect(result.stderr).toContain("ERR_REQUIRE_ESM");
      return;
    }
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ type: "signal.task.dispatch", code: "ONEX_E_VALIDATION" });
  });

  it("ships the onex command", () => {
    const result = spawnSync(process.execPath, [join(project, "node_modules", "onex", "bin", "onex.js"), "--help"], { encoding: "utf8" });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("generate");
  });
});
