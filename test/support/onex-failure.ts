import { isOnexError, type OnexError } from "../../runtime/errors.js";

/** The OnexError `fn` rejects with; fails the test for a raw error, or for none. */
export async function onexFailure(fn: () => Promise<unknown>): Promise<OnexError> {
  try {
    await fn();
  } catch (error) {
    if (isOnexError(error)) return error;
    throw error;
  }
  throw new Error("no error");
}
