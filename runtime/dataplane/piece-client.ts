/**
 * The fetcher's HTTP/1.1 client for piece requests: keep-alive connections whose socket reads
 * land straight in the piece's buffer (`net` `onread`). node:http allocated a buffer for every
 * socket read and copied every body chunk into another one, then the fetcher copied it into
 * the piece: two copies and two short-lived allocations per 64 KiB, and the allocations
 * (external memory) kept triggering full garbage collections in a process whose heap holds
 * the SDK. Here a response costs no allocation but a few small objects, and no copy but the
 * part of the body that arrives with the header.
 *
 * It speaks only what piece servers answer: a status line, headers, and a body framed by
 * `content-length` (a response without one, chunked, or with a malformed head is refused; so
 * are more bytes than asked for). A response's framing is checked, never its content: the
 * caller hashes the piece.
 */
import { connect, type Socket } from "node:net";
import { after, MAX_TIMER_MS, type Timer } from "../timer.js";
import { transferDeadlineMs } from "./transfer-deadline.js";

/** Bytes a response head may take (status line and headers). */
const MAX_HEAD_BYTES = 16 * 1024;
/**
 * Connections open to one piece server at most, as node:http's agent was set to: requests
 * beyond them wait for one to come free. Without a cap, peer ids (chosen by their senders)
 * that all name one silent endpoint made a fetcher open a connection for every poll.
 */
const MAX_CONNECTIONS_PER_SERVER = 8;
/** Body bytes of a refusal (404, 429, 503: small JSON) that are read, and dropped, at most. */
const MAX_REFUSAL_BYTES = 64 * 1024;

/** What a piece request answered: the status and, for 200, how many body bytes are in `into`. */
export interface PieceResponse {
  status: number;
  length: number;
}

/** A response the client refuses to read: the peer is broken or lying; the connection is closed. */
export class PieceProtocolError extends Error {
  override name = "PieceProtocolError";
}

interface Exchange {
  into: Buffer;
  maxBytes: number;
  resolve(response: PieceResponse): void;
  reject(error: Error): void;
  /** Bytes of the head read so far (in the connection's head buffer). */
  headBytes: number;
  status: number;
  /** Body length from content-length, once the head is in; -1 before. */
  bodyLength: number;
  bodyBytes: number;
  close: boolean;
  /** Whether any byte of the answer arrived (a reused connection closed before that is retried). */
  answered: boolean;
  /** Called once a 200's head is in: its body is on the way. */
  onBody?: () => void;
}

/** One keep-alive connection to a piece server. */
class Connection {
  readonly socket: Socket;
  readonly head = Buffer.allocUnsafe(MAX_HEAD_BYTES);
  exchange: Exchange | undefined;
  reused = false;
  closed = false;
  /** Cuts the exchange in progress once it has taken longer than its bytes may (transfer-deadline.ts). */
  #deadline: Timer | undefined;

