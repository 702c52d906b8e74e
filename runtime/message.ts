/**
 * The base of every generated message class, and the decoding every `parse()` shares.
 * Generated classes merge the generated data interface into the class, so an instance
 * *is* the message: `msg.payload.node_id` reads a field, `msg.toJSON()` gives plain data.
 *
 * A message owns its data: `create()` and `parse()` keep a deep copy of an object they are
 * given (never the caller's nested objects), and `toJSON()` hands out a deep copy. Copying
 * was chosen over freezing because freezing must copy first anyway (the caller's objects are
 * not ours to freeze) and then costs a second walk: `npm run bench:message-data` measures
 * copy-and-freeze at about 2.5 times the cost of the copy alone (4.9 against 1.9 µs for a v0.2
 * `signal.task.dispatch`), the copy being about a fifth of what `create()` costs in all. Frozen
 * messages would also turn every later write into a run-time TypeError
 * that the data interfaces (mutable, as json-schema-to-typescript emits them) cannot show.
 */
import { ErrorCode, OnexError } from "./errors.js";
import { setJsonMember } from "./json-member.js";
import { MAX_JSON_DEPTH, parseJson, stringifyJson } from "./json-text.js";
import { printableSegment, registerMessagePrototype, type WellFormedString } from "./trust/canonical-json.js";
import { assertValid, isValid, type StandaloneValidator, type ValidationContext } from "./validation.js";

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

/** The fields a generated `create()` takes: the message data without `type`, its auto-filled fields optional. */
export type MessageInit<Data, Auto extends keyof Data> = Omit<Data, "type" | Auto> & Partial<Pick<Data, Auto>>;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Base class of generated messages. */
export abstract class OnexMessage {
  /** Takes `data` (already the message's own copy, see decodeMessage) as the instance's fields. */
  protected constructor(data: object) {
    for (const key of Object.keys(data)) {
      const value = (data as Record<string, unknown>)[key];
      setJsonMember(this, key, value);
    }
  }

  /** The message as plain JSON data: a deep copy the caller may change freely. */
  toJSON(): Record<string, unknown> {
    return copyMessageData(this, "message") as Record<string, unknown>;
  }

  /** The message as UTF-8 JSON bytes (a BigInt as its exact digits). */
  encode(): Uint8Array {
    return utf8.encode(stringifyJson(this));
  }
}

// Canonical JSON writes a message held inside other data as its data (its own members).
registerMessagePrototype(OnexMessage.prototype);

/**
 * Whether `value` is a message of `cls`: exactly what `cls.parse(value)` accepts (JSON data
 * the schema accepts, see copyMessageData), without copying a valid message. The validator
 * alone decides, but for what `parse()` changes before validating: a bigint beyond 2^53 is
 * judged as a number, an undefined member is dropped. Only a value the validator refuses that
 * holds one of those is copied and judged again.
 */
export function isMessageOf(cls: MessageClass, value: unknown): boolean {
  if (cls.validate(value)) return true;
  if (!changedByCopy(value, 0)) return false;
  let copy: unknown;
  try {
    copy = copyJsonData(value, cls.type, 0);
  } catch (error) {
    if (error instanceof NotJson || error instanceof OnexError) return false;
    throw error;
  }
  return isValid(cls.validate, copy);
}

/** Whether `value` holds a bigint or an undefined member, which the copy parse() validates changes. */
function changedByCopy(value: unknown, depth: number): boolean {
  if (typeof value === "bigint") return true;
  if (value === null || typeof value !== "object" || depth > MAX_JSON_DEPTH) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (changedByCopy(item, depth + 1)) return true;
    return false;
  }
  for (const key of Object.keys(value)) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined || changedByCopy(member, depth + 1)) return true;
  }
  return false;
}

/**
 * Turns bytes or a JSON string into a value (ONEX_E_JSON_SYNTAX, ONEX_E_JSON_DUPLICATE_KEY, ONEX_E_NUMBER_RANGE); objects pass through.
 * One leading byte order mark is ignored, in bytes and in a string alike, as RFC 8259 lets a
 * reader and as `onex validate` and `onex migrate` do: a file read with `readFileSync(f, "utf8")`
 * keeps the BOM its editor wrote, and was refused as a string where its bytes were accepted.
 * Anywhere else U+FEFF is a character (outside a JSON string, ONEX_E_JSON_SYNTAX).
 */
