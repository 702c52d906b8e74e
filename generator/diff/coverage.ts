/**
 * Which lens of an adjacent transform handles a changed path. A lens that rewrites a
 * field's value (add, remove, wrap, head, convert, escape) covers every change at or below
 * that field; a lens that only moves a field (rename, hoist, plunge) covers exactly the
 * paths it moves from and to, because the moved value's own schema changes need lenses of
 * their own.
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
