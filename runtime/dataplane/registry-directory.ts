/**
 * Finding piece servers through the registry: a node that serves pieces declares the
 * `onex.pieces` capability and points its health check at its piece server, so a fetcher can
 * find peers that never announced on the control plane (or whose announcements aged out).
 */
import type { Registry } from "../registry/registry.js";
import type { PeerDirectory, PeerInfo } from "./fetcher.js";

/** The capability a registry entry declares when its node runs a piece server. */
export const PIECE_SERVER_CAPABILITY = "onex.pieces";

/** The piece server route its registry health check points at. */
const HEALTH_PATH = "/v1/health";

/** The `health` block a piece-serving node registers: passing, checked at its piece server. */
export function pieceServerHealth(endpoint: string): { status: "passing"; check_url: string } {
  return { status: "passing", check_url: `${endpoint.replace(/\/+$/, "")}${HEALTH_PATH}` };
}

/**
 * Every healthy, verified piece server of `zone` in the registry. The fetcher asks each one
 * which pieces of the artifact it holds, so this need not know who has what. A fetcher asks
 * every 250 ms: give it a view of the registry (`await registry.view(zone)`), which lists from
 * memory, rather than the registry, which reads and verifies the zone's every entry each time.
 */
export function registryPeerDirectory(registry: Pick<Registry, "list">, zone: string): PeerDirectory {
  return {
    async peersOf(): Promise<PeerInfo[]> {
      const entries = await registry.list({ zone, health: "passing", capability: PIECE_SERVER_CAPABILITY });
      return entries.flatMap(({ entry }) => {
        const url = entry.health.check_url;
        return url?.endsWith(HEALTH_PATH) ? [{ peerId: entry.node_id, endpoint: url.slice(0, -HEALTH_PATH.length) }] : [];
      });
    },
  };
}
