/**
 * The piece server every peer runs (`node:http`): it serves the verified pieces of the
 * artifacts it holds, their bitfields and descriptors, and whole completed files. Pieces
 * travel peer to peer here, never through the broker.
 *
 *   GET /v1/health
 *   GET /v1/artifacts/{root-hex}/descriptor
 *   GET /v1/artifacts/{root-hex}/bitfield     {bitfield, have, complete}
 *   GET /v1/artifacts/{root-hex}/pieces/{i}   the piece's bytes (404 when not held)
 *   GET /v1/artifacts/{root-hex}/file         the whole file, once complete
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ErrorCode, OnexError } from "../errors.js";
import { pieceLengthOf, rootHex } from "./descriptor.js";
import type { PieceSource } from "./piece-store.js";
import { MIN_TRANSFER_BYTES_PER_SECOND, transferDeadlineMs, UPLOAD_IDLE_MS } from "./transfer-deadline.js";
import { checkPositive, checkWhole } from "../option-check.js";
import { after } from "../timer.js";

/** Response header carrying the SHA-256 the server expects the piece to have (the fetcher checks its own copy of the descriptor, not this). */
export const PIECE_DIGEST_HEADER = "x-onex-piece-sha256";

/**
 * ONEX_E_USAGE for limits no server can work with: `maxUploads` 0 refused every request and NaN
 * lifted the limit; an `uploadBytesPerSecond` of 0 or NaN meant no cap at all, and one under
 * the slowest rate a piece may move at let no upload finish inside its own deadline.
 */
function checkServerOptions(options: PieceServerOptions): void {
  // A port of "abc" (from a config file) made Node listen on a UNIX socket of that name in the working folder.
  checkWhole("PieceServer", "port", options.port, { min: 0, max: 65_535 });
  if (options.host !== undefined && typeof options.host !== "string") throw new OnexError(ErrorCode.Usage, `PieceServer: host must be an address to listen on, not ${typeof options.host}`);
  checkWhole("PieceServer", "maxUploads", options.maxUploads);
  checkPositive("PieceServer", "uploadBytesPerSecond", options.uploadBytesPerSecond);
  if (options.uploadBytesPerSecond !== undefined && options.uploadBytesPerSecond < MIN_TRANSFER_BYTES_PER_SECOND) {
    throw new OnexError(ErrorCode.Usage, `PieceServer: uploadBytesPerSecond must be at least ${MIN_TRANSFER_BYTES_PER_SECOND} (the slowest a piece may move), not ${options.uploadBytesPerSecond}`);
  }
}

/** How a piece server runs. */
export interface PieceServerOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Pieces sent at once; more requests get 503 and go to another peer (default 16). */
  maxUploads?: number;
  /** Upload rate cap in bytes per second across all requests; unlimited by default. */
  uploadBytesPerSecond?: number;
  /** The URL peers reach this server at, when it differs from the listen address (NAT, containers). */
  publicUrl?: string;
}

/** What a piece server has sent. */
export interface PieceServerStats {
  bytesSent: number;
  piecesServed: number;
  filesServed: number;
  /** Requests refused with 503 because `maxUploads` were in progress (for a whole file: half of them were whole files). */
  busy: number;
  /** Requests a seeder deferred with 429: the piece was sent once already and others were not yet. */
  deferred: number;
}


const PIECE_PATH = /^\/v1\/artifacts\/([0-9a-f]{64})\/(descriptor|bitfield|file|pieces\/(\d{1,9}))$/;

/** A running piece server. */
export class PieceServer {
  readonly stats: PieceServerStats = { bytesSent: 0, piecesServed: 0, filesServed: 0, busy: 0, deferred: 0 };
  readonly #sources = new Map<string, PieceSource>();
  readonly #server: Server;
  readonly #options: PieceServerOptions;
  readonly #limiter: RateLimiter | undefined;
  #uploads = 0;
  // Whole-file uploads in progress: at most half the upload slots (fileSlotsOf), so the rest
  // are always there for pieces.
  #fileUploads = 0;
  // Piece buffers by piece size, reused once a piece is handed to the socket: serving
  // allocates one per upload in progress, not one per piece.
  readonly #spareBuffers = new Map<number, Buffer[]>();
  // What this server sent of each complete artifact it seeds, by root hash (hex).
  readonly #sendLedgers = new Map<string, SendLedger>();
  #url = "";

