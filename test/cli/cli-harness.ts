/** Running the built `onex` (after `npm run build`) in a scratch folder, with byte input, for the CLI tests. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/onex.js", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `onex ...args` in `cwd` to completion, with `env` added to the environment. */
export function onex(cwd: string, args: string[], input?: string | Buffer, env?: Record<string, string>): Run {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, input: input ?? "", encoding: "utf8", timeout: 120_000, ...(env === undefined ? {} : { env: { ...process.env, ...env } }) });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A fresh scratch folder and its removal. */
export function scratch(name: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `onex-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A valid v0.1 `signal.task.dispatch` created a second ago, as plain data. */
export function dispatch(n: number, extra: { input?: Record<string, unknown> } = {}): Record<string, unknown> {
  const now = Date.now();
  return {
    type: "signal.task.dispatch",
    id: `6f1c2a4e-1111-4000-8000-${String(n).padStart(12, "0")}`,
    time: new Date(now - 1000).toISOString(),
    protocol: { version: "0.1", compatible_with: ["0.0.9"], declared_by: "onex", schema_manifest_url: "https://onex.dev/schemas/v0.1/manifest.yaml" },
    source: { zone: "zone.trusted.org", entity_type: "node", entity_id: "node-a" },
    trust: { signer: "unset", level: "verified", zone: "zone.trusted.org", expires_at: new Date(now + 3_600_000).toISOString() },
    payload: { task_id: `t-${n}`, target: "node-b", action: "render", priority: 5, input: extra.input ?? { n } },
  };
}

/** No Node stack trace and no internal error in a command's output. */
export function assertNoCrash(run: Run): void {
  const text = run.stdout + run.stderr;
  if (/\n\s+at .+\(.*:\d+:\d+\)|ONEX_E_INTERNAL|Error: .*\n\s+at /.test(text)) throw new Error(`the command crashed:\n${text}`);
}
