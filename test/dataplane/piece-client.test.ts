/**
 * The fetcher's piece client reads bodies straight into the caller's buffer; these tests hold
 * it to HTTP framing against a real node:http server and against scripted raw sockets that
 * lie: more bytes than announced, a truncated body, chunked framing, no content-length, a
 * garbage status line, silence. Every refusal rejects (the fetcher then counts a failure
 * against that peer) and nothing past `maxBytes` is ever written into the buffer.
 */
import { randomBytes } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { PieceClient, PieceProtocolError } from "../../runtime/dataplane/piece-client.js";

const servers: (Server | HttpServer)[] = [];
const clients: PieceClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { (s as HttpServer).closeAllConnections?.(); s.close(() => resolve()); })));
});

async function listen(server: Server | HttpServer): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw server that answers every request (each sent after the previous answer) with `answer(n)`, the request's number. */
async function rawServer(answer: (socket: Socket, n: number) => void): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  let n = 0;
  const server = createServer((socket) => {
    connections++;
    let pending = "";
    socket.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      while (pending.includes("\r\n\r\n")) {
        pending = pending.slice(pending.indexOf("\r\n\r\n") + 4);
        answer(socket, n++);
      }
    });
    socket.on("error", () => undefined);
  });
  return { url: await listen(server), connections: () => connections };
}

function client(timeoutMs?: number): PieceClient {
  const c = new PieceClient(timeoutMs);
  clients.push(c);
  return c;
}

