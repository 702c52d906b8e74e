/** Running the built `onex` command (tests that use it need `npm run build` first, as `npm test` does). */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT } from "./temp-schemas.js";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `onex ...args` to completion, optionally feeding stdin and with variables added to the environment; throws, with its stderr, if it is ended by a signal or does not finish (cannot start, runs past 60 s or prints too much). */
export function runCli(args: string[], options: { input?: string; cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const result = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "onex.js"), ...args], {
    cwd: options.cwd ?? PROJECT_ROOT,
    input: options.input ?? "",
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    encoding: "utf8",
    timeout: 60_000,
  });
  // No test expects onex to die by a signal: say which one and what it printed (a bare "expected null" tells nothing).
  if (result.signal !== null || result.error !== undefined) throw new Error(`onex ${args.join(" ")} ${result.error ? `did not finish: ${result.error.message}` : `was ended by ${result.signal}`}\nstderr:\n${result.stderr}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
