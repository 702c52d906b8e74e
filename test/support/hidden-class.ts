/**
 * V8's view of an object's shape, through the engine's own natives: whether its properties
 * are "fast" (in-object, described by a shared hidden class) rather than a hash table of its
 * own, and whether two objects share a hidden class. Objects made per message must be fast and
 * alike: the subscription's deliveries, object literals with a getter, were each a dictionary,
 * and collecting them cost subscribing about 12 µs of CPU a message (docs/performance.md).
 * Not a timing: the shape is the cause, and it is exact.
 */
import { setFlagsFromString } from "node:v8";

let natives: { haveSameMap: (a: object, b: object) => boolean; hasFastProperties: (a: object) => boolean } | undefined;

/** Both objects have fast properties and one hidden class. Compiled on first use, so a file that imports this loads even where the natives do not parse (then the calling test fails). */
export function sameFastShape(a: object, b: object): boolean {
  if (natives === undefined) {
    setFlagsFromString("--allow-natives-syntax");
    // Compiled after the flag is set, so the native calls parse.
    natives = {
      haveSameMap: new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean,
      hasFastProperties: new Function("a", "return %HasFastProperties(a)") as (a: object) => boolean,
    };
  }
  return natives.hasFastProperties(a) && natives.hasFastProperties(b) && natives.haveSameMap(a, b);
}
