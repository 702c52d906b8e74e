/** The generator's programmatic API (what `onex generate` runs). */
export { generate, DEFAULT_RUNTIME_IMPORT, type GenerateOptions, type GenerateResult } from "./generate.js";
export type { FileDifference } from "./writer.js";
export { compareVersions, versionsIn } from "./protocol-versions.js";
