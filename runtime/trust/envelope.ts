/**
 * Reading the trust-relevant fields of an envelope of any protocol version, as plain data.
 * v0.1 and later carry the source address in `source` and the creation time in `time`;
 * v0.0.9 carries them flat (`zone`, `entity_type`, `entity_id`) and as `timestamp`.
 */
import { ErrorCode, OnexError } from "../errors.js";
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

/** The envelope without `trust.signature`: exactly what a message signature covers. */
export function unsignedEnvelope(data: Envelope): Envelope {
  const { signature: _signature, ...trust } = data.trust;
  return { ...data, trust };
}

/** The zone the source address claims (`source.zone`, or flat `zone` in v0.0.9). */
export function sourceZoneOf(data: Envelope): string | undefined {
  const source = data.source as { zone?: unknown } | undefined;
  const zone = source !== null && typeof source === "object" ? source.zone : data.zone;
  return typeof zone === "string" ? zone : undefined;
}

/** The id of the source entity (`source.entity_id`, or flat `entity_id` in v0.0.9). */
export function sourceEntityOf(data: Envelope): string | undefined {
  const source = data.source as { entity_id?: unknown } | undefined;
  const id = source !== null && typeof source === "object" ? source.entity_id : data.entity_id;
  return typeof id === "string" ? id : undefined;
}

/** When the sender created the message, in ms since the epoch (`time`, or `timestamp` in v0.0.9); NaN when absent or malformed. */
export function createdAtOf(data: Envelope): number {
  const time = data.time ?? data.timestamp;
  return parseRfc3339(time);
}

/** A point in time as ms since the epoch; a string must be a strict RFC 3339 time (else NaN). */
export function toMillis(time: Date | number | string | undefined): number {
  if (time === undefined) return Date.now();
  if (typeof time === "number") return time;
  if (typeof time === "string") return parseRfc3339(time);
  return time.getTime();
}
