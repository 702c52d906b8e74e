/**
 * A data-plane peer: one piece server, one voice in the zone's swarm, and the artifacts it
 * publishes, seeds and fetches. What it fetches it serves at once, piece by piece.
 */
import type { ControlPlane } from "../control-plane.js";
import type { KeyPair } from "../trust/keys.js";
import type { TrustPolicy } from "../trust/policy.js";
import type { TrustLedger } from "../trust/trust-ledger.js";
import { isOnexError, OnexError } from "../errors.js";
import { checkPositive } from "../option-check.js";
import { Bitfield } from "./bitfield.js";
import { DATA_PLANE_TRUST_POLICY, describeFile, verifyDescriptor, type ArtifactDescriptorRecord, type DescribeOptions } from "./descriptor.js";
import { checkFetchOptions, fetchArtifact, type FetchOptions, type FetchResult, type PeerDirectory } from "./fetcher.js";
import { PieceServer, type PieceServerOptions } from "./piece-server.js";
import { PieceStore } from "./piece-store.js";
import type { PublisherGrant } from "./publishers.js";
import { Swarm, type SwarmMessages } from "./swarm.js";

/** How a peer starts. */
export interface DataPlanePeerOptions {
  client: ControlPlane;
  messages: SwarmMessages;
  /** Signs descriptors this peer publishes (the client signs its messages with its own identity). */
  key: KeyPair;
  /** This peer's node id. */
  peerId: string;
  zone: string;
  /** Who may sign the descriptors this peer accepts, for which names. */
  publishers: readonly PublisherGrant[];
  /** Applied to descriptors (default `DATA_PLANE_TRUST_POLICY`). */
  policy?: TrustPolicy;
  server?: PieceServerOptions;
  /** Further peers (for example the registry's piece servers), beside the swarm's announcements. */
  directory?: PeerDirectory;
  /** Corrupt pieces lower the serving peer's score here (attested with `key`). */
  ledger?: TrustLedger;
  logger?: { warn(message: string, details?: Record<string, unknown>): void };
}

/** What `fetch` needs besides the target. */
export type PeerFetchOptions = Omit<FetchOptions, "store" | "peers" | "selfPeerId" | "ledger"> & {
  /** How long to wait for the descriptor's announcement (default 10 s): more than 0, Infinity for no limit. */
  descriptorTimeoutMs?: number;
  /** Told about each piece as soon as it is verified and kept. */
  onPiece?(index: number, have: Bitfield): void;
};

/** A running peer. */
export class DataPlanePeer {
  readonly #o: DataPlanePeerOptions;
  readonly #stores = new Map<string, PieceStore>();

  private constructor(
    options: DataPlanePeerOptions,
    readonly server: PieceServer,
    readonly swarm: Swarm,
  ) {
    this.#o = options;
  }

