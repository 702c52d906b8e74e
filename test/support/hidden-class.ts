/**
 * V8's view of an object's shape, through the engine's own natives: whether its properties
 * are "fast" (in-object, described by a shared hidden class) rather than a hash table of its
 * own, and whether two objects share a hidden class. Objects made per message must be fast and
 * alike: the subscription's deliveries, object literals with a getter after a spread, were each
 * a dictionary, and promoting those out of every young-generation collection cost subscribing
 * about 20 µs of CPU a message. Not a timing: the shape is the cause, and it is exact.
 */
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--allow-natives-syntax");
// Compiled after the flag is set, so the native calls parse.
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;
const hasFastProperties = new Function("a", "return %HasFastProperties(a)") as (a: object) => boolean;

/** Both objects have fast properties and one hidden class. */
export function sameFastShape(a: object, b: object): boolean {
  return hasFastProperties(a) && hasFastProperties(b) && haveSameMap(a, b);
}
