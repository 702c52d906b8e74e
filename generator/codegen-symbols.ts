/**
 * The codegen contract, version 1: every runtime symbol generated code may import from
 * `@onex/runtime/codegen-v1`, and whether it is a type. Templates and emitters reach the
 * runtime only through `runtimeImportLine` (templates: the `importRuntime` helper), which
 * refuses a name that is not here. test/generator/codegen-symbols.test.ts proves the entry
 * point exports exactly this table and that the bundled output imports every symbol in it,
 * so the runtime can change anything else without breaking an SDK generated earlier.
 * Lens modules (the escape hatch of a transform) are held to the same table.
 */
import { ErrorCode, OnexError } from "@onex/runtime";

/** The specifier generated code imports the runtime from (`onex generate --runtime-import` changes it). */
export const DEFAULT_RUNTIME_IMPORT = "@onex/runtime/codegen-v1";

export const CODEGEN_V1_SYMBOLS = {
  // Message classes (messages.ts, index.ts).
  OnexMessage: "value",
  decodeInput: "value",
  decodeMessage: "value",
  isMessageOf: "value",
  messageClassOf: "value",
  messageTypeOf: "value",
  newMessageId: "value",
  nowTimestamp: "value",
  MessageInit: "type",
  MessageInput: "type",
  // Subjects (subjects.ts).
  checkSubjectParts: "value",
  decodeSubjectToken: "value",
  encodeSubjectToken: "value",
  matchSubjectTemplate: "value",
  // Validators (validators.ts): the helpers ajv's standalone code calls.
  ajvFormats: "value",
  ajvRuntime: "value",
  StandaloneValidator: "type",
  // Transforms (transforms/*.ts) and lens modules.
  findMigrationPath: "value",
  jsonEqual: "value",
  migrateAlongGraph: "value",
  runTransformStep: "value",
  validStepInput: "value",
  Dropped: "type",
  JsonObject: "type",
  LensContext: "type",
  TransformPair: "type",
  VersionGraph: "type",
  // The envelope layout (manifest.ts): where the runtime reads a version's envelopes.
  registerEnvelopeLayout: "value",
  EnvelopeLayout: "type",
} as const satisfies Record<string, "value" | "type">;

export type CodegenSymbol = keyof typeof CODEGEN_V1_SYMBOLS;

/**
 * The import statement of `names` from `runtimeImport`, types marked `type`. With `alias`,
 * each is bound as `$name`, which no manifest name can be, so a message named like a runtime
 * symbol shadows nothing.
 */
export function runtimeImportLine(runtimeImport: string, names: readonly string[], options: { alias?: boolean } = {}): string {
  const specifiers = names.map((name) => {
    if (!Object.hasOwn(CODEGEN_V1_SYMBOLS, name)) {
      throw new OnexError(ErrorCode.TemplateError, `generated code may import only the codegen-v1 symbols of the runtime, not "${name}" (generator/codegen-symbols.ts lists them)`, { symbol: name });
    }
    const binding = options.alias ? `${name} as $${name}` : name;
    return CODEGEN_V1_SYMBOLS[name as CodegenSymbol] === "type" ? `type ${binding}` : binding;
  });
  return `import { ${specifiers.join(", ")} } from ${JSON.stringify(runtimeImport)};`;
}
