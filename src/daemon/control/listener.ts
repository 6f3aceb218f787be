// The control API's listener: one TCP port (or Unix socket) for HTTP/2 clients (gRPC, the
// CLI, Connect) and for HTTP/1.1 clients (Connect and gRPC-Web: browsers, plain curl, most
// proxies). Cleartext HTTP/2 has no TLS ALPN to tell the two apart, so each connection's
// first bytes are compared with the HTTP/2 connection preface (RFC 9113 section 3.4) and the
// socket, those bytes put back, is handed to an HTTP/2 or an HTTP/1.1 server. Both servers
// call the same handler, so routes and token checks are one and the same on every path.
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import http2 from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";

export type ControlHandler = (req: IncomingMessage | http2.Http2ServerRequest, res: ServerResponse | http2.Http2ServerResponse) => void;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Bounds on either protocol; one client cannot hold more than these. */
export const CONTROL_LIMITS = {
  maxConnections: 1024,
  /** Both protocols: a client must say which it speaks, and send its headers, within this. */
  headersTimeoutMs: 10_000,
  /** A connection with no request in flight is closed after this. */
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 16 * 1024,
  maxConcurrentStreams: 64,
};

export interface ControlListener {
  /** What to listen on (a port or a Unix socket path). */
  readonly server: NetServer;
  /** Stops accepting, ends idle connections, and cuts those still busy after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

export function createControlListener(handler: ControlHandler): ControlListener {
  const h2 = http2.createServer(
    {
      // Bounds per client: concurrent streams, header size, session memory.
      settings: { maxConcurrentStreams: CONTROL_LIMITS.maxConcurrentStreams, maxHeaderListSize: CONTROL_LIMITS.maxHeaderBytes },
      maxSessionMemory: 16,
    },
    handler,
  );
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (s) => {
    // An idle client connection is closed after a minute; `logs -f` streams keep it busy.
    s.setTimeout(CONTROL_LIMITS.idleTimeoutMs, () => s.close());
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });

  // The timeouts below are enforced by a check every connectionsCheckingInterval (30 s by
  // default, which would make a 10 s bound up to 40 s).
  const h1 = createHttp1Server({ maxHeaderSize: CONTROL_LIMITS.maxHeaderBytes, connectionsCheckingInterval: 1_000 }, handler);
  // Node tracks an HTTP server's connections (the header and request timeouts, closing idle
  // or all connections) from its 'listening' event on. This server never listens itself: its
  // connections come from the listener below, so it is told now.
  h1.emit("listening");
  h1.headersTimeout = CONTROL_LIMITS.headersTimeoutMs;
  // The request (headers and body, a control message is at most 1 MiB) must arrive within
  // this; a streaming answer (`Logs` with follow) may last as long as it likes.
  h1.requestTimeout = 30_000;
  h1.keepAliveTimeout = CONTROL_LIMITS.idleTimeoutMs;
  h1.maxHeadersCount = 64;

  const undecided = new Set<Socket>();
  const server = createNetServer((socket) => sniff(socket, h2, h1, undecided));
  server.maxConnections = CONTROL_LIMITS.maxConnections;

  return {
    server,
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of undecided) socket.destroy();
      // Closes idle connections and stops the timeout checks; the callback only says that
      // this server was never listening itself.
      h1.close(() => undefined);
      for (const s of sessions) s.close();
      // Connections still busy after a moment (a `logs -f` stream) are cut.
      const cut = setTimeout(() => {
        h1.closeAllConnections();
        for (const s of sessions) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(cut);
    },
  };
}

/** Reads until the first bytes match the HTTP/2 preface or stop matching it, then hands the socket over. */
function sniff(socket: Socket, h2: http2.Http2Server, h1: ReturnType<typeof createHttp1Server>, undecided: Set<Socket>): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), CONTROL_LIMITS.headersTimeoutMs);
  undecided.add(socket);
  const done = () => {
    undecided.delete(socket);
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("error", onError);
    socket.off("close", done);
  };
  const onError = () => done();
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const http2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (http2 && seen.length < PREFACE.length) return; // a prefix of the preface: not decided yet
    done();
    // Paused, so that the bytes put back wait for the new owner: the HTTP/2 session reads
    // them itself; the HTTP/1.1 server gets them as 'data' once the socket flows again.
    socket.pause();
    socket.unshift(seen);
    if (http2) h2.emit("connection", socket);
    else {
      h1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", onError);
  socket.on("close", done);
}
