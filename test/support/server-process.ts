/** The life cycle the test servers share: start, SIGKILL for crash tests, restart on the same data, stop. */
import type { ChildProcess } from "node:child_process";

/** A started server process that a test can crash, restart and stop. */
export interface ServerProcess {
  readonly process: ChildProcess;
  /** Kills the server with SIGKILL, keeping its data, for crash tests. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and data. */
  restart(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and runs `cleanup`. */
  stop(): Promise<void>;
}

/** Runs `launch` (which resolves once the server is ready) and returns its life cycle. */
export async function startServerProcess(launch: () => Promise<ChildProcess>, cleanup: () => Promise<void>): Promise<ServerProcess> {
  let child = await launch();
  return {
    get process() {
      return child;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited(child);
    },
    async restart() {
      child = await launch();
    },
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited(child);
      clearTimeout(timer);
      await cleanup();
    },
  };
}

function exited(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once("exit", () => resolve())));
}
