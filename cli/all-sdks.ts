/** Every bundled protocol version's SDK module, oldest first. */
import type { ProtocolSdk } from "../runtime/protocol-sdk.js";
import { versions } from "../generated/versions.js";

export async function loadAllSdks(): Promise<ProtocolSdk[]> {
  return Promise.all(Object.values(versions).map((load) => load() as Promise<ProtocolSdk>));
}
