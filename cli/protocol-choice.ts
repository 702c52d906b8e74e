/**
 * The protocol version a command speaks when it needs particular message types or records:
 * the one `--protocol` names, else the newest bundled version whose SDK has everything the
 * command needs. No command pins a version, so a new version is picked up as soon as it is
 * generated and has what the command uses.
 */
import { ErrorCode, OnexError, compareVersions, type ProtocolSdk } from "@onex/runtime";
import { loadAllSdks } from "./all-sdks.js";

/**
 * The SDK of `requested` (`v0.2` or `0.2`), or of the newest bundled version `fits` accepts.
 * Throws ONEX_E_UNKNOWN_VERSION for a version not bundled, ONEX_E_SDK_MISMATCH when the
 * requested version (or every version) lacks what `what` needs.
 */
export async function sdkSpeaking(what: string, fits: (sdk: ProtocolSdk) => boolean, requested?: string): Promise<ProtocolSdk> {
  const sdks = await loadAllSdks();
  if (requested !== undefined) {
    const version = requested.replace(/^v/, "");
    const sdk = sdks.find((s) => s.version === version);
    if (sdk === undefined) throw new OnexError(ErrorCode.UnknownVersion, `unknown protocol version ${requested} (known: ${sdks.map((s) => `v${s.version}`).join(", ")})`, { version });
    if (!fits(sdk)) throw new OnexError(ErrorCode.SdkMismatch, `v${sdk.version} lacks what ${what} needs`, { version: sdk.version });
    return sdk;
  }
  const newest = sdks.filter(fits).sort((a, b) => compareVersions(b.version, a.version))[0];
  if (newest === undefined) throw new OnexError(ErrorCode.SdkMismatch, `no bundled protocol version has what ${what} needs (bundled: ${sdks.map((s) => `v${s.version}`).join(", ")})`);
  return newest;
}

/** Whether an SDK defines every one of `types`. */
export function definesTypes(types: readonly string[]): (sdk: ProtocolSdk) => boolean {
  return (sdk) => types.every((type) => Object.hasOwn(sdk.messageClasses, type));
}
