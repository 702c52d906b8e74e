/** Exit codes of the onex command, by error code. Documented in docs/errors.md. */
import { ErrorCode } from "../runtime/errors.js";

export const ExitCode = {
  Ok: 0,
  /** The command ran and found problems: invalid messages, stale generated files. */
  Findings: 1,
  /** The command was called wrongly: unknown flag, version or argument. */
  Usage: 2,
  /** An input file (manifest, schema, template, message file) is broken or missing. */
  BadInput: 3,
  /** A server the command needs (the registry) cannot be reached. */
  Unavailable: 69,
  /** A bug in onex. */
  Internal: 70,
} as const;

const FINDINGS = new Set<string>([ErrorCode.GeneratedStale, ErrorCode.ValidationFailed, ErrorCode.JsonSyntax, ErrorCode.UnknownType]);
// A message that cannot be migrated, an unsound transform or an uncovered breaking change: the command ran and found it.
const TRANSFORM_FINDINGS = new Set<string>([ErrorCode.NoCounterpart, ErrorCode.TransformUnsound, ErrorCode.BreakingChange]);
// Verification verdicts are findings: the command ran and the input failed a trust check.
const TRUST_FINDINGS = new Set<string>([
  ErrorCode.SignatureMissing,
  ErrorCode.SignatureInvalid,
  ErrorCode.SignerUnknown,
  ErrorCode.TrustExpired,
  ErrorCode.ZoneMismatch,
  ErrorCode.OriginMismatch,
  ErrorCode.GrantInvalid,
  ErrorCode.GrantNotYetValid,
  ErrorCode.GrantExpired,
  ErrorCode.GrantRevoked,
  ErrorCode.IdentityMismatch,
  ErrorCode.TraceMismatch,
  ErrorCode.Replay,
]);
// A registry lookup that finds nothing, or a stored entry that fails re-verification, is a finding too.
const REGISTRY_FINDINGS = new Set<string>([ErrorCode.NotFound, ErrorCode.EntryTampered, ErrorCode.NoRoute]);
const REGISTRY_USAGE = new Set<string>([ErrorCode.RegistryUrl, ErrorCode.AddressInvalid]);
const USAGE = new Set<string>([ErrorCode.Usage, ErrorCode.UnknownVersion, ErrorCode.PolicyInvalid, ErrorCode.NoPath]);
// A negotiation that ran and found the peer incompatible is a finding; a peer that never answered is unavailable.
const NEGOTIATION_FINDINGS = new Set<string>([ErrorCode.IncompatiblePeer, ErrorCode.SchemaHashMismatch]);
const NEGOTIATION_UNAVAILABLE = new Set<string>([ErrorCode.NegotiationTimeout, ErrorCode.SchemaIndexUnavailable]);
// A refused descriptor or a corrupt file is a finding; no peer, or peers that ran dry, means the swarm is unavailable (re-run to resume).
const DATA_PLANE_FINDINGS = new Set<string>([ErrorCode.DescriptorInvalid, ErrorCode.PieceCorrupt]);
const DATA_PLANE_UNAVAILABLE = new Set<string>([ErrorCode.NoPeers, ErrorCode.ArtifactIncomplete]);

/** The exit code an error with this code ends the command with. */
export function exitCodeFor(code: string): number {
  if (TRANSFORM_FINDINGS.has(code)) return ExitCode.Findings;
  if (FINDINGS.has(code) || TRUST_FINDINGS.has(code)) return ExitCode.Findings;
  if (REGISTRY_FINDINGS.has(code) || NEGOTIATION_FINDINGS.has(code)) return ExitCode.Findings;
  if (DATA_PLANE_FINDINGS.has(code)) return ExitCode.Findings;
  if (DATA_PLANE_UNAVAILABLE.has(code)) return ExitCode.Unavailable;
  if (USAGE.has(code) || REGISTRY_USAGE.has(code)) return ExitCode.Usage;
  if (code === ErrorCode.RegistryUnavailable || NEGOTIATION_UNAVAILABLE.has(code)) return ExitCode.Unavailable;
  if (code === ErrorCode.Internal) return ExitCode.Internal;
  return ExitCode.BadInput;
}
