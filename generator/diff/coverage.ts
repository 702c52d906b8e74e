/**
 * Which lens of an adjacent transform handles a changed path. A lens that rewrites a
 * field's value (add, remove, wrap, head, convert, escape) covers every change at or below
 * that field; a lens that only moves a field (rename, hoist, plunge) covers exactly the
 * paths it moves from and to, because the moved value's own schema changes need lenses of
 * their own. Those changes are found by comparing the value's schema where it was with its
 * schema where it went (`movedValuesOf`, then report.ts), and the lenses that moved it never
 * cover them.
 */
import type { Lens, TransformModel } from "../transforms/load-transforms.js";

/** A lens that covers a change, named so a person can find it in the file. */
export interface Cover {
  /** `schemas/v0.2/from-v0.1.yaml` */
  file: string;
  /** `envelope`, `types.signal.task.dispatch` or `new_types` / `removed_types`. */
  section: string;
  /** `rename action -> operation` */
  lens: string;
}

interface LensReach {
  cover: Cover;
  path: string;
  /** Covers changes below `path` too. */
  subtree: boolean;
  /** rename/hoist/plunge: where the value at `path` goes next, so the lenses there count too. */
  movesTo?: string;
}

/** The lenses of `type` in `transform` (envelope lenses included), each with the paths it reaches. */
function reachOf(transform: TransformModel, type: string): LensReach[] {
  const out: LensReach[] = [];
  const visit = (lenses: readonly Lens[], scope: string, section: string) => {
    for (const lens of lenses) {
      const cover = (text: string): Cover => ({ file: transform.file, section, lens: text });
      switch (lens.kind) {
        case "rename": {
          const c = cover(`rename ${lens.from} -> ${lens.to}`);
          out.push({ cover: c, path: `${scope}/${lens.from}`, subtree: false, movesTo: `${scope}/${lens.to}` }, { cover: c, path: `${scope}/${lens.to}`, subtree: false });
          break;
        }
        case "hoist":
        case "plunge": {
          const c = cover(`${lens.kind} ${lens.host}.${lens.name}`);
          const outside = `${scope}/${lens.name}`;
          const inside = `${scope}/${lens.host}/${lens.name}`;
          out.push(
            { cover: c, path: lens.kind === "plunge" ? outside : inside, subtree: false, movesTo: lens.kind === "plunge" ? inside : outside },
            { cover: c, path: lens.kind === "plunge" ? inside : outside, subtree: false },
          );
          break;
        }
        case "add":
        case "remove":
          out.push({ cover: cover(`${lens.kind} ${lens.name}${lens.optional ? " (optional)" : ` (default ${JSON.stringify(lens.default)})`}`), path: `${scope}/${lens.name}`, subtree: true });
          break;
        case "wrap":
        case "head":
          out.push({ cover: cover(`${lens.kind} ${lens.name}`), path: `${scope}/${lens.name}`, subtree: true });
          break;
        case "convert":
          out.push({ cover: cover(`convert ${lens.name} (${lens.mapping.map(([o, n]) => `${JSON.stringify(o)}->${JSON.stringify(n)}`).join(", ")})`), path: `${scope}/${lens.name}`, subtree: true });
          break;
        case "escape":
          for (const field of lens.touches) out.push({ cover: cover(`escape ${lens.up}/${lens.down}`), path: `${scope}/${field}`, subtree: true });
          break;
        case "in":
          visit(lens.lenses, `${scope}/${lens.name}`, section);
          break;
        case "map":
          visit(lens.lenses, `${scope}/${lens.name}/-`, section);
          break;
      }
    }
  };
  visit(transform.envelope, "", "envelope");
  visit(transform.types.get(type) ?? [], "", `types.${type}`);
  return out;
}

/**
 * A function answering, for a changed path of `type`, the lenses of `transform` that cover it:
 * those reaching the path (or, for value-rewriting lenses, a parent of it), followed along
 * renames and moves; then, for information, the lenses working below the path. Empty when
 * nothing reaches the path itself, since lenses below it alone do not handle it.
 */
