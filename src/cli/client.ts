// The control-API client the CLI commands use: gRPC over HTTP/2 (connect-node) to a TCP or
// Unix-socket address, and the one place that tells "daemon unreachable" apart from an
// error the daemon returned.
import { connect as netConnect } from "node:net";
import { createClient, ConnectError, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ControlService } from "../shared/gen/plugprom/v1/control_pb.js";
import { parseAddress } from "../shared/address.js";

export type ControlClient = Client<typeof ControlService>;

export function createControlClient(addr: string, token?: string): ControlClient {
  const parsed = parseAddress(addr);
  const interceptors: Interceptor[] = token
    ? [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ]
    : [];
  const transport =
    parsed.kind === "unix"
      ? createGrpcTransport({
          baseUrl: "http://localhost",
          nodeOptions: { createConnection: () => netConnect({ path: parsed.path }) },
          interceptors,
        })
      : createGrpcTransport({ baseUrl: `http://${addr}`, interceptors });
  return createClient(ControlService, transport);
}

/** Errors from the socket layer: nothing answered at the address. */
const TRANSPORT_ERRORS = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "EACCES",
  "EPERM",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNRESET",
  "EPIPE",
  "ENOTSOCK",
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_INVALID_SESSION",
]);

/** The socket error code when `err` means the daemon could not be reached at all. */
export function unreachableReason(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TRANSPORT_ERRORS.has(code)) return describeSocketError(code);
  }
  // connect-node reports a peer that speaks no HTTP/2 (e.g. an HTTP/1 server) this way.
  if (err instanceof ConnectError && /protocol error|http\/2|ERR_HTTP2/i.test(err.rawMessage) && err.metadata.get("content-type") === null) {
    return "not a plugprom control API";
  }
  return undefined;
}

function describeSocketError(code: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOENT":
      return "no such socket";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    default:
      return code;
  }
}
