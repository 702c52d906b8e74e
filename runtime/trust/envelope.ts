/**
 * Reading the trust-relevant fields of an envelope of any protocol version, as plain data.
 *
 * The runtime knows no version's shape. Each generated SDK emits its version's envelope
 * layout (`envelope` in `generated/<version>/manifest.ts`: JSON Pointers to the declared
 * version, the creation time, the source zone and entity, and the signature) and registers it
 * when it loads; the readers here find a message's layout by the version it declares and read
 * through it. A message of a version no loaded SDK knows is read with the newest layout under
 * which it declares a version at all, as its sender's deployment presumably does.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { setJsonMember } from "../json-member.js";
import { compareVersions } from "../version-order.js";
import { parseRfc3339 } from "./rfc3339-time.js";

/** The `trust` block every envelope carries. */
export interface TrustBlock {
  signer: string;
  level: string;
  signature?: string;
  zone: string;
  expires_at: string;
}

/** An envelope as plain data: any version, with its trust block. */
export type Envelope = Record<string, unknown> & { trust: TrustBlock };

/** The plain data fields of a message type (a generated class minus its methods), with the trust block. */
export type MessageData<T> = { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: T[K] } & Envelope;

/** What the signing functions accept: plain envelope data or a generated message instance. */
export type EnvelopeInput = object;

/**
 * Where one protocol version's envelope keeps what the runtime reads, as JSON Pointers
 * (RFC 6901). `onex generate` emits it per version from the manifest; it is the only place
 * the runtime learns a version's envelope shape from.
 */
export interface EnvelopeLayout {
  /** The protocol version whose envelopes this describes. */
  readonly version: string;
  /** Where a message declares its protocol version (a string); absent when the version's envelope does not declare it. */
  readonly declaredVersion?: string;
  /** When the sender created the message (an RFC 3339 time); absent when the envelope has no creation time. */
  readonly time?: string;
  /** The zone the source address claims; absent when the version's envelope names none. */
  readonly zone?: string;
  /** The source entity's type (`node`, `agent`, ...). */
  readonly entityType?: string;
  /** The source entity's id. */
  readonly entityId?: string;
  /** The signature: the signed part of a message is the whole envelope without this member (default `/trust/signature`, in the trust block). */
  readonly signature?: string;
  /** Every message type of the version: a subscriber of another version tells a type this one has from a made-up one without judging it. */
  readonly messageTypes?: readonly string[];
}

/** The source address of a message, as the layout places it. */
export interface EnvelopeSource {
  zone: string;
  entityType: string;
  entityId: string;
}

interface CompiledLayout {
  readonly layout: EnvelopeLayout;
  readonly types: ReadonlySet<string> | undefined;
  readonly declaredVersion: readonly string[] | undefined;
  readonly time: readonly string[] | undefined;
  readonly zone: readonly string[] | undefined;
  readonly entityType: readonly string[] | undefined;
  readonly entityId: readonly string[] | undefined;
  readonly signature: readonly string[];
}

// On globalThis, so two copies of the runtime in one process (a bundled and an installed one)
// still share what the loaded SDKs registered.
const REGISTRY_KEY = Symbol.for("onex.runtime.envelope-layouts/1");
interface LayoutRegistry {
  byVersion: Map<string, CompiledLayout>;
  newestFirst: CompiledLayout[];
  layouts: readonly EnvelopeLayout[];
}
const registry: LayoutRegistry = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as LayoutRegistry | undefined) ??
  ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] = { byVersion: new Map(), newestFirst: [], layouts: [] } as LayoutRegistry);

/** The segments of a JSON Pointer (RFC 6901); throws ONEX_E_USAGE for a malformed one. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new OnexError(ErrorCode.Usage, `"${pointer}" is not a JSON Pointer (it must start with /)`, { pointer });
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

// The trust block's own signature member: where the signature is when no loaded SDK knows the
// message's layout (the O.M.N.I. trust block is the same in every version).
const TRUST_SIGNATURE = ["trust", "signature"] as const;

function compile(layout: EnvelopeLayout): CompiledLayout {
  const optional = (pointer: string | undefined) => (pointer === undefined ? undefined : pointerSegments(pointer));
  const signature = layout.signature === undefined ? [...TRUST_SIGNATURE] : pointerSegments(layout.signature);
  if (signature.length === 0) throw new OnexError(ErrorCode.Usage, `the envelope layout of v${layout.version} puts the signature at the root`, { version: layout.version });
  return {
    layout,
    types: layout.messageTypes === undefined ? undefined : new Set(layout.messageTypes),
    declaredVersion: optional(layout.declaredVersion),
    time: optional(layout.time),
    zone: optional(layout.zone),
    entityType: optional(layout.entityType),
    entityId: optional(layout.entityId),
    signature,
  };
}

/**
 * Makes a version's envelope layout known to the runtime and returns it, frozen. Generated
 * SDKs call it when they load (through `@onex/runtime/codegen-v1`); a service need not.
 * A later layout of the same version replaces an earlier one.
 */
