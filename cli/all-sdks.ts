/** Every bundled protocol version's SDK module, oldest first. */
import type { ProtocolSdk } from "@onex/runtime";
import { versions } from "@onex/sdk/versions";

export async function loadAllSdks(): Promise<ProtocolSdk[]> {
  return Promise.all(Object.values(versions).map((load) => load() as Promise<ProtocolSdk>));
}