  private constructor(options: PieceServerOptions) {
    this.#options = options;
    checkServerOptions(options);
    // Infinity is no cap: a bucket refilled at Infinity × 0 ms was NaN, and the server stopped serving.
    this.#limiter = options.uploadBytesPerSecond === undefined || options.uploadBytesPerSecond === Infinity ? undefined : new RateLimiter(options.uploadBytesPerSecond);
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: ErrorCode.Internal, message: (error as Error).message });
        else res.destroy();
      });
    });
    // Peers keep connections open between pieces; a stopped peer must not wait on them.
    this.#server.keepAliveTimeout = 5_000;
  }

  /** Starts a piece server and resolves once it listens. */
  static async start(options: PieceServerOptions = {}): Promise<PieceServer> {
    const server = new PieceServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once("error", reject);
      server.#server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
    });
    const address = server.#server.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    server.#url = options.publicUrl ?? `http://${host}:${address.port}`;
    return server;
  }

  /** Base URL peers fetch from: what the peer announces and registers. */
  get url(): string {
    return this.#url;
  }

  /** Serves the artifact of `source` (its verified pieces, as they arrive). */
  add(source: PieceSource): void {
    this.#sources.set(rootHex(source.descriptor.root_hash), source);
  }

  /** Stops serving an artifact. */
  remove(rootHash: string): void {
    this.#sources.delete(rootHex(rootHash));
    this.#sendLedgers.delete(rootHex(rootHash));
  }

  /** Stops listening and cuts open connections (a peer leaving the swarm). */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://piece-server");
    if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: ErrorCode.Usage, message: "only GET" });
    if (url.pathname === "/v1/health") return sendJson(res, 200, { status: "passing", artifacts: this.#sources.size });
    const match = PIECE_PATH.exec(url.pathname);
    const source = match ? this.#sources.get(match[1]!) : undefined;
    if (!match || !source) return sendJson(res, 404, { error: ErrorCode.NotFound, message: "no such artifact here" });
    switch (match[2]) {
      case "descriptor":
        return sendJson(res, 200, source.descriptor);
      case "bitfield":
        return sendJson(res, 200, { bitfield: source.have.toBase64url(), have: source.have.count, complete: source.have.complete });
      case "file":
        return this.#sendFile(req, res, source);
      default:
        return this.#sendPiece(req, res, source, Number(match[3]));
    }
  }

  async #sendPiece(req: IncomingMessage, res: ServerResponse, source: PieceSource, index: number): Promise<void> {
    // Only verified pieces are ever served: the bitfield is set after the hash check.
    if (!source.have.has(index)) return sendJson(res, 404, { error: ErrorCode.NotFound, message: `piece ${index} is not held here` });
    const headers = { "content-type": "application/octet-stream", "content-length": pieceLengthOf(source.descriptor, index), [PIECE_DIGEST_HEADER]: source.descriptor.pieces[index]! };
    // A HEAD sends nothing, so it neither takes an upload slot nor counts as the piece being sent.
    if (req.method === "HEAD") return void res.writeHead(200, headers).end();
    if (!this.#takeUploadSlot(res)) return;
    const send = this.#sendLedgerOf(source)?.reserve(index, Date.now());
    if (send === null) {
      this.#uploads--;
      this.stats.deferred++;
      res.setHeader("retry-after", "1");
      return sendJson(res, 429, { error: "sent", message: `piece ${index} was sent a moment ago: fetch it from the peer that has it` });
    }
    const spares = this.#spareBuffers.get(source.descriptor.piece_size) ?? [];
    this.#spareBuffers.set(source.descriptor.piece_size, spares);
    const buffer = spares.pop() ?? Buffer.allocUnsafe(source.descriptor.piece_size);
    let sent = false;
    // 'close' follows 'finish' (the bytes handed to the socket) or a dropped connection; either
    // way the buffer is free again and the upload slot is given back. Listened for from the start:
    // a peer that leaves while the piece is read or waits for the rate limit has closed already.
    const closed = new Promise<void>((resolve) => res.once("close", resolve));
    try {
      const bytes = await source.readPiece(index, buffer);
      await this.#limiter?.take(bytes.length);
      if (!res.destroyed) {
        res.writeHead(200, headers);
        // A reader slower than the slowest rate that counts loses the connection: it would hold the
        // upload slot and the buffer for as long as it liked, and 16 of them would shut the seeder.
        const deadline = setTimeout(() => res.destroy(), transferDeadlineMs(bytes.length, UPLOAD_IDLE_MS));
        res.end(bytes);
        await closed.finally(() => clearTimeout(deadline));
        sent = res.writableFinished;
      }
      if (sent) {
        this.stats.bytesSent += bytes.length;
        this.stats.piecesServed++;
      }
    } finally {
      this.#uploads--;
      spares.push(buffer);
      if (!sent) send?.undo();
    }
  }

  /** The send ledger of a complete artifact this server seeds; undefined while it is still downloading it. */
  #sendLedgerOf(source: PieceSource): SendLedger | undefined {
    if (!source.have.complete) return undefined;
    const key = rootHex(source.descriptor.root_hash);
    let ledger = this.#sendLedgers.get(key);
    if (ledger === undefined) {
      ledger = new SendLedger(source.descriptor.pieces.length);
      this.#sendLedgers.set(key, ledger);
    }
    return ledger;
  }

  async #sendFile(req: IncomingMessage, res: ServerResponse, source: PieceSource): Promise<void> {
    if (!source.have.complete) return sendJson(res, 404, { error: ErrorCode.ArtifactIncomplete, message: "the artifact is not complete here" });
    const headers = { ...fileHeaders(source.descriptor.media_type), "content-length": source.descriptor.size };
    if (req.method === "HEAD") return void res.writeHead(200, headers).end();
    // An upload like a piece's, in its slots and under a deadline: readers that stop reading
    // would otherwise hold a socket and an open file each, as many as connect, for good. The
    // deadline allows for this server's own rate limit, shared by its uploads, where that is slower.
    // Whole files take at most half the slots: anyone who reaches the server may ask for the file
    // as often as they like (no request carries an identity), and 16 of them held every slot, so
    // the swarm's fetchers got 503 for every piece until they were done.
    if (!this.#takeUploadSlot(res, true)) return;
    // The file the store verified, read through its handle: the artifact's name, opened again
    // here, was whatever a local user who can write its folder had put there since.
    const file = source.wholeFile();
    if (file === undefined) {
      this.#fileUploads--;
      this.#uploads--;
      return sendJson(res, 404, { error: ErrorCode.ArtifactIncomplete, message: "the artifact is not complete here" });
    }
    const maxUploads = this.#options.maxUploads ?? 16;
    const shareOfLimit = (this.#limiter?.bytesPerSecond ?? Infinity) / maxUploads;
    const deadline = after(transferDeadlineMs(source.descriptor.size, UPLOAD_IDLE_MS, shareOfLimit), () => res.destroy());
    try {
      await this.#streamFile(res, headers, file);
    } finally {
      deadline.cancel();
      this.#fileUploads--;
      this.#uploads--;
    }
  }

  /** Takes one of the `maxUploads` upload slots (for a whole file, also one of the half of them whole files may hold: fileSlotsOf), or answers 503 (`retry-after`) and says so. */
  #takeUploadSlot(res: ServerResponse, wholeFile = false): boolean {
    const maxUploads = this.#options.maxUploads ?? 16;
    const busy =
      this.#uploads >= maxUploads ? "too many uploads in progress"
      : wholeFile && this.#fileUploads >= fileSlotsOf(maxUploads) ? "too many whole-file uploads in progress; the other upload slots are kept for pieces"
      : undefined;
    if (busy !== undefined) {
      this.stats.busy++;
      res.setHeader("retry-after", "1");
      sendJson(res, 503, { error: "busy", message: busy });
      return false;
    }
    this.#uploads++;
    if (wholeFile) this.#fileUploads++;
    return true;
  }

  async #streamFile(res: ServerResponse, headers: Record<string, string | number>, file: Readable): Promise<void> {
    res.writeHead(200, headers);
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) => {
        const pass = () => {
          this.stats.bytesSent += chunk.length;
          callback(null, chunk);
        };
        if (this.#limiter) this.#limiter.take(chunk.length).then(pass, callback);
        else pass();
      },
    });
    await pipeline(file, counter, res).catch(() => undefined);
    this.stats.filesServed++;
  }
}

