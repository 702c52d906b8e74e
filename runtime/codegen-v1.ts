/**
 * The versioned contract between generated code and the runtime. Generated files import
 * only this entry point, and only the symbols of the generator's table
 * (generator/codegen-symbols.ts), so the runtime can evolve without breaking SDKs generated
 * earlier: a breaking change gets a new `codegen-v2` beside this one.
 */
export { ajvFormats, ajvRuntime } from "./ajv-runtime.js";
export {
  OnexMessage,
  decodeInput,
  decodeMessage,
  isMessageOf,
  messageClassOf,
  messageTypeOf,
  newMessageId,
  nowTimestamp,
  type MessageInit,
  type MessageInput,
} from "./message.js";
export { checkSubjectParts, decodeSubjectToken, encodeSubjectToken, matchSubjectTemplate } from "./subject-token.js";
export { registerEnvelopeLayout, type EnvelopeLayout } from "./trust/envelope.js";
export type { StandaloneValidator } from "./validation.js";
export {
  findMigrationPath,
  jsonEqual,
  migrateAlongGraph,
  runTransformStep,
  validStepInput,
  type Dropped,
  type JsonObject,
  type LensContext,
  type TransformPair,
  type VersionGraph,
} from "./transform.js";
