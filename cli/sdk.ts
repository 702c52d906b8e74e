/** Loading the generated SDK of a protocol version the user names as `v0.2` or `0.2`. */
import { ErrorCode, OnexError } from "@onex/runtime";
import { versions, type Version } from "@onex/sdk/versions";

/** Normalises `v0.2` / `0.2` to a known version, or throws ONEX_E_UNKNOWN_VERSION. */
export function resolveVersion(input: string): Version {
  const version = input.replace(/^v/, "");
  if (!Object.hasOwn(versions, version)) {
    throw new OnexError(ErrorCode.UnknownVersion, `unknown protocol version "${input}" (known: ${Object.keys(versions).map((v) => `v${v}`).join(", ")})`, {
      version: input,
    });
  }
  return version as Version;
}

/** The generated SDK module of `version`. */
export async function loadSdk(version: Version) {
  return versions[version]();
}