export function decodeInput(input: MessageInput, version: string): unknown {
  let text: string;
  if (input instanceof Uint8Array) {
    try {
      // The decoder drops a leading BOM (ignoreBOM is false).
      text = strictUtf8.decode(input);
    } catch (cause) {
      throw new OnexError(ErrorCode.JsonSyntax, "message bytes are not valid UTF-8", { version }, { cause });
    }
  } else if (typeof input === "string") {
    text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
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

/**
 * Decodes and validates `input` against `cls`, returning data the message may own (not yet
 * an instance): bytes and strings decode to fresh values; an object is deep-copied first, so
 * what is validated is what is kept, and later changes to the caller's object reach neither.
 */
export function decodeMessage(cls: MessageClass, input: MessageInput): Record<string, unknown> {
  const handed = handedOver;
  handedOver = undefined;
  const decoded = decodeInput(input, cls.version);
  const value = decoded !== input || (handed !== undefined && decoded === handed) ? decoded : copyMessageData(decoded, cls.type);
  assertValidJson(cls.validate, value, { version: cls.version, type: cls.type, schemaId: cls.schemaId });
  return value as Record<string, unknown>;
}

/**
 * Whether the validator running now judges data the runtime made itself: decoded from JSON
 * text (parseJson) or copied by copyMessageData, so JSON data throughout. The JSON-data checks
 * of free parts (ajv-runtime.ts) then need not walk it again: `parse()`, `create()` and
 * publishing pay nothing for them but the inline checks.
 */
export const jsonDataKnown = { now: false };

/**
 * `assertValid` on `value` that is JSON data by construction (see jsonDataKnown): decoded
 * from text, copied by copyMessageData, or a message's `toJSON()`.
 */
export function assertValidJson(validate: StandaloneValidator, value: unknown, context: ValidationContext): void {
  const before = jsonDataKnown.now;
  jsonDataKnown.now = true;
  try {
    assertValid(validate, value, context);
  } finally {
    jsonDataKnown.now = before;
  }
}

// The object the runtime parsed from bytes itself and passes to the very next `parse` (the
// receive pipeline reads a message's type and version before it knows its class): nobody else
// holds it, so that `parse` keeps it instead of copying. One slot, not a WeakSet: any `parse`
// empties it, so an object handed over but given to a later `parse` than the next is copied,
// as any caller's object is.
let handedOver: object | undefined;

/** Marks `value`, freshly parsed and shared with no one, to be kept rather than copied by the next `parse`, if it is given to that one. */
export function handOver<T extends object>(value: T): T {
  handedOver = value;
  return value;
}

/**
 * A deep copy of a message value: arrays and objects are copied (an object as its own
 * enumerable string-keyed properties, so getters are read once), with undefined members
 * dropped as JSON drops them. What JSON cannot carry is refused here, as canonicalize refuses
 * it (ONEX_E_CANONICAL_JSON with the path), rather than becoming something else on the way to
 * the wire: a Date, Map, Set or other class instance (a generated message excepted),
 * NaN or ±Infinity, a function or symbol, undefined in an array, a string with a lone UTF-16
 * surrogate. Nesting deeper than parseJson allows, which is also what a cycle looks like, is
 * ONEX_E_VALIDATION.
 */
export function copyMessageData(value: unknown, what: string): unknown {
  try {
    return copyJsonData(value, what, 0);
  } catch (error) {
    if (!(error instanceof NotJson)) throw error;
    const path = "/" + error.path.map(printableSegment).join("/");
    throw new OnexError(ErrorCode.CanonicalJson, `${what}: ${path} ${error.reason}; a message is plain JSON data`, { type: what, instancePath: path });
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Thrown where a value is not JSON; each container on the way out adds its key to the path. */
class NotJson {
  readonly path: string[] = [];
  constructor(readonly reason: string) {}
}

function copyJsonData(value: unknown, what: string, depth: number): unknown {
  switch (typeof value) {
    case "string":
      if (!(value as WellFormedString).isWellFormed()) throw new NotJson("holds a lone UTF-16 surrogate");
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new NotJson(`is ${String(value)}, which is not a JSON number`);
      return value;
    case "boolean":
      return value;
    // An integer beyond 2^53, carried exactly as the JSON reader's bigint mode reads it; encode() writes its digits.
    // One a double holds exactly is a number in JSON, and must be given as one.
    case "bigint":
      if (value >= -MAX_SAFE && value <= MAX_SAFE) throw new NotJson(`is the bigint ${String(value)}, which JSON holds as a number: give it as one`);
      return value;
    case "object":
      break;
    default:
      throw new NotJson(`is a ${typeof value}, which is not a JSON value`);
  }
  if (value === null) return null;
  if (depth >= MAX_JSON_DEPTH) {
    throw new OnexError(ErrorCode.ValidationFailed, `${what}: nested deeper than ${MAX_JSON_DEPTH} levels (or cyclic); a message is JSON data`, { type: what });
  }
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      try {
        if (value[i] === undefined) throw new NotJson("is undefined, which an array cannot hold in JSON");
        out[i] = copyJsonData(value[i], what, depth + 1);
      } catch (error) {
        if (error instanceof NotJson) error.path.unshift(String(i));
        throw error;
      }
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null && !(value instanceof OnexMessage)) {
    throw new NotJson(`is a ${(value as { constructor?: { name?: string } }).constructor?.name || "non-plain"} object, not a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined) continue;
    let item: unknown;
    try {
      if (!(key as WellFormedString).isWellFormed()) throw new NotJson("is a name with a lone UTF-16 surrogate");
      item = copyJsonData(member, what, depth + 1);
    } catch (error) {
      if (error instanceof NotJson) error.path.unshift(key);
      throw error;
    }
    setJsonMember(out, key, item);
  }
  return out;
}

/**
 * Whether `value` is JSON data as a message holds it: exactly what `copyMessageData` keeps
 * rather than refuses (an `undefined` member is no member; a bigint beyond 2^53 is kept, which
 * only signing refuses), without copying. The generated validators call it, and the checks
 * below, on the parts of a message their schema leaves free (`{}`, an object's members no
 * `properties` names): everywhere else the schema's own `type` already refuses what JSON
 * cannot hold. Nesting deeper than a message may hold (or a cycle) is not JSON data.
 */
export function isJsonData(value: unknown, depth = 0): boolean {
  // Most likely first: this runs on every member of a free part of every message validated.
  if (typeof value === "string") return (value as WellFormedString).isWellFormed();
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value === "object") {
    if (value === null) return true;
    if (depth >= MAX_JSON_DEPTH) return false;
    if (!Array.isArray(value)) return isJsonObject(value) && jsonMembersBesides(value, NO_NAMES, depth);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined || !isJsonData(item, depth + 1)) return false;
    }
    return true;
  }
  if (typeof value === "boolean") return true;
  return typeof value === "bigint" && (value < -MAX_SAFE || value > MAX_SAFE);
}

const NO_NAMES: readonly string[] = [];

/** Whether `value` (an object, not an array) is one a message may hold: a plain object, or a generated message. */
export function isJsonObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null || value instanceof OnexMessage;
}

/**
 * Whether every member of the object `value` but those named in `known` (which the schema's
 * `properties` judge) is JSON data under a well-formed name; members whose value is undefined
 * are no members and are passed over, as the copy drops them.
 */
export function jsonMembersBesides(value: object, known: readonly string[], depth = 0): boolean {
  // for-in allocates no key list; it sees exactly the own members while the object's
  // prototype is Object.prototype and that has no enumerable property (someone may add one).
  if (Object.getPrototypeOf(value) !== Object.prototype || !plainPrototype()) return jsonMembersOf(value, Object.keys(value), known, depth);
  for (const key in value) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined || (known.length !== 0 && known.includes(key))) continue;
    if (!(key as WellFormedString).isWellFormed() || !isJsonData(member, depth + 1)) return false;
  }
  return true;
}

function jsonMembersOf(value: object, keys: string[], known: readonly string[], depth: number): boolean {
  for (const key of keys) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined || known.includes(key)) continue;
    if (!(key as WellFormedString).isWellFormed() || !isJsonData(member, depth + 1)) return false;
  }
  return true;
}

const EMPTY = {};

/** Whether Object.prototype has no enumerable property, as it has unless someone added one. */
function plainPrototype(): boolean {
  for (const _ in EMPTY) return false;
  return true;
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
