/**
 * The one error type of onex. Every failure a user can cause carries a stable string
 * `code` (documented in docs/errors.md), a message a person can act on, and structured
 * details a program can act on.
 */

/** Stable error codes; the string values never change once released. */
export const ErrorCode = {
  /** A YAML file (manifest or schema) is not well-formed. */
  YamlSyntax: "ONEX_E_YAML_SYNTAX",
  /** A file the manifest names, the schemas folder itself, or the `--templates` folder does not exist. */
  FileNotFound: "ONEX_E_FILE_NOT_FOUND",
  /** A manifest breaks the manifest meta-schema. */
  ManifestInvalid: "ONEX_E_MANIFEST_INVALID",
  /** A `$ref` points at a file or location that does not exist or is not declared. */
  RefUnresolved: "ONEX_E_REF_UNRESOLVED",
  /** Two messages of one manifest declare the same type. */
  DuplicateType: "ONEX_E_DUPLICATE_TYPE",
  /** Two schemas of one manifest would generate the same type name. */
  DuplicateName: "ONEX_E_DUPLICATE_NAME",
  /** A subject template uses a placeholder with no param, or not as a whole token. */
  SubjectPlaceholder: "ONEX_E_SUBJECT_PLACEHOLDER",
  /** A subject param points at an envelope field that is missing or not a required string. */
  SubjectParam: "ONEX_E_SUBJECT_PARAM",
  /** A message names a subject template the manifest does not declare. */
  SubjectUnknown: "ONEX_E_SUBJECT_UNKNOWN",
  /** A JSON Schema is rejected by the validator compiler (unknown keyword, bad type...). */
  SchemaInvalid: "ONEX_E_SCHEMA_INVALID",
  /** A folder of the schemas folder looks like a protocol version but is not one (`v0.3-draft`), has no manifest, or repeats a version. */
  VersionFolder: "ONEX_E_VERSION_FOLDER",
  /** `$ref`s form a cycle that never reaches a schema of its own (`A` is `B`, `B` is `A`). */
  RefCycle: "ONEX_E_REF_CYCLE",
  /** A schema is larger than onex generates code for (too many properties, too deep, too many schemas). */
  SchemaTooLarge: "ONEX_E_SCHEMA_TOO_LARGE",
  /** A template failed to compile or render. */
  TemplateError: "ONEX_E_TEMPLATE",
  /** A file in the `--templates` folder has the name of no template onex renders (a misspelt name would otherwise be ignored). */
  TemplateUnknown: "ONEX_E_TEMPLATE_UNKNOWN",
  /** A manifest name or envelope field would clash with a name the generated SDK defines itself (`MessageType`, `AnyMessage`, the `subject()` method...). */
  ReservedName: "ONEX_E_RESERVED_NAME",
  /** `onex generate --check` found stale, missing or extra generated files. */
  GeneratedStale: "ONEX_E_GENERATED_STALE",
  /** A command that runs on the generated SDK (validate, migrate, check, versions, negotiate) found it missing or not current with the schemas it was asked about. */
  SdkStale: "ONEX_E_SDK_STALE",
  /** A schema uses a keyword the AsyncAPI Schema Object (draft-07) cannot express. */
  AsyncApiUnsupported: "ONEX_E_ASYNCAPI_UNSUPPORTED",
  /** Input is not valid JSON (or not valid UTF-8). */
  JsonSyntax: "ONEX_E_JSON_SYNTAX",
  /** A line of input is longer than any message can be; it is skipped unread. */
  LineTooLong: "ONEX_E_LINE_TOO_LONG",
  /** A JSON object names the same member twice; RFC 8785 signs I-JSON, which forbids it, and readers disagree on which value wins. */
  JsonDuplicateKey: "ONEX_E_JSON_DUPLICATE_KEY",
  /** A number cannot be carried exactly: an integer beyond 2^53 where the reader keeps only doubles, or a value beyond the double range. */
  NumberRange: "ONEX_E_NUMBER_RANGE",
  /** A message does not validate against its schema. */
  ValidationFailed: "ONEX_E_VALIDATION",
  /** A message's `type` is missing or not a type of the version. */
  UnknownType: "ONEX_E_UNKNOWN_TYPE",
  /** A protocol version is not one the toolchain knows. */
  UnknownVersion: "ONEX_E_UNKNOWN_VERSION",
  /** A value cannot be encoded as a NATS subject token (empty, or not well-formed Unicode). */
  SubjectToken: "ONEX_E_SUBJECT_TOKEN",
  /** A subject does not match its template or holds a malformed token. */
  SubjectParse: "ONEX_E_SUBJECT_PARSE",
  /** A value cannot be canonicalized per RFC 8785: NaN, Infinity, a lone surrogate, a cycle, a non-plain object, or nesting too deep. */
  CanonicalJson: "ONEX_E_CANONICAL_JSON",
  /** Key material is not an Ed25519 key in a form onex reads (PEM, compact text, 32 raw bytes). */
  KeyInvalid: "ONEX_E_KEY_INVALID",
  /** An Ed25519 public key is of small order or not canonically encoded: anyone could forge its signatures. */
  KeyWeak: "ONEX_E_KEY_WEAK",
  /** A private key file is readable by other users (like ssh, onex refuses it unless told otherwise). */
  KeyPermissions: "ONEX_E_KEY_PERMISSIONS",
  /** A message or record that must be signed carries no signature. */
  SignatureMissing: "ONEX_E_SIGNATURE_MISSING",
  /** A signature is malformed, names another algorithm, or does not verify with the signer's key. */
  SignatureInvalid: "ONEX_E_SIGNATURE_INVALID",
  /** The signer's key id is not in the verifier's key ring. */
  SignerUnknown: "ONEX_E_SIGNER_UNKNOWN",
  /** A message's `trust.expires_at` (or a registry entry's age limit) has passed, or is not a valid time. */
  TrustExpired: "ONEX_E_TRUST_EXPIRED",
  /** A message's zone is not the zone the receiving session expects, or its source and trust zones differ. */
  ZoneMismatch: "ONEX_E_ZONE_MISMATCH",
  /** A message's source entity is not known to hold the key that signed it. */
  OriginMismatch: "ONEX_E_ORIGIN_MISMATCH",
  /** A session grant is missing, forged, issued by an unknown authority, for another subject, or out of scope. */
  GrantInvalid: "ONEX_E_GRANT_INVALID",
  /** A session grant's `not_before` is still in the future. */
  GrantNotYetValid: "ONEX_E_GRANT_NOT_YET_VALID",
  /** A session grant's `expires_at` has passed. */
  GrantExpired: "ONEX_E_GRANT_EXPIRED",
  /** A session grant was revoked by its issuer. */
  GrantRevoked: "ONEX_E_GRANT_REVOKED",
  /** A node id does not derive from its key, build and zone, or a record names a key or node other than the one it is checked against. */
  IdentityMismatch: "ONEX_E_IDENTITY_MISMATCH",
  /** An attestation's `trace_hash` is not the hash of the task and result it claims to attest. */
  TraceMismatch: "ONEX_E_TRACE_MISMATCH",
  /** A message id was already accepted inside its validity window, or the message is outside the replay window. */
  Replay: "ONEX_E_REPLAY",
  /** A trust policy configuration names an unknown policy or mode. */
  PolicyInvalid: "ONEX_E_POLICY_INVALID",
  /** A version transform file (`schemas/vX/from-vY.yaml`) breaks the transform meta-schema or its rules. */
  TransformInvalid: "ONEX_E_TRANSFORM_INVALID",
  /** A message type has no counterpart in the version it is migrated to. */
  NoCounterpart: "ONEX_E_NO_COUNTERPART",
  /** No chain of transforms connects the two versions. */
  NoPath: "ONEX_E_NO_PATH",
  /** A transform turned a valid message of the old version into one the new version rejects. */
  TransformUnsound: "ONEX_E_TRANSFORM_UNSOUND",
  /** `onex diff` found a breaking change that no transform covers. */
  BreakingChange: "ONEX_E_BREAKING_CHANGE",
  /** A peer shares no protocol version with this node and no transform path connects theirs (or it declares none this node can read). */
  IncompatiblePeer: "ONEX_E_INCOMPATIBLE_PEER",
  /** A peer (or a schema index) declares a version whose schemas hash differently from the schemas this node knows for it. */
  SchemaHashMismatch: "ONEX_E_SCHEMA_HASH_MISMATCH",
  /** A peer did not answer a probe or handshake in time, or nothing serves its negotiation subject. */
  NegotiationTimeout: "ONEX_E_NEGOTIATION_TIMEOUT",
  /** A handshake, probe answer or schema index is malformed, or the peer's agreement differs from the one this node computed. */
  NegotiationInvalid: "ONEX_E_NEGOTIATION_INVALID",
  /** A schema index file or URL cannot be read. */
  SchemaIndexUnavailable: "ONEX_E_SCHEMA_INDEX_UNAVAILABLE",
  /** A registry URL has an unknown scheme or malformed options. */
  RegistryUrl: "ONEX_E_REGISTRY_URL",
  /** The registry server cannot be reached, or did not answer in time. */
  RegistryUnavailable: "ONEX_E_REGISTRY_UNAVAILABLE",
  /** No live registry entry exists at the address (never registered, deregistered, or its TTL lapsed). */
  NotFound: "ONEX_E_NOT_FOUND",
  /** A canonical address (`onex://<zone>/<entity_type>/<id>`) is malformed or not in canonical form. */
  AddressInvalid: "ONEX_E_ADDRESS_INVALID",
  /** An entry read back from the registry store no longer verifies: it was changed inside the store. */
  EntryTampered: "ONEX_E_ENTRY_TAMPERED",
  /** The router found no candidate for a task, or every candidate failed or timed out. */
  NoRoute: "ONEX_E_NO_ROUTE",
  /** The SDK a service was given lacks a message type the service needs, or no envelope or payload shape the service can build fits that type in the SDK's version. */
  SdkMismatch: "ONEX_E_SDK_MISMATCH",
  /** A piece's bytes do not hash to the SHA-256 its artifact descriptor lists (a peer served it corrupt, or the file on disk changed). */
  PieceCorrupt: "ONEX_E_PIECE_CORRUPT",
  /** A fetch ended before every piece was verified (no peer had the rest, or it stalled); run it again to resume. */
  ArtifactIncomplete: "ONEX_E_ARTIFACT_INCOMPLETE",
  /** An artifact descriptor is malformed or inconsistent (piece count, sizes, root hash), or its signer or zone is refused by the trust policy. */
  DescriptorInvalid: "ONEX_E_DESCRIPTOR_INVALID",
  /** No peer serves the artifact: nothing announced it, and no registered piece server has it. */
  NoPeers: "ONEX_E_NO_PEERS",
  /** The NATS server cannot be reached. */
  ConnectionFailed: "ONEX_E_CONNECTION",
  /** No JetStream stream accepts the subject (streams not applied yet), or a stream is missing. */
  NoStream: "ONEX_E_NO_STREAM",
  /** The stream refused a message because a limit is reached (discard policy `new`). */
  StreamFull: "ONEX_E_STREAM_FULL",
  /** The server did not acknowledge a publish in time, even after retries. */
  PublishTimeout: "ONEX_E_PUBLISH_TIMEOUT",
  /** Publishing failed for another reason the server gave. */
  PublishFailed: "ONEX_E_PUBLISH_FAILED",
  /** The server refused a stream or consumer configuration. */
  StreamConfig: "ONEX_E_STREAM_CONFIG",
  /** The connection's permissions do not allow publishing or subscribing on a subject. */
  PermissionDenied: "ONEX_E_PERMISSION_DENIED",
  /** A handler gave up on a message `max_deliver` times (dead-letter reason). */
  HandlerFailed: "ONEX_E_HANDLER_FAILED",
  /** The subject or `Onex-Type` header a message travelled with disagrees with its signed body (dead-letter reason). */
  RoutingMismatch: "ONEX_E_ROUTING_MISMATCH",
  /** A subscription's consumer was deleted on the server; the subscription ended. */
  ConsumerGone: "ONEX_E_CONSUMER_GONE",
  /** `onex dlq replay` refused a letter: its original does not verify, disagrees with what the letter records, or belongs to another zone than the letter's writer. */
  DeadLetterRefused: "ONEX_E_DLQ_REFUSED",
  /** An input file exists but cannot be read: a folder, no permission, an I/O error. */
  FileUnreadable: "ONEX_E_FILE_UNREADABLE",
  /** An output file exists and --force was not given. */
  FileExists: "ONEX_E_FILE_EXISTS",
  /** An output cannot be written: its folder is missing, permission denied, the disk is full, or it is a folder. */
  WriteFailed: "ONEX_E_WRITE_FAILED",
  /** A command was called with wrong arguments. */
  Usage: "ONEX_E_USAGE",
  /** A failure inside onex itself; please report it. */
  Internal: "ONEX_E_INTERNAL",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Structured context of an error: where it happened and what it concerns. */
export interface OnexErrorDetails {
  file?: string;
  line?: number;
  column?: number;
  version?: string;
  type?: string;
  subject?: string;
  schemaPath?: string;
  instancePath?: string;
  [key: string]: unknown;
}

/**
 * The mark every OnexError carries, under a key of the global symbol registry: one service can
 * hold two copies of @onex/runtime (its own and its SDK's, in two node_modules folders), each
 * with its own OnexError class, and an error of one copy is no `instanceof` the other's. The mark
 * is on the class's prototype, not writable and not enumerable (a spread or JSON of an error
 * leaves it out); `isOnexError` and `instanceof OnexError` accept an error of another copy by it.
 */
const ONEX_ERROR_BRAND: unique symbol = Symbol.for("@onex/runtime.OnexError") as never;

/** What every code is spelt as, in every release (codes are added, never changed): a copy of another release's codes are codes too. */
const CODE_SPELLING = /^ONEX_E_[A-Z0-9_]+$/;

const ownInstance = Function.prototype[Symbol.hasInstance];

/** The error every onex failure is reported with. */
export class OnexError extends Error {
  override readonly name = "OnexError";

  /**
   * `error instanceof OnexError` holds for an OnexError of this copy of the runtime, and of any
   * other copy loaded beside it (see ONEX_ERROR_BRAND): an Error carrying the mark, a string
   * `code` spelt as codes are and its `details` object. Anything else — a plain object with a
   * code, an Error without the mark — is none.
   */
  static override [Symbol.hasInstance](value: unknown): value is OnexError {
    // A subclass (none in onex) keeps the ordinary test.
    if (this !== OnexError) return ownInstance.call(this, value);
    return isOnexErrorOfAnyCopy(value);
  }

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: OnexErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `file:line:column` when the error has a location, else undefined. */
  get location(): string | undefined {
    const { file, line, column } = this.details;
    if (file === undefined) return undefined;
    if (line === undefined) return file;
    return column === undefined ? `${file}:${line}` : `${file}:${line}:${column}`;
  }
}

Object.defineProperty(OnexError.prototype, ONEX_ERROR_BRAND, { value: true, writable: false, enumerable: false, configurable: false });

function isOnexErrorOfAnyCopy(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  // This copy's own: its prototype chain, as instanceof always tested.
  if (ownInstance.call(OnexError, value)) return true;
  const e = value as { [ONEX_ERROR_BRAND]?: unknown; code?: unknown; details?: unknown };
  return (
    e[ONEX_ERROR_BRAND] === true &&
    value instanceof Error &&
    typeof e.code === "string" &&
    CODE_SPELLING.test(e.code) &&
    typeof e.details === "object" &&
    e.details !== null
  );
}

/**
 * True when `error` is an OnexError, optionally with the given code: one made by this copy of
 * the runtime or by another copy the process loaded too (an SDK's own @onex/runtime).
 */
export function isOnexError(error: unknown, code?: ErrorCode): error is OnexError {
  return isOnexErrorOfAnyCopy(error) && (code === undefined || (error as OnexError).code === code);
}
