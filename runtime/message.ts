/**
 * The base of every generated message class, and the decoding every `parse()` shares.
 * Generated classes merge the generated data interface into the class, so an instance
 * *is* the message: `msg.payload.node_id` reads a field, `msg.toJSON()` gives plain data.
 */
import { ErrorCode, OnexError } from "./errors.js";
import { parseJson } from "./json-text.js";
import { assertValid, type StandaloneValidator } from "./validation.js";

/** What `parse()` accepts: UTF-8 bytes, a JSON string, or an already-parsed value. */
export type MessageInput = Uint8Array | string | object;

/** The static side every generated message class exposes. */
export interface MessageClass<M extends OnexMessage = OnexMessage> {
  readonly type: string;
  readonly version: string;
  readonly schemaId: string;
  readonly validate: StandaloneValidator;
  parse(input: MessageInput): M;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Base class of generated messages. */
export abstract class OnexMessage {
  /** The message as plain JSON data (a shallow copy of its fields). */
  toJSON(): Record<string, unknown> {
    return { ...this } as unknown as Record<string, unknown>;
  }

  /** The message as UTF-8 JSON bytes. */
  encode(): Uint8Array {
    return utf8.encode(JSON.stringify(this));
  }
}

/** Turns bytes or a JSON string into a value (ONEX_E_JSON_SYNTAX, ONEX_E_JSON_DUPLICATE_KEY, ONEX_E_NUMBER_RANGE); objects pass through. */
export function decodeInput(input: MessageInput, version: string): unknown {
  let text: string;
  if (input instanceof Uint8Array) {
    try {
      text = strictUtf8.decode(input);
    } catch (cause) {
      throw new OnexError(ErrorCode.JsonSyntax, "message bytes are not valid UTF-8", { version }, { cause });
    }
  } else if (typeof input === "string") {
    text = input;
  } else {
    return input;
  }
  try {
    // Duplicate member names and integers a double would round are refused, never guessed at.
    return parseJson(text);
  } catch (cause) {
    if (!(cause instanceof OnexError)) throw cause;
    throw new OnexError(cause.code, `message ${cause.message}`, { ...cause.details, version }, { cause });
  }
}

/** Decodes and validates `input` against `cls`, returning its data (not yet an instance). */
export function decodeMessage(cls: MessageClass, input: MessageInput): Record<string, unknown> {
  const value = decodeInput(input, cls.version);
  assertValid(cls.validate, value, { version: cls.version, type: cls.type, schemaId: cls.schemaId });
  return value as Record<string, unknown>;
}

/** Reads the `type` of an undecoded message, or throws ONEX_E_UNKNOWN_TYPE. */
export function messageTypeOf(value: unknown, version: string): string {
  const type = value !== null && typeof value === "object" ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== "string") {
    throw new OnexError(ErrorCode.UnknownType, `message has no string "type" field (v${version})`, { version });
  }
  return type;
}

/** Looks up the class of `type` in a version's registry, or throws ONEX_E_UNKNOWN_TYPE. */
export function messageClassOf<R extends Record<string, MessageClass>>(registry: R, type: string, version: string): R[keyof R] {
  if (!Object.hasOwn(registry, type)) {
    throw new OnexError(ErrorCode.UnknownType, `"${type}" is not a message type of v${version}`, { version, type });
  }
  return registry[type] as R[keyof R];
}

/** A fresh message id. */
export function newMessageId(): string {
  return globalThis.crypto.randomUUID();
}

/** The current time as an RFC 3339 timestamp. */
export function nowTimestamp(): string {
  return new Date().toISOString();
}
