/**
 * Collecting every mistake of a run before reporting, as `buf lint` does: an author fixing a
 * manifest should see all of its problems at once, not one per run. Each problem keeps its
 * own code and `file:line:column`; the thrown OnexError carries the first one's code and
 * location (so a caller that looks at one error sees the first problem) and lists them all.
 */
import { ErrorCode, OnexError } from "@onex/runtime";

/** Where a problem is: a file, and the line and column when known. */
export interface Where {
  file: string;
  line?: number;
  column?: number;
}

/** One mistake found in the input. */
export interface Problem extends Where {
  code: ErrorCode;
  message: string;
  [key: string]: unknown;
}

/** `file:line:column` (or as much of it as is known). */
export function formatWhere(where: Where): string {
  // A problem of the file as a whole (an empty file, a misnamed one) has no line to name.
  if (where.line === undefined) return where.file;
  return `${where.file}:${where.line}${where.column === undefined ? "" : `:${where.column}`}`;
}

/** The problems of one run, in the order they were found. */
export class Problems {
  readonly list: Problem[] = [];

  /** Records a problem at `where`; `extra` becomes part of its details. */
  add(code: ErrorCode, where: Where, message: string, extra: Record<string, unknown> = {}): void {
    const key = `${code}\0${formatWhere(where)}\0${message}`;
    // The same lens or schema reached from several message types is one mistake, reported once.
    if (this.list.some((p) => `${p.code}\0${formatWhere(p)}\0${p.message}` === key)) return;
    this.list.push({ ...extra, code, ...where, message });
  }

  /** Runs `step`; an OnexError it throws becomes a problem, so later steps still run. Returns undefined then. */
  async collect<T>(step: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await step();
    } catch (error) {
      if (!(error instanceof OnexError)) throw error;
      this.absorb(error);
      return undefined;
    }
  }

  /** Runs `step` now; an OnexError it throws becomes a problem. Returns undefined then. */
  guard<T>(step: () => T): T | undefined {
    try {
      return step();
    } catch (error) {
      if (!(error instanceof OnexError)) throw error;
      this.absorb(error);
      return undefined;
    }
  }

  /** Adds the problems an OnexError stands for (every one, if it already lists several). */
  absorb(error: OnexError): void {
    const nested = error.details.problems as Problem[] | undefined;
    if (nested) {
      for (const p of nested) this.add(p.code, p, p.message, p);
      return;
    }
    const { file, line, column, ...rest } = error.details;
    const prefix = file !== undefined ? `${formatWhere({ file, line, column })}: ` : "";
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    this.add(error.code, { file: file ?? "", line, column }, message, rest);
  }

  get size(): number {
    return this.list.length;
  }

  /** Throws one OnexError for every problem found so far; returns when there are none. */
  throwIfAny(): void {
    if (this.list.length === 0) return;
    throw problemsError(this.list);
  }
}

/** One OnexError standing for several problems: the first one's code and location, all of them in the message and in `details.problems`. */
export function problemsError(problems: readonly Problem[]): OnexError {
  const [first] = problems;
  const line = (p: Problem) => (p.file ? `${formatWhere(p)}: ${p.message}` : p.message);
  if (problems.length === 1) return new OnexError(first!.code, line(first!), { ...first!, problems: [...problems] });
  const listed = problems.map((p) => `  ${line(p)} (${p.code})`).join("\n");
  return new OnexError(first!.code, `${line(first!)}\n${problems.length} problems:\n${listed}`, { ...first!, problems: [...problems] });
}
