/**
 * Printing a run's problems one per line, as `buf lint` does. The generator reports every
 * mistake of a run in one OnexError (`details.problems`); the CLI prints each on its own
 * `error CODE: file:line:col: message` line, since the shared error printer shows one line
 * per error, and ends with a one-line summary carrying the first problem's code (and so the
 * exit status).
 */
import { isOnexError, OnexError } from "@onex/runtime";
import { formatWhere, type Problem } from "../generator/problems.js";
import { printable } from "./terminal-text.js";

/** Runs `step`; when it fails with several problems, prints each through `log` and throws their summary. */
export async function reportingEachProblem<T>(log: (line: string) => void, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const problems = isOnexError(error) ? (error.details.problems as Problem[] | undefined) : undefined;
    if (!problems || problems.length < 2) throw error;
    for (const p of problems) log(`error ${p.code}: ${printable(p.file ? `${formatWhere(p)}: ${p.message}` : p.message)}`);
    const onex = error as OnexError;
    throw new OnexError(onex.code, `${problems.length} problems in the schemas, each listed above`, onex.details, { cause: error });
  }
}
