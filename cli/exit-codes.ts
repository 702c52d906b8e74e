/** Exit codes of the onex command, by error code. Documented in docs/errors.md. */
import { ErrorCode } from "@onex/runtime";

export const ExitCode = {
  Ok: 0,
  /** The command ran and found problems: invalid messages, stale files, failed verification. */
  Findings: 1,
  /** The command was called wrongly: unknown flag, version, URL or argument. */
  Usage: 2,
  /** An input file (manifest, schema, template, message file) is broken or missing. */
  BadInput: 3,
  /** A server the command needs cannot be reached, or did not answer. */
  Unavailable: 69,
  /** An output file cannot be written: missing folder, no permission, disk full, a folder in its place (sysexits EX_CANTCREAT). */
  CantCreate: 73,
  /** A bug in onex. */
  Internal: 70,
} as const;

const { Findings, Usage, Unavailable, CantCreate, Internal } = ExitCode;

/** Every code that does not mean "a broken or missing input" (exit 3). */
const EXIT_BY_CODE: Partial<Record<ErrorCode, number>> = {
  // Findings: the command ran and the input failed a check.
  [ErrorCode.GeneratedStale]: Findings,
  [ErrorCode.ValidationFailed]: Findings,
  [ErrorCode.JsonSyntax]: Findings,
  [ErrorCode.LineTooLong]: Findings,
  [ErrorCode.JsonDuplicateKey]: Findings,
  [ErrorCode.NumberRange]: Findings,
  // A string escaping a lone surrogate is a bad message like any other: validate and migrate
  // judged it so (exit 1) while sign and verify, ending on its code, exited 3.
  [ErrorCode.CanonicalJson]: Findings,
  [ErrorCode.UnknownType]: Findings,
  [ErrorCode.NoCounterpart]: Findings,
  [ErrorCode.TransformUnsound]: Findings,
  [ErrorCode.BreakingChange]: Findings,
  [ErrorCode.SignatureMissing]: Findings,
  [ErrorCode.SignatureInvalid]: Findings,
  [ErrorCode.SignerUnknown]: Findings,
  [ErrorCode.TrustExpired]: Findings,
  [ErrorCode.ZoneMismatch]: Findings,
  [ErrorCode.OriginMismatch]: Findings,
  [ErrorCode.GrantInvalid]: Findings,
  [ErrorCode.GrantNotYetValid]: Findings,
  [ErrorCode.GrantExpired]: Findings,
  [ErrorCode.GrantRevoked]: Findings,
  [ErrorCode.IdentityMismatch]: Findings,
  [ErrorCode.TraceMismatch]: Findings,
  [ErrorCode.Replay]: Findings,
  [ErrorCode.NotFound]: Findings,
  [ErrorCode.EntryTampered]: Findings,
  [ErrorCode.NoRoute]: Findings,
  [ErrorCode.IncompatiblePeer]: Findings,
  [ErrorCode.SchemaHashMismatch]: Findings,
  [ErrorCode.DescriptorInvalid]: Findings,
  [ErrorCode.PieceCorrupt]: Findings,
  [ErrorCode.StreamFull]: Findings,
  [ErrorCode.PermissionDenied]: Findings,
  [ErrorCode.RoutingMismatch]: Findings,
  [ErrorCode.DeadLetterRefused]: Findings,
  // Usage: the command was called wrongly.
  [ErrorCode.Usage]: Usage,
  [ErrorCode.UnknownVersion]: Usage,
  [ErrorCode.SdkMismatch]: Usage,
  [ErrorCode.PolicyInvalid]: Usage,
  [ErrorCode.NoPath]: Usage,
  [ErrorCode.RegistryUrl]: Usage,
  [ErrorCode.AddressInvalid]: Usage,
  [ErrorCode.FileExists]: Usage,
  // CantCreate: an output could not be written.
  [ErrorCode.WriteFailed]: CantCreate,
  // Unavailable: a server did not answer; running the command again may succeed.
  [ErrorCode.ConnectionFailed]: Unavailable,
  [ErrorCode.PublishTimeout]: Unavailable,
  [ErrorCode.RegistryUnavailable]: Unavailable,
  [ErrorCode.NegotiationTimeout]: Unavailable,
  [ErrorCode.SchemaIndexUnavailable]: Unavailable,
  [ErrorCode.ConsumerGone]: Unavailable,
  [ErrorCode.NoPeers]: Unavailable,
  [ErrorCode.ArtifactIncomplete]: Unavailable,
  [ErrorCode.Internal]: Internal,
};

/** The exit code an error with this code ends the command with. */
export function exitCodeFor(code: string): number {
  return EXIT_BY_CODE[code as ErrorCode] ?? ExitCode.BadInput;
}

/**
 * Codes of text that is no JSON data onex takes: a finding in a message a command checks (exit
 * 1), a broken input in the schemas a command reads (exit 3). A schema holding a lone surrogate
 * or an integer beyond 2^53 exited 1 from `generate --check`, the status of a stale file.
 */
const TEXT_CODES: ReadonlySet<string> = new Set([ErrorCode.JsonSyntax, ErrorCode.JsonDuplicateKey, ErrorCode.NumberRange, ErrorCode.CanonicalJson, ErrorCode.LineTooLong]);

/** The exit status of `code` for a command whose inputs are the schemas (generate, check, diff, …): their broken text is a broken input. */
export function schemaExitCodeFor(code: string): number {
  return TEXT_CODES.has(code) ? ExitCode.BadInput : exitCodeFor(code);
}
