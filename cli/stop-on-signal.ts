/**
 * A stop an operator asks for with SIGINT (Ctrl-C), SIGTERM, SIGHUP or SIGQUIT, for a command
 * that must not die between two writes to a server without saying what it wrote: the first
 * signal aborts `signal` (the command finishes the write in progress and ends itself, with
 * `status`, 128 + the signal's number), a second ends the process at once after `onAgain`
 * said what it could.
 */
const STATUS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, SIGQUIT: 131 } as const;

export interface SignalStop {
  signal: AbortSignal;
  /** The exit status of the signal that stopped the run; undefined while none has. */
  status(): number | undefined;
  release(): void;
}

export function stopOnSignal(onFirst: (name: string) => void, onAgain: (name: string) => void): SignalStop {
  const stopped = new AbortController();
  let status: number | undefined;
  const stop = (name: keyof typeof STATUS) => {
    if (stopped.signal.aborted) {
      onAgain(name);
      process.exit(STATUS[name]);
    }
    status = STATUS[name];
    stopped.abort(new Error(`stopped by ${name}`));
    onFirst(name);
  };
  const names = Object.keys(STATUS) as (keyof typeof STATUS)[];
  for (const name of names) process.on(name, stop);
  return {
    signal: stopped.signal,
    status: () => status,
    release: () => {
      for (const name of names) process.off(name, stop);
    },
  };
}
