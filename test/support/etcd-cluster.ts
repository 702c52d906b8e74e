/**
 * A three-member etcd cluster on loopback for failover tests: each member a real `etcd` with
 * its own data folder, client port and peer port, which a test can kill (SIGKILL) and start
 * again on the same ports and data, as a rolling restart does to it.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitForHealthy } from "./etcd-server.js";
import { freePort } from "./nats-server.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

export interface EtcdMember extends ServerProcess {
  name: string;
  /** `http://127.0.0.1:<port>` */
  clientUrl: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** `etcd://<every member's host:port>`, what openRegistry takes. */
  url: string;
  /** The member that says it leads (its `etcd_server_is_leader` metric), if a running one does. */
  leader(): Promise<EtcdMember | undefined>;
  stop(): Promise<void>;
}

/** Starts `size` etcd members as one new cluster and waits until each is healthy (a leader is elected). */
export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  const root = await mkdtemp(join(tmpdir(), "onex-etcd-cluster-"));
  const ports: { client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initialCluster = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peer}`).join(",");
  // Started together: no member is healthy before a quorum of them runs.
  const started = await Promise.allSettled(
    ports.map(async (p, i) => {
      const name = `m${i + 1}`;
      const clientUrl = `http://127.0.0.1:${p.client}`;
      const peerUrl = `http://127.0.0.1:${p.peer}`;
      const args = [
        "--name", name,
        "--data-dir", join(root, name),
        "--listen-client-urls", clientUrl,
        "--advertise-client-urls", clientUrl,
        "--listen-peer-urls", peerUrl,
        "--initial-advertise-peer-urls", peerUrl,
        "--initial-cluster", initialCluster,
        "--initial-cluster-token", "onex-test",
        "--initial-cluster-state", "new",
        "--log-level", "error",
      ];
      const launch = async () => {
        const child = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
        await waitForHealthy(child, clientUrl);
        return child;
      };
      return Object.assign(await startServerProcess(launch, async () => undefined), { name, clientUrl });
    }),
  );
  const members = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const stop = async () => {
    await Promise.all(members.map((m) => m.stop()));
    await rm(root, { recursive: true, force: true });
  };
  const failed = started.find((s) => s.status === "rejected");
  if (failed !== undefined) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    members,
    url: `etcd://${ports.map((p) => `127.0.0.1:${p.client}`).join(",")}`,
    async leader() {
      for (const member of members) {
        if (member.process.exitCode !== null || member.process.signalCode !== null) continue;
        const metrics = await fetch(`${member.clientUrl}/metrics`).then((r) => r.text(), () => "");
        if (/^etcd_server_is_leader 1$/m.test(metrics)) return member;
      }
      return undefined;
    },
    stop,
  };
}
