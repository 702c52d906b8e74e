/** TypeScript's compiler, loaded only when TypeScript must be read or compiled: it is large, and most runs need none. */
import { ErrorCode, OnexError } from "@onex/runtime";

/** The compiler, or ONEX_E_FILE_NOT_FOUND naming what it was needed for (`purpose`: "load a generated SDK"). */
export async function loadTypeScript(purpose: string): Promise<typeof import("typescript")> {
  try {
    const module = (await import("typescript")) as { default?: typeof import("typescript") } & typeof import("typescript");
    return module.default ?? module;
  } catch (cause) {
    throw new OnexError(ErrorCode.FileNotFound, `the TypeScript compiler (package typescript) is not installed; onex needs it to ${purpose}`, { file: "typescript" }, { cause });
  }
}