/**
 * A seeder (a server with the complete artifact) sends each piece once before it sends any
 * piece twice: while some piece has not left it, a request for one that has is deferred with
 * 429 for up to FIRST_PASS_DEFER_MS, and the fetcher takes another piece meanwhile and this one
 * from the peer that got it. Once every piece has left, a piece is sent again only
 * RESEND_AFTER_MS after it last was, about the time the peer that got it takes to announce it.
 * So the origin's uplink carries each piece about once however many fetch, and a fetcher whose
 * piece went to a peer that left, or to nobody it can reach, waits a few seconds at most.
 */
class SendLedger {
  // When each piece was last sent (ms since the epoch; 0: never), and how many never were.
  readonly #sentAt: Float64Array;
  #unsent: number;

  constructor(pieces: number) {
    this.#sentAt = new Float64Array(pieces);
    this.#unsent = pieces;
  }

  /** Reserves a send of piece `index` at `now`: null when it was sent too recently; `undo` when the send failed. */
  reserve(index: number, now: number): { undo(): void } | null {
    const last = this.#sentAt[index]!;
    if (last > 0 && now - last < (this.#unsent > 0 ? FIRST_PASS_DEFER_MS : RESEND_AFTER_MS)) return null;
    if (last === 0) this.#unsent--;
    this.#sentAt[index] = now;
    return {
      undo: () => {
        if (this.#sentAt[index] !== now) return;
        this.#sentAt[index] = last;
        if (last === 0) this.#unsent++;
      },
    };
  }
}

/** Whole-file uploads a server with `maxUploads` upload slots runs at once: half of them (at least one), the rest kept for pieces. */
export function fileSlotsOf(maxUploads: number): number {
  return Math.max(1, Math.floor(maxUploads / 2));
}

/** While some piece has not left a seeder, how long a piece that has is deferred at most. */
const FIRST_PASS_DEFER_MS = 5_000;
/** Once every piece has left a seeder, how long it waits before it sends a piece again. */
const RESEND_AFTER_MS = 1_000;

/** A token bucket shared by all uploads of one server: one second of burst. */
class RateLimiter {
  #tokens: number;
  #last = Date.now();
  #queue: Promise<void> = Promise.resolve();

  constructor(readonly bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new OnexError(ErrorCode.Usage, `uploadBytesPerSecond must be positive, not ${bytesPerSecond}`);
    this.#tokens = bytesPerSecond;
  }

  /** Resolves once `bytes` may be sent; callers are served in order. */
  take(bytes: number): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      for (;;) {
        const now = Date.now();
        this.#tokens = Math.min(this.bytesPerSecond, this.#tokens + ((now - this.#last) / 1000) * this.bytesPerSecond);
        this.#last = now;
        // A request larger than the bucket waits for a full bucket, then goes (the bucket goes negative).
        if (this.#tokens >= Math.min(bytes, this.bytesPerSecond)) {
          this.#tokens -= bytes;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.ceil(((Math.min(bytes, this.bytesPerSecond) - this.#tokens) / this.bytesPerSecond) * 1000)));
      }
    });
    return this.#queue;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * A media type as RFC 6838 spells one (type/subtype, then `; name=value` parameters, a quoted
 * value in printable ASCII): the descriptor's is the publisher's text, and one holding a line
 * break, or any other character a header value may not hold (a control, one past U+00FF, even
 * inside quotes), failed the response with a 500.
 */
const MEDIA_TYPE = /^[A-Za-z0-9][\w!#$&^.+-]{0,126}\/[A-Za-z0-9][\w!#$&^.+-]{0,126}(?:[ \t]*;[ \t]*[\w!#$&^.+-]+=(?:[\w!#$&^.+-]+|"[\t\x20\x21\x23-\x5b\x5d-\x7e]*"))*$/;

/**
 * The headers of a whole-file answer. The artifact is handed out as a download, never rendered:
 * a publisher's `text/html` would otherwise be a page with script, served from the seeder's own
 * address to any browser pointed at it.
 */
function fileHeaders(mediaType: string): Record<string, string> {
  return {
    "content-type": MEDIA_TYPE.test(mediaType) ? mediaType : "application/octet-stream",
    "content-disposition": "attachment",
    "content-security-policy": "sandbox",
    "x-content-type-options": "nosniff",
  };
}
