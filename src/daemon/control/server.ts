// The control API's server: the Connect, gRPC and gRPC-Web protocols over HTTP/2 and
// HTTP/1.1 on one port or socket (listener.ts), bounded per client, with the bearer token
// required on every RPC when the daemon has one. Closing it ends idle connections at once and
// cuts streams (`logs -f`) that do not end within a moment.
import type { Server as NetServer } from "node:net";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { bearerMatches } from "../../shared/token.js";
import { mapDaemonErrors } from "./errors.js";
import { createControlListener } from "./listener.js";
import { controlRoutes, type ControlDeps } from "./service.js";

/** Limits on what one control request may carry; Start requests are small. */
const CONTROL_READ_MAX_BYTES = 1024 * 1024;
/** Connections still open this long after close() are cut. */
const CLOSE_CUT_MS = 1_000;

export interface ControlServer {
  server: NetServer;
  close(): Promise<void>;
}

export function createControlServer(deps: ControlDeps, controlToken: string | undefined): ControlServer {
  // One handler for both protocols: routes, limits and the token check are the same on every path.
  const listener = createControlListener(
    connectNodeAdapter({
      routes: controlRoutes(deps),
      readMaxBytes: CONTROL_READ_MAX_BYTES,
      // The token is checked first; daemon errors are mapped to RPC codes here, once.
      interceptors: controlToken ? [requireToken(controlToken), mapDaemonErrors] : [mapDaemonErrors],
    }),
  );
  return { server: listener.server, close: () => listener.close(CLOSE_CUT_MS) };
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