describe("piece client", () => {
  it("reads a piece into the buffer over one kept-alive connection, and a refusal's status without its body", async () => {
    const piece = randomBytes(1 << 20);
    let connections = 0;
    const http = createHttpServer((req, res) => {
      if (req.url === "/pieces/0") return void res.writeHead(200, { "content-length": piece.length }).end(piece);
      const body = JSON.stringify({ error: "sent", message: "later" });
      res.writeHead(429, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "retry-after": "1" }).end(body);
    });
    http.on("connection", () => connections++);
    const url = await listen(http);
    const c = client();
    const into = Buffer.alloc(piece.length);
    for (let i = 0; i < 3; i++) {
      into.fill(0);
      expect(await c.get(`${url}/pieces/0`, into, piece.length)).toEqual({ status: 200, length: piece.length });
      expect(into.equals(piece)).toBe(true);
      expect(await c.get(`${url}/pieces/9`, into, piece.length)).toEqual({ status: 429, length: 0 });
    }
    expect(connections).toBe(1);
  });

  it("a body shorter than the buffer fills only its length (the piece store then refuses the length)", async () => {
    const { url } = await rawServer((socket) => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"));
    const into = Buffer.alloc(16, 0x2e);
    expect(await client().get(`${url}/p`, into, 16)).toEqual({ status: 200, length: 5 });
    expect(into.toString()).toBe("hello...........");
  });

  it("refuses a body announced larger than asked for, and writes nothing", async () => {
    const { url } = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n${"x".repeat(17)}`));
    const into = Buffer.alloc(32, 0);
    await expect(client().get(`${url}/p`, into, 16)).rejects.toBeInstanceOf(PieceProtocolError);
    expect(into.every((b) => b === 0)).toBe(true);
  });

  it("refuses a refusal that sends more than it announced", async () => {
    const { url } = await rawServer((socket) => socket.write("HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}garbage"));
    await expect(client().get(`${url}/p`, Buffer.alloc(16), 16)).rejects.toBeInstanceOf(PieceProtocolError);
  });

  it("refuses a refusal that announces more than a refusal can hold, without reading it: a 404 of a terabyte is not read and thrown away", async () => {
    const { url } = await rawServer((socket) => socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 999999999999\r\n\r\n{}"));
    const refused = client().get(`${url}/p`, Buffer.alloc(16), 16);
    await expect(refused).rejects.toBeInstanceOf(PieceProtocolError);
    await expect(refused).rejects.toThrow(/more than \d+ bytes/);
  });

  it("rejects a body cut short by the peer closing the connection", async () => {
    const { url } = await rawServer((socket) => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part of it"));
    await expect(client().get(`${url}/p`, Buffer.alloc(100), 100)).rejects.toThrow(/closed/);
  });

  it.each([
    ["chunked framing", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    ["no content-length", "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nhello"],
    ["two different content-lengths", "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!"],
    ["a content-length that is not a number", "HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\n"],
    ["a garbage status line", "SMTP ready\r\n\r\n"],
    ["a header line without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n"],
  ])("refuses %s", async (_what, answer) => {
    const { url } = await rawServer((socket) => socket.write(answer));
    await expect(client().get(`${url}/p`, Buffer.alloc(16), 16)).rejects.toBeInstanceOf(PieceProtocolError);
  });

  it("refuses a response head that never ends", async () => {
    const { url } = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\n${"x-filler: y\r\n".repeat(2000)}`));
    await expect(client().get(`${url}/p`, Buffer.alloc(16), 16)).rejects.toBeInstanceOf(PieceProtocolError);
  });

  it("refuses bytes nobody asked for, and the next request goes out on a new connection", async () => {
    const ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    const { url, connections } = await rawServer((socket, n) => socket.write(n === 0 ? ok + ok : ok));
    const c = client();
    await expect(c.get(`${url}/p`, Buffer.alloc(16), 16)).rejects.toBeInstanceOf(PieceProtocolError);
    expect(await c.get(`${url}/p`, Buffer.alloc(16), 16)).toEqual({ status: 200, length: 2 });
    expect(connections()).toBe(2);
  });

  it("refuses bytes that arrive later, while no request waits, and the next request goes out on a new connection", async () => {
    const ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let firstClosed!: Promise<void>;
    const { url, connections } = await rawServer((socket, n) => {
      socket.write(ok);
      if (n !== 0) return;
      firstClosed = new Promise((resolve) => socket.on("close", () => resolve()));
      // An answer to nothing, once the client holds the connection idle.
      setTimeout(() => socket.write(ok), 50);
    });
    const c = client();
    expect(await c.get(`${url}/p`, Buffer.alloc(16), 16)).toEqual({ status: 200, length: 2 });
    // The client drops the connection the stray bytes came on, without a crash.
    await firstClosed;
    expect(await c.get(`${url}/p`, Buffer.alloc(16), 16)).toEqual({ status: 200, length: 2 });
    expect(connections()).toBe(2);
  });

  it("opens at most 8 connections to one server: more requests wait for one to come free", async () => {
    let open = 0;
    let most = 0;
    const server = createServer((socket) => {
      most = Math.max(most, ++open);
      // Read (and drop) what comes, so the client closing the connection is seen at once.
      socket.resume();
      socket.on("close", () => open--);
      socket.on("error", () => undefined);
    });
    const url = await listen(server);
    const c = client(300);
    // A silent server (or many made-up peer ids that all name it): every request times out.
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.get(`${url}/p`, Buffer.alloc(4), 4)));
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(8);
  });

  it("a request waiting for a connection gives up as a request would, when a server holds all 8 with a trickle", async () => {
    const trickles: NodeJS.Timeout[] = [];
    const server = createServer((socket) => {
      socket.resume();
      // A byte of a head that never ends, often enough that no connection goes idle.
      trickles.push(setInterval(() => socket.write("H"), 30));
      socket.on("error", () => undefined);
    });
    const url = await listen(server);
    const c = client(300);
    try {
      const held = Array.from({ length: 8 }, () => c.get(`${url}/p`, Buffer.alloc(4), 4));
      for (const h of held) h.catch(() => undefined);
      await expect(c.get(`${url}/p`, Buffer.alloc(4), 4)).rejects.toThrow(/waiting for one of the 8 connections/);
    } finally {
      c.destroy();
      for (const t of trickles) clearInterval(t);
    }
  });

  it("retries on a new connection when the server closed the idle one as the request went out", async () => {
    const { url, connections } = await rawServer((socket, n) => {
      // The first connection answers once and closes as soon as the next request arrives, without a byte.
      if (n === 1) return void socket.destroy();
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    const c = client();
    expect((await c.get(`${url}/p`, Buffer.alloc(4), 4)).status).toBe(200);
    expect((await c.get(`${url}/p`, Buffer.alloc(4), 4)).status).toBe(200);
    expect(connections()).toBe(2);
  });

  it("times out a silent peer", async () => {
    const { url } = await rawServer(() => undefined);
    await expect(client(200).get(`${url}/p`, Buffer.alloc(4), 4)).rejects.toThrow(/timed out/);
  });

  it("rejects requests in progress when destroyed", async () => {
    const { url } = await rawServer(() => undefined);
    const c = client();
    const pending = c.get(`${url}/p`, Buffer.alloc(4), 4);
    setTimeout(() => c.destroy(), 20);
    await expect(pending).rejects.toThrow();
  });
});
