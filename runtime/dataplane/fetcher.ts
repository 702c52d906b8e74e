/**
 * The fetcher: downloads an artifact's pieces from several peers at once, rarest first, with
 * a bounded number of requests in flight per peer; verifies every piece against the
 * descriptor before keeping it; drops and reports a peer that serves a corrupt piece and
 * fetches that piece elsewhere. Pieces are written to the store as they verify, so a piece
 * server over the same store serves them to others at once.
 */
import { ErrorCode, OnexError } from "../errors.js";
import { attestExecution } from "../trust/attestation.js";
import type { KeyPair } from "../trust/keys.js";
import type { TrustLedger } from "../trust/trust-ledger.js";
import { Bitfield } from "./bitfield.js";
import { pieceLengthOf, rootHex } from "./descriptor.js";
import { PieceClient } from "./piece-client.js";
import { transferDeadlineMs } from "./transfer-deadline.js";
import { PiecePicker } from "./piece-picker.js";
import type { PieceStore } from "./piece-store.js";
import { checkPositive, checkWhole } from "../option-check.js";

/** A peer that may serve an artifact, as a directory knows it. */
export interface PeerInfo {
  /** The peer's node id. */
  peerId: string;
  /** Base URL of its piece server. */
  endpoint: string;
  /** The pieces it said it holds, when it said so (else the fetcher asks its piece server). */
  have?: Bitfield;
  /**
   * The key id that announced it, when the directory knows one (the swarm does): a peer id
   * announced by two keys is two peers to the fetcher, so one key cannot move the other's
   * endpoint. Reports name the peer id alone.
   */
  signer?: string;
}

/** Where a fetcher learns which peers serve an artifact: swarm announcements, the registry, or both. */
export interface PeerDirectory {
  /** Peers known to serve (some of) the artifact with this root hash. */
  peersOf(rootHash: string): PeerInfo[] | Promise<PeerInfo[]>;
}

/** A peer caught serving a corrupt piece. */
export interface CorruptPeerReport {
  peerId: string;
  endpoint: string;
  piece: number;
  expected: string;
  actual: string;
}

/** A snapshot of a fetch, for progress displays. */
export interface FetchProgress {
  pieces: number;
  total: number;
  /** Peers currently usable (reachable, not dropped). */
  peers: number;
  inFlight: number;
  bytesFetched: number;
  /** Average since the fetch started. */
  bytesPerSecond: number;
}

/** What a finished fetch did. */
export interface FetchResult {
  /** Pieces downloaded by this fetch (not those resumed from disk). */
  fetchedPieces: number;
  resumedPieces: number;
  bytesFetched: number;
  /** Bytes fetched from each peer id. */
  bytesByPeer: Record<string, number>;
  corruptPeers: CorruptPeerReport[];
  elapsedMs: number;
}

/** How to fetch. */
export interface FetchOptions {
  store: PieceStore;
  /**
   * Where peers are looked up; with several, each is asked on its own (one that fails or is
   * slow holds up no other), and where two name the same peer id the first one's answer counts.
   */
  peers: PeerDirectory | readonly PeerDirectory[];
  /** This peer's id, never fetched from. */
  selfPeerId?: string;
  /** Requests in flight to one peer, at most (default 4). */
  maxInFlightPerPeer?: number;
  /**
   * Pieces in flight overall, at most (default 16). A piece whose peer sends nothing for 2 s is
   * asked of a second peer too, so memory holds twice this many pieces at most.
   */
  maxInFlight?: number;
  /** One piece request, at most (default 30 s). */
  requestTimeoutMs?: number;
  /** Give up with ONEX_E_ARTIFACT_INCOMPLETE after this long without a new piece (default 60 s). */
  stallTimeoutMs?: number;
  /** Give up with ONEX_E_NO_PEERS when no peer is known after this long (default 15 s). */
  discoverTimeoutMs?: number;
  signal?: AbortSignal;
  /** Told about each peer dropped for a corrupt piece. */
  onCorruptPeer?(report: CorruptPeerReport): void;
  /** A corrupt piece is attested (signed by `key`, negative `trustDelta`) and applied to this ledger. */
  ledger?: { ledger: TrustLedger; key: KeyPair; trustDelta?: number };
  onProgress?(progress: FetchProgress): void;
}

interface PeerState {
  /**
   * Its id and the endpoint it last announced, as fields of their own rather than a copy of
   * the directory's PeerInfo: every state then has one hidden class, so the scheduler's code
   * stays optimized (a spread copy per refresh gave `info` objects of two shapes, and V8
   * recompiled the scheduler each time it met the other one).
   */
  readonly peerId: string;
  /** The key that announced it (PeerInfo `signer`), if the directory said. */
  readonly signer: string | undefined;
  /** Whether it has delivered a verified piece: until then it shares its key's allowance (#hasRoom). */
  delivered: boolean;
  endpoint: string;
  /** Which process of the peer this state describes: forgetProcess counts it up, so an answer from an earlier process is not charged to a later one. */
  incarnation: number;
  /** What we know it holds: union of what it announced and what its piece server said. */
  have: Bitfield | undefined;
  /** Pieces it answered 404 for: not asked for again, but for a probe a second, until its refusals are lifted (see #probeRefusals). */
  refused: Set<number>;
  /** When a refused piece may next be asked of it as a probe. */
  probeAt: number;
  /** When its refusals were last lifted, and how long until they may be lifted again. */
  liftedAt: number;
  liftDelay: number;
  /** How many pieces this fetch lacks that it holds and has not refused (kept up to date by #merge, #refuse, #lift, #onPiece and forgetProcess). */
  wanted: number;
  /** Pieces a seeder deferred (429: sent once already, to another peer), and until when. */
  deferredUntil: Map<number, number>;
  inFlight: number;
  dropped: boolean;
  /** Consecutive connection failures, and until when it is left alone. */
  failures: number;
  backoffUntil: number;
  lastPoll: number;
  /** A poll of its piece server is on its way: a peer that never answers gets no second one meanwhile. */
  polling: boolean;
  complete: boolean;
}

