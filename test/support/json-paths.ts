/** Paths into JSON values and copies changed at one of them: what the fuzz tests of signed records tamper with. */

/** Every path to a leaf or container of a JSON value. */
export function paths(value: unknown, prefix: string[] = []): string[][] {
  const out: string[][] = prefix.length ? [prefix] : [];
  if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

/** The member of `value` at `path`. */
export function valueAt(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], value);
}

/** A deep copy of `value` with the member at `path` replaced (or deleted when `replacement` is undefined). */
export function withAt(value: unknown, path: string[], replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  let at: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  const last = path[path.length - 1] as string;
  if (replacement === undefined && Array.isArray(at)) at.splice(Number(last), 1);
  else if (replacement === undefined) delete at[last];
  else at[last] = replacement;
  return copy;
}
