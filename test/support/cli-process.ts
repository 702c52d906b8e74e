/**
 * The built `onex` command as a background process, for tests where it must run beside
 * servers or peers living in the test process (a synchronous run would block them) or keep
 * running while the test acts. Needs `npm run build` first, as `npm test` does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT } from "./temp-schemas.js";

/** A running `onex` process. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit status (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGINT, then waits for the exit. */
  stop(): Promise<number | null>;
}

/** Starts `onex ...args` in the background (`nodeArgs`: options for node itself, such as --cpu-prof). */
export function startCli(args: string[], options: { input?: string; nodeArgs?: readonly string[] } = {}): CliProcess {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(PROJECT_ROOT, "bin", "onex.js"), ...args], { cwd: PROJECT_ROOT, stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  if (options.input !== undefined) child.stdin!.end(options.input);
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      return exited;
    },
  };
}

/** Runs `onex ...args` to the end without blocking the test process (several can run at once). */
export async function runCliAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args);
  const status = await cli.exited;
  return { status, stdout: cli.stdout(), stderr: cli.stderr() };
}

/**
 * Waits until `test` holds for the process's output, or it exits first (then throws with what
 * it said). Asked again as each piece of output arrives, not on a timer: bench:artifact times
 * its swarm fetchers to the line they print, and polling every 50 ms added up to 50 ms to each
 * round of theirs and nothing to the plain downloads it times to their exit.
 */
export async function waitForOutput(cli: CliProcess, test: (stdout: string, stderr: string) => boolean, timeoutMs = 30_000): Promise<void> {
  const { child } = cli;
  const holds = () => test(cli.stdout(), cli.stderr());
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      child.stdout!.off("data", check);
      child.stderr!.off("data", check);
      child.off("close", closed);
      if (error === undefined) resolve();
      else reject(error);
    };
    // Registered after startCli's own listeners, so the output read includes the new piece.
    const check = () => {
      if (holds()) settle();
    };
    // "close" comes once the output is read to its end, unlike "exit".
    const closed = () => settle(holds() ? undefined : new Error(`onex exited with ${child.exitCode} before the expected output:\n${cli.stderr()}`));
    const timer = setTimeout(() => settle(new Error(`no expected output within ${timeoutMs} ms:\n${cli.stderr()}`)), timeoutMs);
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.once("close", closed);
    if (holds()) settle();
    else if (child.stdout!.readableEnded && child.stderr!.readableEnded && (child.exitCode !== null || child.signalCode !== null)) closed();
  });
}