const POLL_INTERVAL_MS = 1_000;
/** How long a piece a seeder deferred is not asked of it again: about the time the peer that got it takes to announce it. */
const SEEDER_DEFER_MS = 500;
/** How long a piece only busy downloaders hold waits for them before it is taken from a seeder. */
const DOWNLOADER_WAIT_MS = 2_000;
const TICK_MS = 100;
/** How long a piece's request waits for a first byte before the piece is asked of another peer too (#hedge); longer when the last pieces' first bytes were slow. */
const HEDGE_AFTER_MS = 2_000;
const FIRST_BYTE_SAMPLES = 32;

/** How often each directory is asked for the artifact's peers. */
const DIRECTORY_INTERVAL_MS = 250;
/** A directory lookup that has not answered in this long no longer holds the next one back. */
const DIRECTORY_PATIENCE_MS = 10_000;
/** How often a peer that refused pieces is asked for one of them again (a probe). */
const PROBE_INTERVAL_MS = 1_000;
/** A peer's refusals are lifted at most this often at first, and half as often each time after, down to once in REFUSAL_LIFT_MAX_MS. */
const REFUSAL_LIFT_FIRST_MS = 1_000;
const REFUSAL_LIFT_MAX_MS = 30_000;

/** A piece being asked for (Fetch #inFlight): its requests on their way (one, or two once #hedge asked a second peer), and since when the newest has waited. */
interface Asked {
  readonly open: PieceRequest[];
  since: number;
}

/** One request for a piece: the peer asked, whether its answer's body is arriving, and its cancellation (once the piece came from elsewhere). */
interface PieceRequest {
  readonly peer: PeerState;
  receiving: boolean;
  readonly cancel: AbortController;
}

/** A directory, the peer ids of its last answer, and its lookups. */
interface DirectoryState {
  readonly directory: PeerDirectory;
  ids: Set<string>;
  /** When it was last asked; which lookup that was (they count up); the one whose answer or failure counts now. */
  asked: number;
  lookups: number;
  settled: number;
  /** Why its last lookup failed, until one succeeds. */
  failure: { error: unknown } | undefined;
}

/** Downloads every missing piece of `options.store`'s artifact and resolves once it is complete, verified and in place. */
export async function fetchArtifact(options: FetchOptions): Promise<FetchResult> {
  return new Fetch(options).run();
}

/**
 * ONEX_E_USAGE for a limit no fetch can work with: with `maxInFlight` 0 (or NaN) nothing was ever
 * requested, and the fetch ended a minute later as stalled, blaming the peers. Limits are whole
 * numbers of at least 1 and timeouts any length above 0, Infinity for none.
 */
export function checkFetchOptions(options: Omit<FetchOptions, "store" | "peers">): void {
  for (const name of ["maxInFlight", "maxInFlightPerPeer"] as const) checkWhole("fetchArtifact", name, options[name], { infinity: true });
  for (const name of ["requestTimeoutMs", "stallTimeoutMs", "discoverTimeoutMs"] as const) checkPositive("fetchArtifact", name, options[name]);
}

class Fetch {
  readonly #o: FetchOptions;
  readonly #store: PieceStore;
  /** Keyed by peer id, and the key that announced it when the directory says (PeerInfo `signer`). */
  readonly #peers = new Map<string, PeerState>();
  /** The pieces being asked for, and their requests (two once hedged, #hedge). */
  readonly #inFlight = new Map<number, Asked>();
  /** How long the last pieces' requests waited for their first byte, newest last (FIRST_BYTE_SAMPLES of them). */
  readonly #firstByteMs: number[] = [];
  /**
   * Keys one of whose peers sent a corrupt piece: every peer they announce is dropped, those
   * known and those announced later. Peer ids are the sender's choice, and a key announcing a
   * fresh one after each drop had the fetch download a corrupt piece for every id.
   */
  readonly #corruptKeys = new Set<string>();
  /** Per key: the peers it announced that have not delivered a piece yet, taken together (#hasRoom). */
  readonly #untried = new Map<string, { inFlight: number; polls: number; failures: number; backoffUntil: number }>();
  /**
   * Piece requests whose 200 body is arriving. A fetch stalls once no piece came for the stall
   * time, whatever else is in flight (refusals, a peer answering 429 to everything); while a
   * body arrives, for the stall time and one piece's transfer deadline more (transfer-deadline.ts).
   * A peer that starts a trickle as each one is cut therefore holds a fetch that long at most,
   * not for good.
   */
  #receiving = 0;
  readonly #requests = new Set<Promise<void>>();
  // Keep-alive connections whose reads land in the piece's buffer (see piece-client.ts).
  readonly #client: PieceClient;
  // A piece's buffer is reused once the piece is written: a fetch allocates one per request
  // in flight, not one per piece, which keeps the garbage collector out of the transfer.
  readonly #spareBuffers: Buffer[] = [];
  // Pieces held back from a seeder because only busy downloaders have them, and since when.
  readonly #waitingOnDownloaders = new Map<number, number>();
  // The missing pieces, rarest first: each piece counts the peers that hold it, are not dropped
  // and have not refused it (backed off or not), kept up to date by #merge, #refuse, #lift,
  // #onPiece and #withdrawAll.
  readonly #picker: PiecePicker;
  readonly #result: FetchResult;
  readonly #started = Date.now();
  #lastProgress = Date.now();
  #wake: (() => void) | undefined;
  #failure: OnexError | undefined;
  readonly #directories: DirectoryState[];

