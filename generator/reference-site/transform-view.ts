/** The transform from the previous version as the reference site shows it: each lens in words, grouped by message type. */
import type { Lens, TransformModel } from "../transforms/load-transforms.js";

export interface LensLine {
  /** Where the lens works, `payload.build` (empty at the message root). */
  scope: string;
  text: string;
  /** Whether the downgrade can drop data (it then keeps it in `_residue`). */
  lossy: boolean;
}

export interface TransformView {
  file: string;
  from: string;
  to: string;
  envelope: LensLine[];
  types: { type: string; lenses: LensLine[] }[];
  newTypes: string[];
  removedTypes: string[];
}

/** Kinds whose downgrade can drop data; the transform loader insists they say `lossy: true`. */
const LOSSY_KINDS = new Set<Lens["kind"]>(["add", "remove", "wrap", "head", "convert"]);

/** The lens lines of `transform`, in file order. */
export function transformView(transform: TransformModel): TransformView {
  return {
    file: transform.file,
    from: transform.from,
    to: transform.to,
    envelope: lensLines(transform.envelope, ""),
    types: [...transform.types].map(([type, lenses]) => ({ type, lenses: lensLines(lenses, "") })),
    newTypes: transform.newTypes,
    removedTypes: transform.removedTypes,
  };
}

function lensLines(lenses: readonly Lens[], scope: string): LensLine[] {
  return lenses.flatMap((lens): LensLine[] => {
    const line = (text: string): LensLine[] => [{ scope, text, lossy: LOSSY_KINDS.has(lens.kind) }];
    const inner = (name: string) => (scope ? `${scope}.${name}` : name);
    switch (lens.kind) {
      case "rename":
        return line(`rename ${lens.from} to ${lens.to}`);
      case "add":
        return line(`add ${lens.name}${lens.optional ? " (optional)" : `, default ${JSON.stringify(lens.default)}`}`);
      case "remove":
        return line(`remove ${lens.name}${lens.optional ? " (optional)" : `, restored as ${JSON.stringify(lens.default)} on the way down`}`);
      case "hoist":
        return line(`hoist ${lens.host}.${lens.name} up to ${lens.name}`);
      case "plunge":
        return line(`move ${lens.name} into ${lens.host}.${lens.name}`);
      case "wrap":
        return line(`wrap ${lens.name} in a list`);
      case "head":
        return line(`take the first item of ${lens.name}`);
      case "convert":
        return line(`convert ${lens.name}: ${lens.mapping.map(([o, n]) => `${JSON.stringify(o)} -> ${JSON.stringify(n)}`).join(", ")} (otherwise ${JSON.stringify(lens.fallback.up)} up, ${JSON.stringify(lens.fallback.down)} down)`);
      case "escape":
        return [{ scope, text: `function ${lens.up} up, ${lens.down} down (touches ${lens.touches.join(", ")})`, lossy: false }];
      case "in":
        return lensLines(lens.lenses, inner(lens.name));
      case "map":
        return lensLines(lens.lenses, `${inner(lens.name)}[]`);
    }
  });
}
