/**
 * Escape-hatch lenses of the v0.1 -> v0.2 transform (named in from-v0.1.yaml). The
 * generator copies this module into generated/transforms/lenses/; it may import only the
 * runtime's codegen entry point.
 */
import { jsonEqual, type JsonObject, type LensContext } from "@onex/runtime/codegen-v1";

/** v0.1 `protocol` block -> v0.2 block. */
export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);
  return undefined;
}

/** v0.2 `protocol` block -> v0.1 block. */
export function protocolDown(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);
  return undefined;
}

/**
 * The source version's own block becomes the target's own block; any other block keeps its
 * fields and only changes `version`. The one block that would then collide with the
 * target's own block (the target's block with the source's version) swaps places with the
 * source's own block renamed, so the mapping stays a bijection and needs no residue.
 */
function swapProtocol(block: JsonObject, context: LensContext): JsonObject {
  const source = context.sourceProtocol();
  const target = context.targetProtocol();
  if (jsonEqual(block, source)) return target;
  const renamed = { ...block, version: target.version };
  if (jsonEqual(renamed, target)) return { ...source, version: target.version };
  return renamed;
}
