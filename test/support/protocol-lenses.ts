/**
 * The escape-hatch lenses every grown v0.3 in the tests needs for the envelope's `protocol`
 * block (as schemas/v0.2/from-v0.1.ts has them for v0.2): the text of `from-v0.2.ts` up to the
 * lenses a test adds of its own.
 */
export const PROTOCOL_LENSES = `/** Escape-hatch lenses of the v0.2 -> v0.3 transform (named in from-v0.2.yaml). */
import { jsonEqual, type JsonObject, type LensContext } from "@onex/runtime/codegen-v1";

/** v0.2 \`protocol\` block -> v0.3 block. */
export function protocolUp(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);
  return undefined;
}

/** v0.3 \`protocol\` block -> v0.2 block. */
export function protocolDown(scope: JsonObject, _restored: unknown, context: LensContext): unknown {
  scope.protocol = swapProtocol(scope.protocol as JsonObject, context);
  return undefined;
}

function swapProtocol(block: JsonObject, context: LensContext): JsonObject {
  const source = context.sourceProtocol();
  const target = context.targetProtocol();
  if (jsonEqual(block, source)) return target;
  const renamed = { ...block, version: target.version };
  if (jsonEqual(renamed, target)) return { ...source, version: target.version };
  return renamed;
}
`;
