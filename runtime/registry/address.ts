/**
 * Canonical addresses: `onex://<zone>/<entity_type>/<id>`, for example
 * `onex://zone.trusted.org/node/node-3f2a`.
 *
 * The zone sits in the host position as written: the protocol restricts zone ids to
 * lower-case DNS labels, so a zone is already a valid host and needs no escaping. The id
 * is spelled with the subject-token encoding (`runtime/subject-token.ts`), so the path
 * segment of an address is byte for byte the `{entity_id}` token of the entity's subject,
 * and an id holding `/`, `.` or spaces round-trips. Only the canonical spelling parses,
 * so `buildAddress(parseAddress(a)) === a` for every address that parses.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { decodeSubjectToken, encodeSubjectToken } from "../subject-token.js";
import { isZoneId, ZONE_ID_RULE } from "../zone-id.js";
import { Memo, partsKey } from "./memo.js";

/** The entity types an address can name (the `entity_type` enum of the address record). */
export const EntityType = {
  Node: "node",
  Agent: "agent",
  Session: "session",
  Task: "task",
} as const;
export type EntityType = (typeof EntityType)[keyof typeof EntityType];

/** The parts of a canonical address. */
export interface CanonicalAddress {
  zone: string;
  entityType: EntityType;
  id: string;
}

/** The URL scheme of canonical addresses. */
export const ADDRESS_SCHEME = "onex://";

const MAX_ID = 256;
const ENTITY_TYPES = new Set<string>(Object.values(EntityType));

/** Throws ONEX_E_ADDRESS_INVALID unless `zone` is a protocol zone id. */
export function assertZone(zone: string): void {
  if (!isZoneId(zone)) {
    throw new OnexError(ErrorCode.AddressInvalid, `"${String(zone).slice(0, 80)}" is not a zone id (${ZONE_ID_RULE})`, { zone: String(zone).slice(0, 80) });
  }
}

/** Builds the canonical address of an entity; throws ONEX_E_ADDRESS_INVALID for a bad zone, type or id. */
export function buildAddress(parts: CanonicalAddress): string {
  // Readers build the same addresses again and again; only what is valid is remembered, and
  // parts that are not even strings are refused as they always were.
  if (typeof parts.zone !== "string" || typeof parts.entityType !== "string" || typeof parts.id !== "string") return buildAddressOnce(parts);
  return builtAddresses.get(partsKey(parts), () => buildAddressOnce(parts));
}

const builtAddresses = new Memo<string>();

function buildAddressOnce(parts: CanonicalAddress): string {
  assertZone(parts.zone);
  if (!ENTITY_TYPES.has(parts.entityType)) {
    throw new OnexError(ErrorCode.AddressInvalid, `"${String(parts.entityType)}" is not an entity type (${[...ENTITY_TYPES].join(", ")})`, { entityType: parts.entityType });
  }
  if (typeof parts.id !== "string" || parts.id.length === 0 || parts.id.length > MAX_ID) {
    throw new OnexError(ErrorCode.AddressInvalid, `an entity id is 1 to ${MAX_ID} characters`, { id: String(parts.id).slice(0, 80) });
  }
  let token: string;
  try {
    token = encodeSubjectToken(parts.id, "id");
  } catch (cause) {
    throw new OnexError(ErrorCode.AddressInvalid, `entity id cannot be encoded: ${(cause as Error).message}`, { id: parts.id.slice(0, 80) }, { cause });
  }
  return `${ADDRESS_SCHEME}${parts.zone}/${parts.entityType}/${token}`;
}

/** Parses a canonical address; throws ONEX_E_ADDRESS_INVALID for anything that is not one, in canonical form. */
export function parseAddress(address: string): CanonicalAddress {
  // Readers parse the same addresses again and again; only what parses is remembered. A fresh
  // object each time: callers may change what they are handed.
  return { ...parsedAddresses.get(address, () => parseAddressOnce(address)) };
}

const parsedAddresses = new Memo<CanonicalAddress>();

function parseAddressOnce(address: string): CanonicalAddress {
  const invalid = (why: string, cause?: unknown) =>
    new OnexError(ErrorCode.AddressInvalid, `"${String(address).slice(0, 120)}" is not a canonical address (onex://<zone>/<entity_type>/<id>): ${why}`, { address: String(address).slice(0, 120) }, { cause });
  if (typeof address !== "string" || !address.startsWith(ADDRESS_SCHEME)) throw invalid(`it must start with ${ADDRESS_SCHEME}`);
  const parts = address.slice(ADDRESS_SCHEME.length).split("/");
  if (parts.length !== 3) throw invalid("it needs exactly three parts");
  const [zone, entityType, token] = parts as [string, string, string];
  if (!isZoneId(zone)) throw invalid(`the zone is not ${ZONE_ID_RULE}`);
  if (!ENTITY_TYPES.has(entityType)) throw invalid(`the entity type is not one of ${[...ENTITY_TYPES].join(", ")}`);
  let id: string;
  try {
    id = decodeSubjectToken(token, "id");
  } catch (cause) {
    throw invalid("the id is not in the canonical token encoding", cause);
  }
  if (id.length > MAX_ID) throw invalid(`the id is longer than ${MAX_ID} characters`);
  return { zone, entityType: entityType as EntityType, id };
}

/** The canonical address of a node in a zone. */
export function nodeAddress(zone: string, nodeId: string): string {
  return buildAddress({ zone, entityType: EntityType.Node, id: nodeId });
}

/** True when `value` parses as a canonical address. */
export function isCanonicalAddress(value: string): boolean {
  try {
    parseAddress(value);
    return true;
  } catch {
    return false;
  }
}