export function registerEnvelopeLayout(layout: EnvelopeLayout): EnvelopeLayout {
  const frozen = Object.freeze({ ...layout, ...(layout.messageTypes === undefined ? {} : { messageTypes: Object.freeze([...layout.messageTypes]) }) });
  const current = registry.byVersion.get(layout.version);
  if (current !== undefined && JSON.stringify(current.layout) === JSON.stringify(frozen)) return current.layout;
  registry.byVersion.set(frozen.version, compile(frozen));
  registry.newestFirst = [...registry.byVersion.values()].sort((a, b) => compareVersions(b.layout.version, a.layout.version));
  registry.layouts = Object.freeze(registry.newestFirst.map((c) => c.layout));
  return frozen;
}

/** The envelope layouts of every loaded SDK, newest version first. */
export function envelopeLayouts(): readonly EnvelopeLayout[] {
  return registry.layouts;
}

/** Whether `version` has message type `type`; undefined when no loaded SDK of that version says. */
export function versionHasType(version: string, type: string): boolean | undefined {
  return registry.byVersion.get(version)?.types?.has(type);
}

function read(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const segment of path) {
    if (at === null || typeof at !== "object" || Array.isArray(at) || !Object.hasOwn(at, segment)) return undefined;
    at = (at as Record<string, unknown>)[segment];
  }
  return at;
}

function compiledLayoutOf(value: unknown): CompiledLayout | undefined {
  if (value === null || typeof value !== "object") return undefined;
  let fallback: CompiledLayout | undefined;
  for (const compiled of registry.newestFirst) {
    if (compiled.declaredVersion === undefined) continue;
    const declared = read(value, compiled.declaredVersion);
    if (declared === compiled.layout.version) return compiled;
    if (fallback === undefined && typeof declared === "string") fallback = compiled;
  }
  return fallback;
}

/**
 * The layout a message is read with: its declared version's, or, for a version no loaded
 * SDK knows, the newest layout under which it declares one; undefined when it declares none.
 */
export function envelopeLayoutOf(value: unknown): EnvelopeLayout | undefined {
  return compiledLayoutOf(value)?.layout;
}

/** The version a message body declares, read through the loaded SDKs' layouts; undefined when it declares none. */
export function declaredVersionOf(value: unknown): string | undefined {
  const compiled = compiledLayoutOf(value);
  if (compiled?.declaredVersion === undefined) return undefined;
  const declared = read(value, compiled.declaredVersion);
  return typeof declared === "string" ? declared : undefined;
}

/** The signature a message body carries, where its version's layout keeps it (the trust block's `signature` when no loaded layout reads it). */
export function signatureOf(value: unknown): unknown {
  return read(value, compiledLayoutOf(value)?.signature ?? TRUST_SIGNATURE);
}

/** The plain data of a message (its `toJSON()` when it has one); throws ONEX_E_VALIDATION when it is no envelope with a trust block. */
export function envelopeData(message: EnvelopeInput): Envelope {
  const hasToJSON = message !== null && typeof message === "object" && typeof (message as { toJSON?: unknown }).toJSON === "function";
  const data: unknown = hasToJSON ? (message as { toJSON(): unknown }).toJSON() : message;
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new OnexError(ErrorCode.ValidationFailed, "a message must be a JSON object", { instancePath: "/" });
  }
  const trust = (data as { trust?: unknown }).trust;
  if (trust === null || typeof trust !== "object" || Array.isArray(trust)) {
    throw new OnexError(ErrorCode.ValidationFailed, "the message has no trust block", { instancePath: "/trust" });
  }
  return data as Envelope;
}

/** The envelope without its signature, where the message's layout puts it: exactly what a message signature covers. */
export function unsignedEnvelope(data: Envelope): Envelope {
  const path = compiledLayoutOf(data)?.signature ?? TRUST_SIGNATURE;
  return withoutMember(data, path) as Envelope;
}

/**
 * `value` without the member at `path`, copying only the objects on the way. Copied key by
 * key, never with `delete`, which turns an object into a slow dictionary for the canonical
 * writer that reads it next.
 */