  constructor(host: string, port: number, onClosed: (c: Connection) => void) {
    this.socket = connect({
      host,
      port,
      // The next read goes where the current exchange wants it: the head buffer, or the piece at the right offset.
      onread: {
        buffer: () => this.#nextBuffer(),
        callback: (n: number) => {
          this.#onRead(n);
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    this.socket.on("error", (error) => this.#fail(error));
    this.socket.on("close", () => {
      this.closed = true;
      this.#fail(new Error("the peer closed the connection"));
      onClosed(this);
    });
    this.socket.on("timeout", () =>
      this.socket.destroy(new Error("request timed out")),
    );
  }

  #nextBuffer(): Buffer {
    const x = this.exchange;
    if (x === undefined || x.bodyLength < 0)
      return x ? this.head.subarray(x.headBytes) : this.head;
    if (x.status === 200) return x.into.subarray(x.bodyBytes, x.bodyLength);
    return this.head;
  }

  #onRead(n: number): void {
    const x = this.exchange;
    // Bytes nobody asked for: a server answers only requests.
    if (x === undefined)
      return void this.socket.destroy(
        new PieceProtocolError("bytes before any request"),
      );
    x.answered = true;
    if (x.bodyLength < 0) {
      x.headBytes += n;
      const end = this.head.subarray(0, x.headBytes).indexOf("\r\n\r\n");
      if (end < 0) {
        if (x.headBytes >= MAX_HEAD_BYTES)
          this.socket.destroy(
            new PieceProtocolError(
              `a response head over ${MAX_HEAD_BYTES} bytes`,
            ),
          );
        return;
      }
      const problem = parseHead(this.head.toString("latin1", 0, end), x);
      if (problem !== undefined)
        return void this.socket.destroy(new PieceProtocolError(problem));
      // Body bytes that came with the head are the one copy this client makes.
      const early = x.headBytes - (end + 4);
      if (early > x.bodyLength)
        return void this.socket.destroy(
          new PieceProtocolError(
            `more than the ${x.bodyLength} bytes announced`,
          ),
        );
      if (x.status === 200) {
        this.head.copy(x.into, 0, end + 4, x.headBytes);
        x.onBody?.();
      }
      x.bodyBytes = early;
    } else {
      x.bodyBytes += n;
      if (x.status !== 200 && x.bodyBytes > x.bodyLength)
        return void this.socket.destroy(
          new PieceProtocolError(
            `more than the ${x.bodyLength} bytes announced`,
          ),
        );
    }
    if (x.bodyBytes === x.bodyLength) this.#done(x);
  }

  #done(x: Exchange): void {
    this.exchange = undefined;
    this.#deadline?.cancel();
    this.socket.setTimeout(0);
    if (x.close) this.socket.destroy();
    x.resolve({
      status: x.status,
      length: x.status === 200 ? x.bodyLength : 0,
    });
  }

  #fail(error: Error): void {
    const x = this.exchange;
    if (x === undefined) return;
    this.exchange = undefined;
    this.#deadline?.cancel();
    this.socket.destroy();
    x.reject(Object.assign(error, { retryable: this.reused && !x.answered }));
  }

  send(request: string, x: Exchange, timeoutMs: number): void {
    this.exchange = x;
    // An idle timeout longer than one Node timer holds is none: the transfer deadline (a chain of
    // timers, runtime/timer.ts) bounds the exchange, unless it too is Infinity.
    this.socket.setTimeout(timeoutMs <= MAX_TIMER_MS ? timeoutMs : 0);
    const deadlineMs = transferDeadlineMs(x.maxBytes, timeoutMs);
    this.#deadline = after(deadlineMs, () => this.socket.destroy(new Error(`request timed out: the answer took longer than ${deadlineMs} ms`)));
    this.socket.write(request);
  }
}

/** Reads the status line and the headers that matter; returns what is wrong with them, if anything. */
function parseHead(head: string, x: Exchange): string | undefined {
  const lines = head.split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
  if (!status) return "not an HTTP/1.1 status line";
  x.status = Number(status[1]);
  let length: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) return "a malformed header line";
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") {
      if (
        !/^\d{1,12}$/.test(value) ||
        (length !== undefined && length !== Number(value))
      )
        return "a malformed content-length";
      length = Number(value);
    } else if (name === "transfer-encoding") {
      return "a transfer-encoding (piece servers frame bodies with content-length)";
    } else if (name === "connection") {
      x.close = value.toLowerCase() === "close";
    }
  }
  if (length === undefined) return "no content-length";
  const limit = x.status === 200 ? x.maxBytes : MAX_REFUSAL_BYTES;
  if (length > limit) return `more than ${limit} bytes`;
  x.bodyLength = length;
  return undefined;
}

/** Keep-alive connections to piece servers, by host and port. */
export class PieceClient {
  readonly #idle = new Map<string, Connection[]>();
  readonly #open = new Set<Connection>();
  /** Connections open per server, and the requests waiting for one to come free. */
  readonly #openPer = new Map<string, number>();
  readonly #waiting = new Map<string, (() => void)[]>();
  #destroyed = false;

  constructor(private readonly timeoutMs = 30_000) {}

