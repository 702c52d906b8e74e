/** The generator's programmatic API (what `onex generate` runs). */
export { generate, compareVersions, DEFAULT_RUNTIME_IMPORT, type GenerateOptions, type GenerateResult } from "./generate.js";
export type { FileDifference } from "./writer.js";
