/** The generator's programmatic API (what `onex generate` runs). */
export { generate, type GenerateOptions, type GenerateResult } from "./generate.js";
export { DEFAULT_RUNTIME_IMPORT } from "./codegen-symbols.js";
export type { FileDifference } from "./writer.js";
export { compareVersions, versionsIn } from "./protocol-versions.js";
