/**
 * Loading the generated transforms runs the top-level code of the schemas' functions modules
 * (their escape functions' files). One that throws there is a fault of the transforms, as an
 * escape function throwing on a message is: ONEX_E_TRANSFORM_UNSOUND, said without a stack.
 * A failure of Node's own loader (a generated file missing, `ERR_...`) is not one.
 */
import { ErrorCode, OnexError } from "@onex/runtime";

/** ONEX_E_TRANSFORM_UNSOUND for a functions module that threw as the transforms were loaded; anything else as it was. */
export function loadFailure(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("ERR_")) return error;
  return new OnexError(ErrorCode.TransformUnsound, `loading the transforms ran their functions modules' top-level code, which threw: ${error instanceof Error ? error.message : String(error)}`);
}
