/**
 * The versioned contract between generated code and the runtime. Generated files import
 * only this entry point, so the runtime can evolve without breaking SDKs generated
 * earlier: a breaking change gets a new `codegen-v2` beside this one.
 */
export { ajvFormats, ajvRuntime } from "./ajv-runtime.js";
export { ErrorCode, OnexError } from "./errors.js";
export {
  OnexMessage,
  decodeInput,
  decodeMessage,
  messageClassOf,
  messageTypeOf,
  newMessageId,
  nowTimestamp,
  type MessageClass,
  type MessageInit,
  type MessageInput,
} from "./message.js";
export { decodeSubjectToken, encodeSubjectToken, matchSubjectTemplate } from "./subject-token.js";
export type { StandaloneValidator } from "./validation.js";
export {
  findMigrationPath,
  jsonEqual,
  migrateAlongGraph,
  noCounterpart,
  packResidue,
  runTransformStep,
  unpackResidue,
  type Direction,
  type Dropped,
  type FieldConversion,
  type GraphStep,
  type JsonObject,
  type LensContext,
  type LensFunction,
  type ResidueMap,
  type TransformPair,
  type VersionGraph,
} from "./transform.js";
