/**
 * Loading the generated transforms runs the top-level code of the schemas' functions modules
 * (their escape functions' files), and whatever they import. One that throws there (its own
 * code, or a package it imports that is not installed) is a fault of the transforms, as an
 * escape function throwing on a message is: ONEX_E_TRANSFORM_UNSOUND, said without a stack.
 * The generated files themselves were found current before they are loaded (ONEX_E_SDK_STALE).
 */
import { ErrorCode, OnexError } from "@onex/runtime";

/** ONEX_E_TRANSFORM_UNSOUND for what loading the transforms threw. */
export function loadFailure(error: unknown): OnexError {
  return new OnexError(ErrorCode.TransformUnsound, `loading the transforms ran their functions modules' top-level code, which threw: ${error instanceof Error ? error.message : String(error)}`);
}
