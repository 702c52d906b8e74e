/**
 * Who may publish which artifact names. Serving pieces and publishing names are different
 * rights: any trusted peer may serve the bytes of an artifact (the piece hashes keep it
 * honest), but only a key granted a name may sign the descriptor that says what the name
 * means. Without this split, every swarm peer could sign its own `model@5` and race the real
 * publisher to the announcement.
 */
import { ErrorCode, OnexError } from "../errors.js";
import type { PublicKey } from "../trust/keys.js";

/** A key allowed to sign descriptors, and the artifact names it may sign them for. */
export interface PublisherGrant {
  key: PublicKey;
  /** Exact names (`models/llm`), prefixes ending in `*` (`models/*`), or `*` for every name. */
  names: readonly string[];
}

/** True when `pattern` (an exact name, `prefix*` or `*`) covers `name`. */
export function nameMatches(pattern: string, name: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/**
 * The key that may sign a descriptor for `name` under key id `keyId`. Throws
 * ONEX_E_SIGNER_UNKNOWN when no grant holds that key, or when the key's grants do not
 * cover the name (it may publish other names only).
 */
export function publisherKeyFor(grants: readonly PublisherGrant[], keyId: string, name: string): PublicKey {
  const held = grants.filter((g) => g.key.keyId === keyId);
  if (held.length === 0) throw new OnexError(ErrorCode.SignerUnknown, `publisher ${keyId} is not a trusted publisher`, { signer: keyId });
  const granted = held.find((g) => g.names.some((pattern) => nameMatches(pattern, name)));
  if (granted === undefined) {
    const names = held.flatMap((g) => g.names);
    throw new OnexError(ErrorCode.SignerUnknown, `publisher ${keyId} may publish ${names.join(", ")}, not ${name}`, { signer: keyId, names, name });
  }
  return granted.key;
}

/** Grants every name to each key: for deployments where one set of publishers owns the whole zone. */
export function publishersOf(keys: readonly PublicKey[], names: readonly string[] = ["*"]): PublisherGrant[] {
  return keys.map((key) => ({ key, names }));
}