  constructor(options: FetchOptions) {
    checkFetchOptions(options);
    this.#o = options;
    this.#store = options.store;
    this.#client = new PieceClient(options.requestTimeoutMs ?? 30_000);
    this.#picker = new PiecePicker(this.#store.have.length, (piece) => this.#store.have.has(piece));
    // Keyed by peer ids, which peers choose: with no prototype, "__proto__" or "constructor" is a peer like any other
    // (on a plain object the first dropped its bytes and the second counted them onto Object's source text).
    this.#result = { fetchedPieces: 0, resumedPieces: this.#store.have.count, bytesFetched: 0, bytesByPeer: Object.create(null) as Record<string, number>, corruptPeers: [], elapsedMs: 0 };
    const directories = Array.isArray(options.peers) ? (options.peers as readonly PeerDirectory[]) : [options.peers as PeerDirectory];
    this.#directories = directories.map((directory) => ({ directory, ids: new Set<string>(), asked: 0, lookups: 0, settled: 0, failure: undefined }));
  }

  async run(): Promise<FetchResult> {
    const abort = () => this.#poke();
    this.#o.signal?.addEventListener("abort", abort);
    // Told as each piece's bit is set, in the same turn, so no peer's `wanted` misses a piece.
    const stopCounting = this.#store.onPiece((piece) => this.#onPiece(piece));
    try {
      while (!this.#store.have.complete) {
        this.#checkAbort();
        if (this.#failure) throw this.#failure;
        this.#refreshPeers();
        this.#schedule();
        this.#report();
        this.#checkStalled();
        await this.#sleep(TICK_MS);
      }
      // Every piece is in; wait for the requests still running (duplicates) and the final rename.
      await this.#store.finished();
      this.#report();
      this.#result.elapsedMs = Date.now() - this.#started;
      return this.#result;
    } finally {
      stopCounting();
      this.#o.signal?.removeEventListener("abort", abort);
      // Cut what is still downloading and let it settle, so nothing is written after the fetch returns.
      this.#client.destroy();
      await Promise.allSettled([...this.#requests]);
    }
  }

  #checkAbort(): void {
    if (this.#o.signal?.aborted) {
      throw new OnexError(ErrorCode.ArtifactIncomplete, `fetch of ${this.#name()} interrupted with ${this.#missing()} pieces missing; run it again to resume`, { missing: this.#missing() }, { cause: this.#o.signal.reason });
    }
  }

  #checkStalled(): void {
    const now = Date.now();
    const live = [...this.#peers.values()].filter((p) => !p.dropped);
    const failed = this.#directories.findIndex((d) => d.failure !== undefined);
    const failure = this.#directories[failed]?.failure;
    const directory = failure === undefined ? {} : { cause: failure.error };
    const which = this.#directories.length === 1 ? "the peer directory's" : `peer directory ${failed + 1} of ${this.#directories.length}'s`;
    const failing = failure === undefined ? "" : `; ${which} last lookup failed: ${failure.error instanceof Error && failure.error.message !== "" ? failure.error.message : String(failure.error)}`;
    if (live.length === 0 && now - this.#started > (this.#o.discoverTimeoutMs ?? 15_000)) {
      const dropped = this.#peers.size;
      throw new OnexError(ErrorCode.NoPeers, `${dropped > 0 ? `every peer serving ${this.#name()} was dropped for corrupt pieces` : `no peer serves ${this.#name()}`}${failing}`, { root_hash: this.#store.descriptor.root_hash, dropped }, directory);
    }
    const arriving = this.#receiving === 0 ? 0 : transferDeadlineMs(this.#store.descriptor.piece_size, this.#o.requestTimeoutMs ?? 30_000);
    if (now - this.#lastProgress > (this.#o.stallTimeoutMs ?? 60_000) + arriving) {
      throw new OnexError(ErrorCode.ArtifactIncomplete, `no peer has the ${this.#missing()} missing pieces of ${this.#name()} (stalled ${Math.round((now - this.#lastProgress) / 1000)} s)${failing}; run it again to resume`, { missing: this.#missing(), peers: live.length }, directory);
    }
  }

  /** Asks the directories for the artifact's peers, and the peers' piece servers for what they hold. */
  #refreshPeers(): void {
    const now = Date.now();
    for (const directory of this.#directories) this.#lookUp(directory, now);
    // Announcements can lag or be missing (registry-only peers): ask piece servers directly, in the background.
    const perPeer = this.#o.maxInFlightPerPeer ?? 4;
    for (const state of this.#peers.values()) {
      if (state.dropped || state.complete || state.polling || state.backoffUntil > now || now - state.lastPoll < POLL_INTERVAL_MS) continue;
      // A key's peers that have delivered nothing are polled as they are asked for pieces: as one
      // peer, `perPeer` at a time and not while backed off. Polled each on its own, a key announcing
      // 3,000 peer ids at addresses that never answer had a fetch hold a connection to each, until
      // a process limited to 1,024 open files could not write its record (EMFILE) and failed.
      const untried = this.#untriedOf(state);
      if (untried !== undefined && (untried.polls >= perPeer || untried.backoffUntil > now)) continue;
      state.lastPoll = now;
      state.polling = true;
      if (untried !== undefined) untried.polls++;
      void this.#poll(state).finally(() => {
        state.polling = false;
        if (untried !== undefined) untried.polls--;
      });
    }
  }

  /**
   * Asks `d` for the artifact's peers, every DIRECTORY_INTERVAL_MS. An answer given at once (the
   * swarm's announcements) is applied now; one given later (a registry over the network) when it
   * comes, holding up no pass, stall check or abort meanwhile. A lookup that fails, or answers
   * something other than a list of peers, leaves the peers known so far; one that never answers
   * holds the next back for DIRECTORY_PATIENCE_MS at most; an answer older than one already
   * counted is dropped.
   */
  #lookUp(d: DirectoryState, now: number): void {
    const pending = d.lookups > d.settled && now - d.asked < DIRECTORY_PATIENCE_MS;
    if (now - d.asked < DIRECTORY_INTERVAL_MS || pending) return;
    d.asked = now;
    const lookup = ++d.lookups;
    const settle = (answer: unknown, failure?: { error: unknown }) => {
      if (lookup < d.settled) return;
      d.settled = lookup;
      const peers = failure === undefined ? asPeers(answer) : undefined;
      d.failure = failure ?? (peers === undefined ? { error: new TypeError("the directory answered something other than a list of peers (each a peerId, an endpoint and a Bitfield or none)") } : undefined);
      if (peers !== undefined) this.#applyDirectory(d, peers);
    };
    try {
      const found = d.directory.peersOf(this.#store.descriptor.root_hash);
      if (Array.isArray(found)) settle(found);
      else
        void Promise.resolve(found).then(
          (answer) => {
            settle(answer);
            this.#poke();
          },
          (error: unknown) => settle(undefined, { error }),
        );
    } catch (error) {
      settle(undefined, { error });
    }
  }

  /** Applies `d`'s answer, but for the peer ids an earlier directory's last answer names: the first one's counts. */
  #applyDirectory(d: DirectoryState, peers: PeerInfo[]): void {
    d.ids = new Set(peers.map((p) => p.peerId));
    const earlier = this.#directories.slice(0, this.#directories.indexOf(d));
    for (const info of peers) if (!earlier.some((e) => e.ids.has(info.peerId))) this.#applyPeer(info);
  }

  #applyPeer(info: PeerInfo): void {
    if (info.peerId === this.#o.selfPeerId) return;
    const key = info.signer === undefined ? info.peerId : `${info.peerId}\n${info.signer}`;
    let state = this.#peers.get(key);
    if (state === undefined) {
      const dropped = info.signer !== undefined && this.#corruptKeys.has(info.signer);
      state = { peerId: info.peerId, signer: info.signer, delivered: false, endpoint: info.endpoint, incarnation: 0, have: undefined, refused: new Set(), probeAt: 0, liftedAt: 0, liftDelay: REFUSAL_LIFT_FIRST_MS, wanted: 0, deferredUntil: new Map(), inFlight: 0, dropped, failures: 0, backoffUntil: 0, lastPoll: 0, polling: false, complete: false };
      this.#peers.set(key, state);
    }
    if (state.endpoint !== info.endpoint) {
      this.#withdrawAll(state);
      forgetProcess(state);
      state.endpoint = info.endpoint;
    }
    if (info.have) this.#merge(state, info.have);
  }

  async #poll(state: PeerState): Promise<void> {
    const incarnation = state.incarnation;
    try {
      // A buffer of the answer's size, not a spare piece buffer: every known peer id is polled at
      // once, and a key announcing a hundred ids at an endpoint that never answers had a fetch of
      // an artifact with 64 MiB pieces hold 6.4 GiB of piece buffers for their polls.
      const buffer = Buffer.allocUnsafe(bitfieldAnswerBytes(this.#store.descriptor.pieces.length));
      const { status, length } = await this.#client.get(`${state.endpoint}/v1/artifacts/${rootHex(this.#store.descriptor.root_hash)}/bitfield`, buffer, buffer.length);
      const text = buffer.toString("utf8", 0, length);
      if (status !== 200 || state.incarnation !== incarnation) return;
      const parsed = JSON.parse(text) as { bitfield?: unknown };
      if (typeof parsed.bitfield !== "string") return;
      this.#merge(state, Bitfield.fromBase64url(parsed.bitfield, this.#store.descriptor.pieces.length));
      // Its failures stand until it delivers a piece: a peer that answers polls and lets every
      // piece it is sent for run out its deadline must still be backed off.
      this.#poke();
    } catch {
      if (state.incarnation === incarnation) this.#failed(state);
    }
  }

  #merge(state: PeerState, have: Bitfield): void {
    if (have.length !== this.#store.descriptor.pieces.length) return;
    if (state.have === undefined) state.have = new Bitfield(have.length);
    const mine = this.#store.have;
    state.have.merge(have, (i) => {
      if (state.refused.has(i)) return;
      if (!state.dropped) this.#picker.offer(i);
      if (!mine.has(i)) state.wanted++;
    });
    state.complete = state.have.complete;
  }

  /** Starts requests for the rarest missing pieces on peers with room. */
  #schedule(): void {
    const maxTotal = this.#o.maxInFlight ?? 16;
    const now = Date.now();
    const usable = [...this.#peers.values()].filter((p) => !p.dropped && p.have !== undefined && p.backoffUntil <= now);
    if (usable.length === 0) return;
    const perPeer = this.#o.maxInFlightPerPeer ?? 4;
    // Before the limit is checked: pieces held by peers that never answer may be all of it.
    this.#hedge(usable, perPeer, now);
    if (this.#inFlight.size >= maxTotal) return;
    if (this.#worthWalking(usable, perPeer)) {
      this.#picker.forEachRarest(
        // Only pieces some peer with room holds: a pass skips those only busy peers hold eight at a time.
        (byte) => {
          let offered = 0;
          for (const peer of usable) if (this.#hasRoom(peer, perPeer)) offered |= peer.have!.byteAt(byte);
          return offered;
        },
        (piece) => {
          if (this.#inFlight.has(piece)) return true;
          const peer = this.#peerFor(piece, usable, perPeer, now);
          if (peer === undefined) return true;
          this.#request(peer, piece);
          return this.#inFlight.size < maxTotal && this.#worthWalking(usable, perPeer);
        },
      );
    }
    this.#probeRefusals(usable, perPeer, now);
  }

  /**
   * Asks a second peer for each piece whose one request has had no byte of its body for
   * #hedgeAfterMs (a peer that accepts connections and never answers: a frozen process, a
   * host gone quiet, a hostile peer), when another peer with room holds it. Before, such pieces
   * waited out the whole request timeout (30 s) before they were asked elsewhere. The first
   * answer is kept and the other request cancelled (#exchange): a capped seeder whose queued
   * upload was hedged sends nothing for it. A piece has two requests at most, each at another
   * peer, so memory holds twice `maxInFlight` pieces at most. A peer that has delivered nothing
   * to this fetch counts as failing once (#failed), so one that never answers is backed off as
   * one that refuses connections is; a peer that has delivered is only slow.
   */
  #hedge(usable: PeerState[], perPeer: number, now: number): void {
    let after: number | undefined;
    for (const [piece, asked] of this.#inFlight) {
      const [first, ...others] = asked.open;
      if (first === undefined || others.length > 0 || first.receiving) continue;
      after ??= this.#hedgeAfterMs();
      if (now - asked.since < after) continue;
      const peer = this.#peerFor(piece, usable.filter((p) => p !== first.peer), perPeer, now);
      if (peer === undefined) continue;
      if (!first.peer.delivered) this.#failed(first.peer);
      this.#request(peer, piece);
    }
  }

  /**
   * How long a request may wait for its first byte before its piece is asked of another peer
   * too: HEDGE_AFTER_MS, or four times the median wait of the last pieces if longer (a seeder
   * whose uplink is capped queues its uploads, and its first bytes come late for all alike).
   */
  #hedgeAfterMs(): number {
    const samples = this.#firstByteMs;
    if (samples.length === 0) return HEDGE_AFTER_MS;
    const median = [...samples].sort((a, b) => a - b)[samples.length >> 1]!;
    return Math.max(HEDGE_AFTER_MS, 4 * median);
  }

  /**
   * Whether a pass may still find a piece to ask for: some usable peer with room holds a piece
   * this fetch lacks, has not refused, and is not already asking another peer for. Without it, a
   * pass walked the rest of the order whenever the peers holding the missing pieces were full
   * and the peers with room held none (a peer that announces nothing costs nothing to add).
   */
  #worthWalking(usable: PeerState[], perPeer: number): boolean {
    for (const peer of usable) {
      if (!this.#hasRoom(peer, perPeer) || peer.wanted === 0) continue;
      let askedElsewhere = 0;
      for (const piece of this.#inFlight.keys()) if (peer.have!.has(piece) && !peer.refused.has(piece)) askedElsewhere++;
      if (peer.wanted > askedElsewhere) return true;
    }
    return false;
  }

  /**
   * A peer answered 404 for `piece`: it is not asked for it again, but as a probe
   * (#probeRefusals), until its refusals are lifted.
   */
  #refuse(peer: PeerState, piece: number): void {
    if (peer.refused.has(piece)) return;
    peer.refused.add(piece);
    if (peer.have?.has(piece) && !peer.dropped) this.#picker.withdraw(piece);
    if (peer.have?.has(piece) && !this.#store.have.has(piece)) peer.wanted--;
    if (peer.refused.size === 1) peer.probeAt = Date.now() + PROBE_INTERVAL_MS;
  }

  /**
   * Asks each peer with room that refused pieces it claims for one of them again, once a second
   * (a probe): a peer that refused may have got them since, as a new process at the same
   * endpoint (a seeder restarted on its port refuses everything while it loads the file, and
   * stays announced complete). A probe answered with the piece lifts the peer's refusals
   * (#lift); one refused costs one request, so a peer that claims pieces and refuses them is
   * asked for one a second, whatever it announces.
   */
  #probeRefusals(usable: PeerState[], perPeer: number, now: number): void {
    const maxTotal = this.#o.maxInFlight ?? 16;
    const have = this.#store.have;
    for (const peer of usable) {
      if (peer.refused.size === 0 || now < peer.probeAt || !this.#hasRoom(peer, perPeer) || this.#inFlight.size >= maxTotal) continue;
      for (const piece of peer.refused) {
        if (!peer.have!.has(piece) || have.has(piece) || this.#inFlight.has(piece)) continue;
        peer.probeAt = now + PROBE_INTERVAL_MS;
        this.#request(peer, piece);
        break;
      }
    }
  }

  /**
   * The peer served a piece it had refused: it holds what it refused, or some of it, now. Its
   * refusals are lifted, at most once a second at first and half as often each time after (down
   * to once in 30 s), so a peer that serves only the pieces it is asked for again cannot make
   * the fetch ask it for every refused piece after every one.
   */
  #lift(peer: PeerState, now: number): void {
    if (now - peer.liftedAt < peer.liftDelay) return;
    if (peer.liftedAt !== 0) peer.liftDelay = Math.min(2 * peer.liftDelay, REFUSAL_LIFT_MAX_MS);
    peer.liftedAt = now;
    for (const piece of peer.refused) {
      if (!peer.have?.has(piece)) continue;
      this.#picker.offer(piece);
      if (!this.#store.have.has(piece)) peer.wanted++;
    }
    peer.refused.clear();
  }

  /** The store holds `piece` now: no peer is wanted for it any more, nor its refusal kept. */
  #onPiece(piece: number): void {
    this.#picker.take(piece);
    for (const peer of this.#peers.values()) {
      const refused = peer.refused.delete(piece);
      if (!peer.have?.has(piece)) continue;
      if (!refused) peer.wanted--;
      else if (!peer.dropped) this.#picker.offer(piece);
    }
  }

  /** `state` no longer offers what it held (it was dropped, or is a new process now): the picker's counts lose it. */
  #withdrawAll(state: PeerState): void {
    if (state.dropped || state.have === undefined) return;
    for (let piece = 0; piece < state.have.length; piece++) if (state.have.has(piece) && !state.refused.has(piece)) this.#picker.withdraw(piece);
  }

  /** The peer to ask for `piece` now, if any: one with room that holds it, downloaders before complete peers. */
  #peerFor(piece: number, usable: PeerState[], perPeer: number, now: number): PeerState | undefined {
    let best: PeerState | undefined;
    let heldByDownloader = false;
    for (const peer of usable) {
      if (!peer.have!.has(piece) || peer.refused.has(piece)) continue;
      heldByDownloader ||= !peer.complete;
      if ((peer.deferredUntil.get(piece) ?? 0) > now) continue;
      if (!this.#hasRoom(peer, perPeer)) continue;
      // Peers still downloading go before complete ones: spreading the load off the seeders is the point of a swarm.
      if (best === undefined || rank(peer) < rank(best)) best = peer;
    }
    if (best === undefined) return undefined;
    // Nor is a piece another downloader holds taken from a seeder because that downloader is
    // busy: a seeder's uplink is kept for the pieces no downloader has yet, so the origin
    // sends each piece about once however many fetch. A downloader slow to answer (or one
    // that only claims pieces) holds a piece up for DOWNLOADER_WAIT_MS at most.
    if (best.complete && heldByDownloader) {
      const since = this.#waitingOnDownloaders.get(piece) ?? now;
      this.#waitingOnDownloaders.set(piece, since);
      if (now - since < DOWNLOADER_WAIT_MS) return undefined;
    }
    this.#waitingOnDownloaders.delete(piece);
    return best;
  }

  /**
   * Whether `peer` may be asked for one more piece. Peers one key announced that have not yet
   * delivered a piece are one peer to this: they share one peer's requests and its back-off.
   * A key announcing a thousand peer ids at endpoints that never answer would otherwise hold
   * every request of the fetch, each waiting out its timeout, and then as many again with the
   * ids not yet tried. (Peers whose key the directory does not say are not grouped.)
   */
  #hasRoom(peer: PeerState, perPeer: number): boolean {
    if (peer.inFlight >= perPeer) return false;
    if (peer.delivered || peer.signer === undefined) return true;
    const untried = this.#untried.get(peer.signer);
    return untried === undefined || (untried.inFlight < perPeer && untried.backoffUntil <= Date.now());
  }

  /** The shared state of `peer`'s key while `peer` has delivered nothing, else undefined. */
  #untriedOf(peer: PeerState): { inFlight: number; polls: number; failures: number; backoffUntil: number } | undefined {
    if (peer.delivered || peer.signer === undefined) return undefined;
    let untried = this.#untried.get(peer.signer);
    if (untried === undefined) this.#untried.set(peer.signer, (untried = { inFlight: 0, polls: 0, failures: 0, backoffUntil: 0 }));
    return untried;
  }

  #request(peer: PeerState, piece: number): void {
    peer.inFlight++;
    let asked = this.#inFlight.get(piece);
    if (asked === undefined) this.#inFlight.set(piece, (asked = { open: [], since: 0 }));
    const pieceRequest: PieceRequest = { peer, receiving: false, cancel: new AbortController() };
    asked.open.push(pieceRequest);
    asked.since = Date.now();
    const untried = this.#untriedOf(peer);
    if (untried !== undefined) untried.inFlight++;
    const request = this.#exchange(peer, piece, untried, pieceRequest);
    this.#requests.add(request);
    const settled = () => this.#requests.delete(request);
    void request.then(settled, settled);
  }

  /**
   * One piece request, from asking to accepting or refusing the answer; it never rejects (a
   * failure is the peer's, or the fetch's #failure). A method of its own, too large for V8 to
   * inline into #schedule: as a promise chain in #request, its set-up was compiled into every
   * scheduling pass.
   */
  async #exchange(peer: PeerState, piece: number, untried: { inFlight: number } | undefined, request: PieceRequest): Promise<void> {
    const incarnation = peer.incarnation;
    const probe = peer.refused.has(piece);
    const askedAt = Date.now();
    const onBody = () => {
      request.receiving = true;
      this.#receiving++;
      this.#firstByteMs.push(Date.now() - askedAt);
      if (this.#firstByteMs.length > FIRST_BYTE_SAMPLES) this.#firstByteMs.shift();
    };
    try {
      const url = `${peer.endpoint}/v1/artifacts/${rootHex(this.#store.descriptor.root_hash)}/pieces/${piece}`;
      const { status, body, buffer } = await this.#get(url, pieceLengthOf(this.#store.descriptor, piece), onBody, request.cancel.signal);
      try {
        if (status === 200) {
          if (peer.incarnation === incarnation) peer.failures = 0;
          await this.#accept(peer, piece, body);
          // A hedged piece's other request is cut: its peer need not send what is here now.
          if (this.#store.have.has(piece)) for (const other of this.#inFlight.get(piece)?.open ?? []) if (other !== request) other.cancel.abort();
          if (probe && peer.incarnation === incarnation && !peer.dropped) this.#lift(peer, Date.now());
        } else if (peer.incarnation !== incarnation) {
          // A refusal or failure of the peer's earlier process (it moved while this was asked)
          // says nothing of the new one: charged to it, a 404 kept it from ever being asked for the piece.
        } else if (status === 404) {
          this.#refuse(peer, piece);
        } else if (status === 429) {
          peer.deferredUntil.set(piece, Date.now() + SEEDER_DEFER_MS);
        } else if (status === 503) {
          peer.backoffUntil = Date.now() + 200;
        } else {
          this.#failed(peer);
        }
      } finally {
        this.#release(buffer);
      }
    } catch (error) {
      // Cancelled: the piece came from another peer (above), nothing this one did.
      if (request.cancel.signal.aborted) return;
      if (error instanceof OnexError && error.code !== ErrorCode.PieceCorrupt) this.#failure ??= error;
      else if (peer.incarnation === incarnation) this.#failed(peer);
    } finally {
      if (request.receiving) this.#receiving--;
      if (untried !== undefined) untried.inFlight--;
      peer.inFlight--;
      const asked = this.#inFlight.get(piece);
      if (asked !== undefined) {
        asked.open.splice(asked.open.indexOf(request), 1);
        // The other request, if any, is now the one waited on: it may be hedged once it has waited as long on its own.
        if (asked.open.length === 0) this.#inFlight.delete(piece);
        else asked.since = Date.now();
      }
      this.#poke();
    }
  }

  async #accept(peer: PeerState, piece: number, body: Buffer): Promise<void> {
    let written: boolean;
    try {
      written = await this.#store.writePiece(piece, body);
    } catch (error) {
      if (!(error instanceof OnexError) || error.code !== ErrorCode.PieceCorrupt) throw error;
      const { expected, actual } = error.details as { expected: string; actual: string };
      this.#dropCorrupt(peer, piece, expected, actual);
      return;
    }
    if (written) {
      // Its key's other peers are judged on their own from now: this one is not among them.
      const untried = this.#untriedOf(peer);
      if (untried !== undefined) untried.failures = 0;
      peer.delivered = true;
      this.#result.fetchedPieces++;
      this.#result.bytesFetched += body.length;
      this.#result.bytesByPeer[peer.peerId] = (this.#result.bytesByPeer[peer.peerId] ?? 0) + body.length;
      this.#lastProgress = Date.now();
    }
  }

  #dropCorrupt(peer: PeerState, piece: number, expected: string, actual: string): void {
    if (peer.dropped) return;
    this.#withdrawAll(peer);
    peer.dropped = true;
    // Its key's other peers go with it (see #corruptKeys); the report and the attestation name the peer caught.
    if (peer.signer !== undefined) {
      this.#corruptKeys.add(peer.signer);
      for (const other of this.#peers.values()) {
        if (other.signer !== peer.signer || other.dropped) continue;
        this.#withdrawAll(other);
        other.dropped = true;
      }
    }
    const report: CorruptPeerReport = { peerId: peer.peerId, endpoint: peer.endpoint, piece, expected, actual };
    this.#result.corruptPeers.push(report);
    this.#o.onCorruptPeer?.(report);
    const ledger = this.#o.ledger;
    if (ledger) {
      // The ledger moves only on signed attestations: this fetcher attests the failed serve.
      const task = { task_id: `serve-piece:${rootHex(this.#store.descriptor.root_hash)}:${piece}:${peer.peerId}`, root_hash: this.#store.descriptor.root_hash, piece, expected };
      const attestation = attestExecution(
        { task, result: { sha256: actual }, node: peer.peerId, outcome: "failed", trustDelta: ledger.trustDelta ?? -0.25, verified: true, executionTime: 0 },
        ledger.key,
      );
      ledger.ledger.apply(attestation);
    }
  }

  #failed(peer: PeerState): void {
    peer.failures++;
    // A peer that went away (killed, restarted) is left alone for a while, longer each time.
    if (peer.failures >= 2) peer.backoffUntil = Date.now() + backoffMs(peer.failures);
    // So are its key's peers that have delivered nothing, together, from their first failure.
    const untried = this.#untriedOf(peer);
    if (untried !== undefined) untried.backoffUntil = Date.now() + backoffMs(++untried.failures);
  }

  /** GETs at most `maxBytes` (a piece's length at most) of `url` into a spare piece buffer; the caller hands `buffer` back with `#release` when done with `body`. */
  async #get(url: string, maxBytes: number, onBody?: () => void, signal?: AbortSignal): Promise<{ status: number; body: Buffer; buffer: Buffer }> {
    const buffer = this.#spareBuffers.pop() ?? Buffer.allocUnsafe(this.#store.descriptor.piece_size);
    try {
      // Only the status of a refusal (404, 429, 503) matters: its body is read and dropped.
      // A peer sending more than `maxBytes` is lying or broken: the client refuses to read it.
      const { status, length } = await this.#client.get(url, buffer, maxBytes, onBody, signal);
      return { status, body: buffer.subarray(0, length), buffer };
    } catch (error) {
      this.#release(buffer);
      throw error;
    }
  }

  #release(buffer: Buffer): void {
    if (buffer.length === this.#store.descriptor.piece_size) this.#spareBuffers.push(buffer);
  }

  #report(): void {
    if (!this.#o.onProgress) return;
    const elapsed = Math.max(1, Date.now() - this.#started) / 1000;
    this.#o.onProgress({
      pieces: this.#store.have.count,
      total: this.#store.have.length,
      peers: [...this.#peers.values()].filter((p) => !p.dropped && p.backoffUntil <= Date.now()).length,
      inFlight: this.#inFlight.size,
      bytesFetched: this.#result.bytesFetched,
      bytesPerSecond: this.#result.bytesFetched / elapsed,
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #missing(): number {
    return this.#store.have.length - this.#store.have.count;
  }

  #name(): string {
    return `${this.#store.descriptor.name}@${this.#store.descriptor.version}`;
  }
}

/**
 * A peer id at a new endpoint is a new process of that peer (restarted, or fetching again):
 * what the old one held, refused, or how it failed says nothing of it. Without this, a stale
 * "complete" from the stream's history makes a fetcher ask a peer for pieces it does not have
 * yet, and take every piece it refuses from the seeder.
 */
function forgetProcess(state: PeerState): void {
  state.incarnation++;
  state.have = undefined;
  state.wanted = 0;
  state.complete = false;
  state.refused.clear();
  state.probeAt = 0;
  state.liftedAt = 0;
  state.liftDelay = REFUSAL_LIFT_FIRST_MS;
  state.deferredUntil.clear();
  state.failures = 0;
  state.backoffUntil = 0;
  state.lastPoll = 0;
}

/** `answer` if it is a list of peers (each a peer id, an endpoint, a Bitfield or none, and a signer or none), else undefined. */
function asPeers(answer: unknown): PeerInfo[] | undefined {
  if (!Array.isArray(answer)) return undefined;
  for (const p of answer as Partial<PeerInfo>[]) {
    if (typeof p?.peerId !== "string" || typeof p.endpoint !== "string" || (p.have !== undefined && !(p.have instanceof Bitfield)) || (p.signer !== undefined && typeof p.signer !== "string")) return undefined;
  }
  return answer as PeerInfo[];
}

function backoffMs(failures: number): number {
  return Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
}

function rank(peer: PeerState): number {
  return (peer.complete ? 1_000 : 0) + peer.inFlight;
}

/** The most a `/bitfield` answer can take: the bitfield in base64url and a few small fields. */
function bitfieldAnswerBytes(pieces: number): number {
  return Math.ceil(pieces / 6) + 256;
}
