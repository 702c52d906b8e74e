/**
 * Keys of registry entries in path-shaped stores (etcd, Consul KV):
 * `<prefix><zone token>/<entity type>/<id token>`, with the subject token encoding, so a key
 * holds no `/` of its own and maps back to exactly one canonical address.
 */
import { decodeSubjectToken, encodeSubjectToken } from "../subject-token.js";
import { EntityType, buildAddress, type CanonicalAddress } from "./address.js";
import { Memo, partsKey } from "./memo.js";
import type { StorePrefix } from "./registry.js";

const ENTITY_TYPES = new Set<string>(Object.values(EntityType));

/** The store key of an address under `prefix`. */
export function pathKeyOf(prefix: string, key: CanonicalAddress): string {
  return `${prefix}${paths.get(partsKey(key), () => `${encodeSubjectToken(key.zone)}/${key.entityType}/${encodeSubjectToken(key.id)}`)}`;
}

/** The key prefix of every entry, of a zone, or of one entity type in a zone. */
export function pathPrefixOf(prefix: string, of: StorePrefix): string {
  if (of.zone === undefined) return prefix;
  return `${prefix}${encodeSubjectToken(of.zone)}/${of.entityType === undefined ? "" : `${of.entityType}/`}`;
}

/** The address a store key under `prefix` stands for, or undefined for a foreign key. */
export function parsePathKey(prefix: string, raw: string): CanonicalAddress | undefined {
  if (!raw.startsWith(prefix)) return undefined;
  const path = raw.slice(prefix.length);
  const parsed = parsedPaths.get(path, () => parsePath(path));
  // A fresh object each time: callers may change what they are handed.
  return parsed === undefined ? undefined : { ...parsed };
}

const paths = new Memo<string>();
const parsedPaths = new Memo<CanonicalAddress | undefined>();

function parsePath(path: string): CanonicalAddress | undefined {
  const parts = path.split("/");
  if (parts.length !== 3 || !ENTITY_TYPES.has(parts[1]!)) return undefined;
  try {
    const address = { zone: decodeSubjectToken(parts[0]!), entityType: parts[1] as EntityType, id: decodeSubjectToken(parts[2]!) };
    // A key no address spells (a bad zone, an id too long) is foreign: the trust layer would refuse its address outright.
    buildAddress(address);
    return address;
  } catch {
    return undefined;
  }
}