function withoutMember(value: unknown, path: readonly string[], depth = 0): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const head = path[depth];
  if (head === undefined || !Object.hasOwn(value, head)) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (key !== head) setJsonMember(copy, key, (value as Record<string, unknown>)[key]);
    else if (depth + 1 < path.length) setJsonMember(copy, key, withoutMember((value as Record<string, unknown>)[key], path, depth + 1));
  }
  return copy;
}

type Member = "zone" | "entityType" | "entityId" | "time";

// A message that declares no version is read with the first layout (newest first) under which
// the member is present: so a zone or time check never passes merely because the version is missing.
function readMember(data: Envelope, member: Member): unknown {
  const compiled = compiledLayoutOf(data);
  if (compiled !== undefined) {
    const path = compiled[member];
    return path === undefined ? undefined : read(data, path);
  }
  for (const layout of registry.newestFirst) {
    const path = layout[member];
    const value = path === undefined ? undefined : read(data, path);
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * The zone the source address claims, where the message's layout puts it; undefined when absent.
 * As the message holds it: one judged without its schema may hold an array there (`["b"]`, which
 * String() makes `b`), and taken for no zone at all it passed zone_match and the grant check of
 * a signer granted only the trust zone.
 */
export function sourceZoneOf(data: Envelope): unknown {
  return readMember(data, "zone");
}

/** Where the message's layout puts the source zone, as a JSON Pointer (for error details). */
export function sourceZonePointerOf(data: Envelope): string | undefined {
  return compiledLayoutOf(data)?.layout.zone;
}

/** The id of the source entity, where the message's layout puts it. */
export function sourceEntityOf(data: Envelope): string | undefined {
  const id = readMember(data, "entityId");
  return typeof id === "string" ? id : undefined;
}

/** Where the message's layout puts the source entity id, as a JSON Pointer (for error details). */
export function sourceEntityPointerOf(data: Envelope): string | undefined {
  return compiledLayoutOf(data)?.layout.entityId;
}

/** When the sender created the message, in ms since the epoch; NaN when absent or malformed. */
export function createdAtOf(data: Envelope): number {
  return parseRfc3339(createdAtTextOf(data));
}

/** The message's creation time as it is written (undefined when its layout has none). */
export function createdAtTextOf(data: Envelope): unknown {
  return readMember(data, "time");
}

/**
 * The envelope members that place a message's source, laid out as `layout` says: merged
 * into what a generated `create()` takes, it builds an envelope of that version. Throws
 * ONEX_E_SDK_MISMATCH when the version's envelope has no place for a source address.
 */
export function envelopeSourceFields(layout: EnvelopeLayout, source: EnvelopeSource): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const places: [string | undefined, string, string][] = [
    [layout.zone, "zone", source.zone],
    [layout.entityType, "entity type", source.entityType],
    [layout.entityId, "entity id", source.entityId],
  ];
  for (const [pointer, what, value] of places) {
    if (pointer === undefined) throw new OnexError(ErrorCode.SdkMismatch, `v${layout.version} envelopes have no source ${what}`, { version: layout.version });
    const path = pointerSegments(pointer);
    let at = out;
    for (const segment of path.slice(0, -1)) {
      const next = Object.hasOwn(at, segment) ? at[segment] : undefined;
      at = (next !== null && typeof next === "object" ? next : (at[segment] = {})) as Record<string, unknown>;
    }
    at[path[path.length - 1]!] = value;
  }
  return out;
}

/** The most milliseconds a Date spans either side of 1970. */
export const MAX_DATE_MS = 8.64e15;

/**
 * A point in time as ms since the epoch (now when left out): a Date, a number of milliseconds or
 * a strict RFC 3339 string. Anything else is ONEX_E_USAGE naming `what`: a `now` of NaN (or an
 * invalid Date, or a string) compared false with every expiry and replay window, and accepted
 * expired messages, grants and entries, and Infinity was a RangeError.
 */
export function toMillis(time: Date | number | string | undefined, what = "a time"): number {
  const ms = time === undefined ? Date.now() : typeof time === "number" ? time : typeof time === "string" ? parseRfc3339(time) : time instanceof Date ? time.getTime() : Number.NaN;
  if (!(Math.abs(ms) <= MAX_DATE_MS)) {
    const shown = typeof time === "string" ? JSON.stringify(time) : time instanceof Date ? "an invalid Date" : String(typeof time === "symbol" ? "a symbol" : time);
    throw new OnexError(ErrorCode.Usage, `${what} must be a Date, milliseconds since 1970 or an RFC 3339 time with offset, not ${shown}`);
  }
  return ms;
}
