// The control API's server: HTTP/2 with the Connect, gRPC and gRPC-Web protocols, bounded per
// client, with the bearer token required on every RPC when the daemon has one. Closing it
// ends idle sessions at once and cuts streams (`logs -f`) that do not end within a moment.
import http2 from "node:http2";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { bearerMatches } from "../../shared/token.js";
import { mapDaemonErrors } from "./errors.js";
import { controlRoutes, type ControlDeps } from "./service.js";

/** Limits on what one control request may carry; Start requests are small. */
const CONTROL_READ_MAX_BYTES = 1024 * 1024;
/** An idle client connection is closed after this; `logs -f` streams keep it busy. */
const SESSION_IDLE_MS = 60_000;
/** Sessions still open this long after close() are destroyed. */
const CLOSE_CUT_MS = 1_000;

export interface ControlServer {
  server: http2.Http2Server;
  close(): Promise<void>;
}

export function createControlServer(deps: ControlDeps, controlToken: string | undefined): ControlServer {
  const sessions = new Set<http2.Http2Session>();
  const server = http2.createServer(
    {
      // Bounds per client: concurrent streams, header size, session memory.
      settings: { maxConcurrentStreams: 64, maxHeaderListSize: 16 * 1024 },
      maxSessionMemory: 16,
    },
    connectNodeAdapter({
      routes: controlRoutes(deps),
      readMaxBytes: CONTROL_READ_MAX_BYTES,
      // The token is checked first; daemon errors are mapped to RPC codes here, once.
      interceptors: controlToken ? [requireToken(controlToken), mapDaemonErrors] : [mapDaemonErrors],
    }),
  );
  server.on("session", (s) => {
    s.setTimeout(SESSION_IDLE_MS, () => s.close());
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  return {
    server,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      const cut = setTimeout(() => {
        for (const s of sessions) s.destroy();
      }, CLOSE_CUT_MS);
      await closed;
      clearTimeout(cut);
    },
  };
}

/** Every control RPC must carry the bearer token; compared in constant time. */
function requireToken(token: string): Interceptor {
  return (next) => async (req) => {
    if (!bearerMatches(req.header.get("authorization"), token)) {
      throw new ConnectError("missing or wrong control token: set PLUGPROM_TOKEN or --token-file", Code.Unauthenticated);
    }
    return next(req);
  };
}