  /** Starts the piece server and joins the zone's swarm. */
  static async start(options: DataPlanePeerOptions): Promise<DataPlanePeer> {
    const server = await PieceServer.start(options.server);
    try {
      const swarm = await Swarm.join({
        client: options.client,
        messages: options.messages,
        peerId: options.peerId,
        zone: options.zone,
        endpoint: server.url,
        // The client replaces the signer with its own key id when it signs; this only fills the field.
        signer: options.key.keyId,
        publishers: options.publishers,
        ...(options.policy ? { policy: options.policy } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
      return new DataPlanePeer(options, server, swarm);
    } catch (error) {
      await server.stop();
      throw error;
    }
  }

  get peerId(): string {
    return this.#o.peerId;
  }

  /** Base URL of this peer's piece server. */
  get url(): string {
    return this.server.url;
  }

  /** Describes `file`, signs the descriptor with the peer's key, and seeds it. */
  async publish(file: string, options: Omit<DescribeOptions, "zone"> & { zone?: string }): Promise<ArtifactDescriptorRecord> {
    const descriptor = await describeFile(file, { ...options, zone: options.zone ?? this.#o.zone }, this.#o.key);
    // describeFile has just hashed every piece: seeding hashes nothing again.
    await this.#serve(await PieceStore.described(descriptor, file));
    return descriptor;
  }

  /** Serves a complete file, verified against the descriptor first, and announces it. */
  async seed(descriptor: ArtifactDescriptorRecord, file: string): Promise<void> {
    await this.#serve(await PieceStore.seed(descriptor, file));
  }

  async #serve(store: PieceStore): Promise<void> {
    const descriptor = store.descriptor;
    this.#stores.set(descriptor.root_hash, store);
    this.server.add(store);
    await this.swarm.announce(descriptor, store.have);
  }

  /**
   * Fetches an artifact (by name and version from the swarm's announcements, or by a
   * descriptor in hand) into `out`, serving each piece as soon as it is verified. Resumes
   * from pieces an earlier, interrupted fetch left verified on disk.
   */
  async fetch(target: { name: string; version: string } | ArtifactDescriptorRecord, out: string, options: PeerFetchOptions = {}): Promise<{ descriptor: ArtifactDescriptorRecord; result: FetchResult }> {
    // Before the descriptor is waited for or a file made. A descriptor timeout of NaN set a
    // deadline no time reaches, and the wait polled every millisecond for good.
    checkFetchOptions(options);
    checkPositive("DataPlanePeer.fetch", "descriptorTimeoutMs", options.descriptorTimeoutMs);
    const descriptor =
      "root_hash" in target
        ? verifyDescriptor(target, { publishers: this.#o.publishers, zone: this.#o.zone }, this.#o.policy ?? DATA_PLANE_TRUST_POLICY)
        : await this.swarm.descriptorOf(target.name, target.version, options.descriptorTimeoutMs, options.signal);
    const store = await PieceStore.open(descriptor, out);
    this.#stores.set(descriptor.root_hash, store);
    this.server.add(store);
    const { onPiece, descriptorTimeoutMs: _timeout, ...fetchOptions } = options;
    const stopNoting = store.onPiece((index, have) => {
      this.swarm.noteHave(descriptor.root_hash);
      onPiece?.(index, have);
    });
    // The announcement (two publishes, each waiting for the stream's ack) goes out while the
    // first pieces are requested: the fetch needs nothing from it, and peers need it only once
    // this peer has pieces to serve. A failed announcement stops the fetch and is its error.
    const stop = new AbortController();
    const outer = fetchOptions.signal;
    const forward = () => stop.abort(outer?.reason);
    if (outer?.aborted) forward();
    else outer?.addEventListener("abort", forward, { once: true });
    const announced = this.swarm.announce(descriptor, store.have).catch((error: unknown) => {
      stop.abort(error);
      throw error;
    });
    try {
      // The swarm first: where both name a peer id, its announcement (with what the peer holds) counts.
      const extra = this.#o.directory;
      const peers = extra ? [this.swarm, extra] : this.swarm;
      const fetching = fetchArtifact({
        ...fetchOptions,
        signal: stop.signal,
        store,
        peers,
        selfPeerId: this.#o.peerId,
        ...(this.#o.ledger ? { ledger: { ledger: this.#o.ledger, key: this.#o.key } } : {}),
      });
      // Both settle before this returns: nothing is written to the store after a fetch ends.
      const [announce, fetch] = await Promise.allSettled([announced, fetching]);
      // Every piece may have arrived first: then the file is in place and verified, and it is
      // only this peer's place in the swarm that failed, which the error must not hide.
      const inPlace = (error: unknown) => (isOnexError(error) ? new OnexError(error.code, `${out} was fetched and verified, but announcing this peer failed: ${error.message}`, error.details, { cause: error }) : error);
      if (announce.status === "rejected") throw fetch.status === "fulfilled" ? inPlace(announce.reason) : announce.reason;
      if (fetch.status === "rejected") throw fetch.reason;
      await this.swarm.publishHave(descriptor.root_hash).catch((error: unknown) => {
        throw inPlace(error);
      });
      return { descriptor, result: fetch.value };
    } catch (error) {
      // Not in place: the partial file stays resumable, and is given up here, lock and all, so a
      // retry by this peer (or another process) goes on from it instead of finding it locked.
      if (!store.complete) {
        if (this.#stores.get(descriptor.root_hash) === store) {
          this.server.remove(descriptor.root_hash);
          this.swarm.withdraw(descriptor.root_hash);
          this.#stores.delete(descriptor.root_hash);
        }
        await store.close().catch(() => undefined);
      }
      throw error;
    } finally {
      outer?.removeEventListener("abort", forward);
      stopNoting();
    }
  }

  /** Pieces of an artifact this peer holds. */
  haveOf(rootHash: string): Bitfield | undefined {
    return this.#stores.get(rootHash)?.have;
  }

  /** Leaves the swarm, stops serving and closes files (partial downloads stay resumable). */
  async stop(): Promise<void> {
    await this.swarm.stop();
    await this.server.stop();
    await Promise.all([...this.#stores.values()].map((s) => s.close()));
    this.#stores.clear();
  }
}
