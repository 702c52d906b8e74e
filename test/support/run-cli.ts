/** Running the built `onex` command (tests that use it need `npm run build` first, as `npm test` does). */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT } from "./temp-schemas.js";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `onex ...args` to completion, optionally feeding stdin and with variables added to the environment. */
export function runCli(args: string[], options: { input?: string; cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const result = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "onex.js"), ...args], {
    cwd: options.cwd ?? PROJECT_ROOT,
    input: options.input ?? "",
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