export function coverageOf(transform: TransformModel, type: string): (path: string) => Cover[] {
  const reach = reachOf(transform, type);
  return (path) => {
    const found: Cover[] = [];
    const followed = new Set<string>();
    const follow = (at: string) => {
      if (followed.has(at)) return;
      followed.add(at);
      for (const r of reach) {
        if (r.path !== at && !(r.subtree && at.startsWith(`${r.path}/`))) continue;
        if (!found.includes(r.cover)) found.push(r.cover);
        if (r.movesTo) follow(r.movesTo);
      }
    };
    follow(path);
    if (found.length === 0) return found;
    for (const r of reach) if (r.path.startsWith(`${path}/`) && !found.includes(r.cover)) found.push(r.cover);
    return found;
  };
}

/**
 * A value one or more lenses move (rename, hoist, plunge: the lens kinds that take a value from
 * one path to another) from where the older version keeps it to where the newer one does.
 * Paths are written as coverage paths are: names joined with `/`, `-` for any array item.
 */
export interface MovedValue {
  /** Where the value is in the older version's message: `/payload/output`. */
  from: string;
  /** Where it is in the newer version's message: `/payload/result`. */
  to: string;
  /** The lenses that moved it, in order: `rename output -> result`. */
  movedBy: Cover[];
  /**
   * The lenses covering a change of the value's own schema at `path` (`to` or below it): those
   * that reach the value, or a field holding it, while it is at a path they work on, as
   * `coverageOf` judges a path. The lenses in `movedBy` are not among them: moving a value
   * does not change what it holds.
   */
  coverage: (path: string) => Cover[];
}

/** Where a moved value sat, and for which lenses (indices into the reach list, `until` excluded). */
interface Stay {
  path: string;
  since: number;
  until: number;
}

/**
 * Every value the lenses of `type` move, followed through the lenses after the move, in the
 * order the adapters run them: a value renamed and then plunged into an object (`build_fingerprint`
 * -> `fingerprint` -> `build/fingerprint`) is one moved value, and a value moved inside a value
 * moved before it comes from the matching path of that value's origin. A value that ends where it
 * started is left out: the path-by-path comparison already judges it there.
 */
export function movedValuesOf(transform: TransformModel, type: string): MovedValue[] {
  const reach = reachOf(transform, type);
  const tracked: { from: string; at: string; movedBy: Cover[]; stays: Stay[] }[] = [];
  const within = (path: string, root: string) => path === root || path.startsWith(`${root}/`);
  reach.forEach((r, index) => {
    if (r.movesTo === undefined) return;
    if (!tracked.some((t) => t.at === r.path)) {
      // First moved here: it comes from the older message as it is, or from inside a value moved before.
      const holder = tracked.filter((t) => r.path.startsWith(`${t.at}/`)).sort((a, b) => b.at.length - a.at.length)[0];
      const suffix = holder ? r.path.slice(holder.at.length) : "";
      tracked.push({
        from: holder ? holder.from + suffix : r.path,
        at: r.path,
        movedBy: [],
        stays: holder ? holder.stays.map((s) => ({ ...s, path: s.path + suffix })) : [{ path: r.path, since: 0, until: Infinity }],
      });
    }
    // The value at the path moves, and every value moved before that now sits inside it moves along.
    for (const t of tracked) {
      if (!within(t.at, r.path)) continue;
      if (t.at === r.path) t.movedBy.push(r.cover);
      t.at = r.movesTo! + t.at.slice(r.path.length);
      t.stays.at(-1)!.until = index;
      t.stays.push({ path: t.at, since: index, until: Infinity });
    }
  });
  return tracked
    .filter((t) => t.from !== t.at)
    .map((t) => ({
      from: t.from,
      to: t.at,
      movedBy: t.movedBy,
      coverage: (path: string) => {
        const suffix = path.slice(t.at.length);
        const found: Cover[] = [];
        const below: Cover[] = [];
        for (const stay of t.stays) {
          const at = stay.path + suffix;
          for (let i = stay.since; i < Math.min(stay.until, reach.length); i++) {
            const r = reach[i]!;
            if (t.movedBy.includes(r.cover)) continue;
            if (r.path === at || (r.subtree && at.startsWith(`${r.path}/`))) {
              if (!found.includes(r.cover)) found.push(r.cover);
            } else if (r.path.startsWith(`${at}/`) && !below.includes(r.cover)) below.push(r.cover);
          }
        }
        // As coverageOf: lenses working below the path are listed once the path itself is covered.
        return found.length === 0 ? found : [...found, ...below.filter((c) => !found.includes(c))];
      },
    }));
}
