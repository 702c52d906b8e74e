/**
 * Escape-hatch lenses of the v0.0.9 -> v0.1 transform (named in from-v0.0.9.yaml). The
 * generator copies this module into generated/transforms/lenses/; it may import only the
 * runtime's codegen entry point.
 */
import { jsonEqual, type JsonObject, type LensContext } from "@onex/runtime/codegen-v1";

/** `protocol_version` -> v0.1's own `protocol` block, or the block a downgrade kept in the residue. */
export function protocolFromVersion(scope: JsonObject, restored: unknown, context: LensContext): unknown {
  delete scope.protocol_version;
  scope.protocol = restored !== undefined ? restored : context.targetProtocol();
  return undefined;
}

/** `protocol` block -> `protocol_version`; a block other than v0.1's own is returned as residue. */
export function protocolToVersion(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  const block = scope.protocol;
  delete scope.protocol;
  scope.protocol_version = context.targetProtocol().version;
  return jsonEqual(block, context.sourceProtocol()) ? undefined : block;
}
