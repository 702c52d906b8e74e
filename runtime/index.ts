/** The public runtime of onex: what services import beside their generated SDK. */
export { ErrorCode, OnexError, isOnexError, type OnexErrorDetails } from "./errors.js";
export { OnexMessage, type MessageClass, type MessageInput } from "./message.js";
export { decodeSubjectToken, encodeSubjectToken } from "./subject-token.js";
export { assertValid, type StandaloneValidator, type ValidationIssue } from "./validation.js";