  /**
   * GETs `url` and reads a 200's body into `into` (at most `maxBytes`, which `into` must hold);
   * other statuses' bodies are read and dropped; `onBody` is called when a 200's body starts.
   * Rejects on a connection error, a timeout (idle, or the whole answer past its transfer
   * deadline), a response it refuses to read (`PieceProtocolError`), or `signal` aborting it,
   * which closes its connection (HTTP/1.1 has no other way to stop an answer).
   */
  async get(
    url: string,
    into: Buffer,
    maxBytes: number,
    onBody?: () => void,
    signal?: AbortSignal,
  ): Promise<PieceResponse> {
    if (maxBytes > into.length)
      throw new RangeError(
        `a buffer of ${into.length} bytes cannot take ${maxBytes}`,
      );
    const target = new URL(url);
    if (target.protocol !== "http:")
      throw new PieceProtocolError(
        `piece servers speak http:, not ${target.protocol}`,
      );
    const key = `${target.hostname}:${target.port || "80"}`;
    const request = `GET ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\nconnection: keep-alive\r\n\r\n`;
    for (;;) {
      const connection = await this.#take(
        key,
        target.hostname.replace(/^\[|\]$/g, ""),
        Number(target.port || 80),
      );
      if (signal?.aborted) {
        this.#give(key, connection);
        throw new Error("the request was cancelled");
      }
      const cancel = () => connection.socket.destroy(new Error("the request was cancelled"));
      signal?.addEventListener("abort", cancel, { once: true });
      try {
        const response = await new Promise<PieceResponse>((resolve, reject) => {
          connection.send(
            request,
            {
              into,
              maxBytes,
              resolve,
              reject,
              headBytes: 0,
              status: 0,
              bodyLength: -1,
              bodyBytes: 0,
              close: false,
              answered: false,
              ...(onBody === undefined ? {} : { onBody }),
            },
            this.timeoutMs,
          );
        });
        this.#give(key, connection);
        return response;
      } catch (error) {
        // The server closed an idle connection as this request went out on it: try a new one.
        if ((error as { retryable?: boolean }).retryable && !this.#destroyed && !signal?.aborted)
          continue;
        throw error;
      } finally {
        signal?.removeEventListener("abort", cancel);
      }
    }
  }

  /** Closes every connection (requests in progress, and those waiting for one, reject). */
  destroy(): void {
    this.#destroyed = true;
    for (const connection of this.#open) connection.socket.destroy();
    this.#idle.clear();
    for (const wake of [...this.#waiting.values()].flat()) wake();
    this.#waiting.clear();
  }

  /** An idle connection to the server, else a new one, else (at the cap) the first to come free. */
  async #take(key: string, host: string, port: number): Promise<Connection> {
    for (;;) {
      const idle = this.#idle.get(key);
      while (idle !== undefined && idle.length > 0) {
        const connection = idle.pop()!;
        if (connection.closed || connection.socket.destroyed) continue;
        connection.reused = true;
        return connection;
      }
      if (this.#destroyed) throw new Error("the piece client is closed");
      const open = this.#openPer.get(key) ?? 0;
      if (open < MAX_CONNECTIONS_PER_SERVER) break;
      // As long as a request may take: a server that holds every connection does not hold its waiters forever.
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          timer.cancel();
          resolve();
        };
        const timer = after(this.timeoutMs, () => {
          const list = this.#waiting.get(key);
          const at = list?.indexOf(wake) ?? -1;
          if (at >= 0) list!.splice(at, 1);
          if (list?.length === 0) this.#waiting.delete(key);
          reject(new Error(`request timed out waiting for one of the ${MAX_CONNECTIONS_PER_SERVER} connections to ${key}`));
        });
        const list = this.#waiting.get(key);
        if (list === undefined) this.#waiting.set(key, [wake]);
        else list.push(wake);
      });
    }
    this.#openPer.set(key, (this.#openPer.get(key) ?? 0) + 1);
    const connection = new Connection(host, port, (c) => {
      this.#open.delete(c);
      const list = this.#idle.get(key);
      const at = list?.indexOf(c) ?? -1;
      if (at >= 0) list!.splice(at, 1);
      const open = (this.#openPer.get(key) ?? 1) - 1;
      if (open === 0) this.#openPer.delete(key);
      else this.#openPer.set(key, open);
      this.#wakeOne(key);
    });
    this.#open.add(connection);
    return connection;
  }

  #give(key: string, connection: Connection): void {
    // A connection the answer closed (`connection: close`) is destroyed before its close event.
    if (connection.closed || connection.socket.destroyed || this.#destroyed) return;
    let idle = this.#idle.get(key);
    if (idle === undefined) this.#idle.set(key, (idle = []));
    idle.push(connection);
    this.#wakeOne(key);
  }

  #wakeOne(key: string): void {
    const list = this.#waiting.get(key);
    const wake = list?.shift();
    if (list !== undefined && list.length === 0) this.#waiting.delete(key);
    wake?.();
  }
}
